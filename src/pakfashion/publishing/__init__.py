"""Publishing the dataset and the trained run to the Hugging Face Hub (``python -m pakfashion.publish``)."""
