"""pakfashion: a DVC pipeline from Pakistani retail catalogs to a fine-tuned Stable Diffusion model."""

__version__ = "0.1.0"
