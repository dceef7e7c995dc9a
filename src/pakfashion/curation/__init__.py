"""The curate stage's checks: image quality, content, safety, image-text agreement (entry: pakfashion.curate)."""
