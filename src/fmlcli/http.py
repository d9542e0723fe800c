"""JSON over HTTP to the trainer and predictor APIs, SigV4-signed on AWS, errors made readable.

Why the standard library and not `requests`/awscurl: the CLI must run from the project's runtime
set (boto3/botocore), and botocore already holds the one SigV4 implementation the platform
trusts. On AWS every route sits behind an IAM-authorised API Gateway, so each request is signed
for service `execute-api` with the caller's credentials (session token included); the body's
SHA-256 is part of the canonical request, so a body changed on the way fails the signature.

Errors: the services answer `{"error": {"type", "message", "details"}}` (fmlcore.web.http); API
Gateway answers its own refusals as `{"message": "..."}`. Either becomes an `ApiError` carrying
the status and the server's message, so the user reads the server's reason, not a traceback.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from fmlcli.errors import CliError

# headers -> the headers to send (signed): `sign(method, url, headers, body)`.
Signer = Callable[[str, str, Mapping[str, str], bytes], dict[str, str]]

DEFAULT_TIMEOUT = 30.0
USER_AGENT = "fml-cli"


class ApiError(CliError):
    """An API answered 4xx/5xx: its status, the server's error type and message."""

    def __init__(self, status: int, error_type: str, message: str, service: str, details: Any = None) -> None:
        super().__init__(f"{message} ({service} API: HTTP {status} {error_type})")
        self.status = status
        self.error_type = error_type
        self.server_message = message
        self.details = details or {}

    @property
    def transient(self) -> bool:
        """Whether asking again later may succeed (throttling, a service restarting)."""
        return self.status in (429, 502, 503, 504)


class Unreachable(CliError):
    """No HTTP answer at all: nothing listens there, DNS, TLS or a timeout."""


def sigv4_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Any,
    region: str,
    service: str = "execute-api",
) -> dict[str, str]:
    """`headers` plus the SigV4 ones (X-Amz-Date, X-Amz-Security-Token, Authorization) for this request.

    `credentials` has `access_key`, `secret_key`, `token` (botocore's frozen credentials). The
    payload hash in the canonical request is the SHA-256 of `body` (of b"" without one).
    """
    request = AWSRequest(method=method.upper(), url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def session_signer(session: Any, region: str, service: str = "execute-api") -> Signer:
    """A signer using `session`'s current credentials at each call (refreshed ones included)."""

    def sign(method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        creds = session.get_credentials()
        if creds is None:
            raise CliError("no AWS credentials found: pass --profile, or set AWS_PROFILE / AWS_ACCESS_KEY_ID")
        return sigv4_headers(method, url, headers, body, creds.get_frozen_credentials(), region, service)

    return sign


def error_from_body(status: int, raw: bytes, service: str) -> ApiError:
    """The ApiError of an error answer: the services' JSON error, API Gateway's, or the text itself."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        return ApiError(
            status, str(err.get("type") or "Error"), str(err.get("message") or f"HTTP {status}"), service,
            err.get("details"),
        )  # fmt: skip
    if isinstance(data, dict) and isinstance(data.get("message"), str):  # API Gateway's own refusals
        return ApiError(status, "Gateway", data["message"], service)
    text = raw.decode("utf-8", errors="replace").strip().splitlines()
    return ApiError(status, "HTTP", (text[0][:300] if text else "") or f"HTTP {status}", service)


def segment(value: str) -> str:
    """One path segment, percent-encoded (a version id may hold `+` or `=`)."""
    return quote(value, safe="")


class Api:
    """One API's base URL; `call` sends JSON and returns the answer's JSON."""

    def __init__(
        self, service: str, base_url: str, sign: Signer | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.sign = sign
        self.timeout = timeout

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        # %20, not +, for spaces: SigV4 signs the query string as sent.
        return self.base_url + path + (f"?{urlencode(q, quote_via=quote)}" if q else "")

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.call("GET", path, query)

    def post(self, path: str, payload: Any = None) -> Any:
        return self.call("POST", path, payload=payload)

    def call(self, method: str, path: str, query: Mapping[str, Any] | None = None, payload: Any = None) -> Any:
        url = self.url(path, query)
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.sign is not None:
            headers = self.sign(method, url, headers, body)
        request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            finally:
                exc.close()
            raise error_from_body(exc.code, raw, self.service) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(f"cannot reach the {self.service} API at {self.base_url}: {reason}") from None
        try:
            return json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            raise CliError(
                f"the {self.service} API at {self.base_url} answered {path} with something not JSON"
            ) from None
