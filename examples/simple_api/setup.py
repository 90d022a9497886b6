#!/usr/bin/env python
"""The seed tutorial's FastAPI service, packaged so rshiv can build it into one file."""

from setuptools import find_packages, setup

setup(
    name="simple_api",
    version="1.0",
    description="A Simple API",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.8",
    install_requires=["fastapi", "uvicorn"],
    entry_points={"console_scripts": ["simple_api=simple_api.__main__:main"]},
)
