"""The HTTP API: one route."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root():
    """Answer the root path with a greeting."""
    return {"Hello": "World"}
