"""HTTP plumbing both APIs share: Flask error handling and request ids, Prometheus metrics, OpenAPI builders, gunicorn settings."""
