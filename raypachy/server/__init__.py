"""The HTTP API (pachd's role): a FastAPI app over the PFS operations."""
