"""A minimal FastAPI service."""
