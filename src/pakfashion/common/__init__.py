"""Small helpers every stage shares: atomic files and JSON Lines, W&B runs."""
