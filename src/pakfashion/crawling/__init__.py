"""Site adapters: each turns a retailer's catalog into normalised :class:`ProductRecord` rows."""
