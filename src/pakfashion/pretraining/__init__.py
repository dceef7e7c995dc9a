"""Pretraining the tiny models offline on a world drawn by the demo renderer (images and captions)."""
