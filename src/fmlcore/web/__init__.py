"""HTTP plumbing both APIs share: Flask error handling and request ids, OpenAPI builders, gunicorn settings."""
