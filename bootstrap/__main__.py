"""rshiv warm path (placeholder)."""
_BAKED = None  # rshiv:baked
