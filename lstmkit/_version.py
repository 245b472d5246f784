"""The version of lstmkit: a leaf module, so that saving.py can write it without importing the package."""

__version__ = "0.1.0"
