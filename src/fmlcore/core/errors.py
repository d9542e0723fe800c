"""The error hierarchy of fargate-ml, and the one place errors map to HTTP codes.

    FmlError                      base; 500
    ├── InvalidInput              the request or the file is wrong; 400
    │   ├── UnsupportedMediaType  a body or file type we do not read; 415
    │   └── PayloadTooLarge       over a configured size limit; 413
    ├── NotFound                  no such model, version, job or prediction; 404
    ├── Conflict                  the request clashes with current state; 409
    ├── ConfigError               a missing or bad setting; 500
    ├── PermissionDenied          the process's role may not make an AWS call it needs; 500
    ├── DeadlineExceeded          a job ran past its time limit; 504
    └── TransientError            AWS throttled or unreachable; retrying may succeed; 503

In workers, InvalidInput/NotFound/ConfigError are *permanent* (fail the job, delete the
message); TransientError is retried through SQS redelivery.
"""

from __future__ import annotations

from typing import Any


class FmlError(Exception):
    """Base of every error fargate-ml raises on purpose."""

    http_status = 500
    permanent = True

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body shared by the APIs and the job status records."""
        return {"type": self.type, "message": self.message, "details": self.details}


class InvalidInput(FmlError):
    """The request, the job options or the data file is wrong."""

    http_status = 400


class UnsupportedMediaType(InvalidInput):
    """A body content type or file extension that is not read."""

    http_status = 415


class PayloadTooLarge(InvalidInput):
    """A body or dataset over a configured size limit."""

    http_status = 413


class NotFound(FmlError):
    """No such model, version, job or prediction."""

    http_status = 404


class Conflict(FmlError):
    """The request clashes with the current state."""

    http_status = 409


class ConfigError(FmlError):
    """A missing or malformed setting."""

    http_status = 500


class PermissionDenied(FmlError):
    """IAM or a bucket policy refused a call the service needs: its role is missing a permission.

    The platform's fault, not the caller's (hence 500, not 403), and permanent: a job that
    meets it fails at once instead of retrying into the dead-letter queue.
    """

    http_status = 500

    @classmethod
    def from_client_error(cls, exc: Exception) -> PermissionDenied:
        response = getattr(exc, "response", None) or {}
        error = response.get("Error", {})
        operation = getattr(exc, "operation_name", "?")
        return cls(
            f"access denied to {operation}: the service's role lacks a permission ({error.get('Code', '403')})",
            {"operation": operation, "code": error.get("Code"), "aws_message": str(error.get("Message", ""))[:300]},
        )


class DeadlineExceeded(FmlError):
    """A job ran past its time limit (FML_JOB_TIMEOUT_SECONDS): permanent, retrying would too."""

    http_status = 504


class TransientError(FmlError):
    """AWS throttled us or could not be reached; the same call may succeed later."""

    http_status = 503
    permanent = False


def http_status_for(exc: BaseException) -> int:
    """The HTTP status code for any exception: ours by class, anything else 500."""
    return exc.http_status if isinstance(exc, FmlError) else 500
