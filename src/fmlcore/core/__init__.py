"""The base layer: settings, the error tree, JSON logs, the bucket layout, AWS clients (stdlib + boto3 only)."""
