"""The product table: exclusion evidence (children, non-clothing) and the csv stage's tables and metrics."""
