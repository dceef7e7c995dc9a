"""Evaluation: CLIP score, FID/KID on Inception features, sample grids and the report."""
