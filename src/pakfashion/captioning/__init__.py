"""Captions (BLIP-2 and the product metadata) and the Hugging Face imagefolder dataset with its card."""
