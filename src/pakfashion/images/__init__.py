"""Image download, normalisation, de-duplication and the download ledger."""
