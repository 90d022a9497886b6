"""Serve the API with uvicorn; HOST and PORT choose where (default 127.0.0.1:8000)."""

import os

import uvicorn

from simple_api.api import app


def main():
    """Run the server until interrupted."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    uvicorn.run(app, host=host, port=port)


if __name__ == "__main__":
    main()
