"""Pretraining the tiny models offline on a world drawn by the demo renderer (images and captions)."""

BUILD_FILE = "build.json"
"""What ``python -m pakfashion.pretraining`` measured per model, beside the models it built."""
