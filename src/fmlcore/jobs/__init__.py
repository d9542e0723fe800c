"""Jobs: the message, the status record and its lifecycle, the lease, the queue worker loop, dead letters, redrive.

Lambda-safe (stdlib + boto3): the enqueue and dead-letter functions use the message and the lifecycle.
"""
