"""Model helpers: tiny random-weight builders and loading by name for caption, train and evaluate."""
