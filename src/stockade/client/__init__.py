"""The Python client of the API daemon."""
