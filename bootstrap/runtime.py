"""rshiv cold path (placeholder)."""
