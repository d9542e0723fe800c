"""fmlcli.http: SigV4 signing (AWS's own test vector), JSON calls, and how error answers read."""

from __future__ import annotations

import datetime
import hashlib
import socket

import botocore.auth
import pytest
from botocore.credentials import ReadOnlyCredentials

from fmlcli.errors import CliError
from fmlcli.http import Api, ApiError, Unreachable, error_from_body, sigv4_headers

EXAMPLE = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
VANILLA_SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


@pytest.fixture
def frozen(monkeypatch):
    """Time stands at the test suite's 20150830T123600Z while a request is signed."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: datetime.datetime(2015, 8, 30, 12, 36))


def signature_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


def test_get_vanilla_of_the_aws_sigv4_test_suite(frozen):
    headers = sigv4_headers("GET", "https://example.amazonaws.com/", {}, b"", EXAMPLE, "us-east-1", "service")
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={VANILLA_SIGNATURE}"
    )


def test_another_secret_or_time_gives_another_signature(frozen, monkeypatch):
    # Positive control of the vector above: the expected value is not what any signer would print.
    other = ReadOnlyCredentials("AKIDEXAMPLE", "another-secret", None)
    headers = sigv4_headers("GET", "https://example.amazonaws.com/", {}, b"", other, "us-east-1", "service")
    assert signature_of(headers) != VANILLA_SIGNATURE
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: datetime.datetime(2015, 8, 30, 12, 37))
    headers = sigv4_headers("GET", "https://example.amazonaws.com/", {}, b"", EXAMPLE, "us-east-1", "service")
    assert signature_of(headers) != VANILLA_SIGNATURE


def test_the_body_hash_is_signed_and_a_session_token_is_sent(frozen, monkeypatch):
    seen = []
    original = botocore.auth.SigV4Auth.canonical_request
    monkeypatch.setattr(
        botocore.auth.SigV4Auth, "canonical_request", lambda self, r: seen.append(original(self, r)) or seen[-1]
    )
    url = "https://abc.execute-api.us-east-1.amazonaws.com/models/churn/rollback"
    one = sigv4_headers("POST", url, {"Content-Type": "application/json"}, b'{"version":"a"}', EXAMPLE, "us-east-1")
    two = sigv4_headers("POST", url, {"Content-Type": "application/json"}, b'{"version":"b"}', EXAMPLE, "us-east-1")
    assert signature_of(one) != signature_of(two)
    assert seen[0].endswith(hashlib.sha256(b'{"version":"a"}').hexdigest())
    assert "/execute-api/aws4_request" in one["Authorization"]
    assert "X-Amz-Security-Token" not in one
    with_token = ReadOnlyCredentials("ASIAEXAMPLE", "secret", "the-session-token")
    signed = sigv4_headers("GET", url, {}, b"", with_token, "us-east-1")
    assert signed["X-Amz-Security-Token"] == "the-session-token"
    assert "x-amz-security-token" in signed["Authorization"].split("SignedHeaders=")[1]


# ---------------------------------------------------------------------------- calls and errors
def test_a_200_answer_is_its_json(fake_api):
    fake_api.answer("GET", "/models", 200, {"models": [{"model": "churn"}]})
    assert Api("trainer", fake_api.url).get("/models") == {"models": [{"model": "churn"}]}
    assert fake_api.requests[0].headers.get("Content-Type") is None  # no body, no content type


def test_a_4xx_carries_the_servers_error_message(fake_api):
    error = {"error": {"type": "NotFound", "message": "model 'churn' has no version 'x'", "details": {"v": "x"}}}
    fake_api.answer("POST", "/models/churn/rollback", 404, error)
    with pytest.raises(ApiError) as caught:
        Api("trainer", fake_api.url).post("/models/churn/rollback", {"version": "x"})
    exc = caught.value
    assert (exc.status, exc.error_type, exc.server_message) == (404, "NotFound", "model 'churn' has no version 'x'")
    assert exc.message == "model 'churn' has no version 'x' (trainer API: HTTP 404 NotFound)"
    assert exc.exit_code == 1 and not exc.transient
    assert fake_api.requests[0].body == b'{"version": "x"}'
    assert fake_api.requests[0].headers["Content-Type"] == "application/json"


def test_query_parameters_and_none_values(fake_api):
    fake_api.answer("GET", "/models/churn/versions?limit=3", 200, {"versions": []})
    api = Api("trainer", fake_api.url + "/")  # a trailing slash on the base is not doubled
    assert api.get("/models/churn/versions", {"limit": 3}) == {"versions": []}
    assert api.url("/models/churn/versions", {"limit": None}) == fake_api.url + "/models/churn/versions"


@pytest.mark.parametrize(
    ("status", "raw", "kind", "message", "transient"),
    [
        (403, b'{"message":"Forbidden"}', "Gateway", "Forbidden", False),  # API Gateway's own refusal
        (
            503,
            b'{"error": {"type": "TransientError", "message": "retry later"}}',
            "TransientError",
            "retry later",
            True,
        ),
        (502, b"<html>Bad Gateway</html>\n", "HTTP", "<html>Bad Gateway</html>", True),
        (500, b"", "HTTP", "HTTP 500", False),
    ],
)
def test_error_bodies_of_every_shape_read_as_one_line(status, raw, kind, message, transient):
    exc = error_from_body(status, raw, "predictor")
    assert (exc.error_type, exc.server_message, exc.transient) == (kind, message, transient)


def test_nothing_listening_is_unreachable_not_a_traceback():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(Unreachable, match=f"cannot reach the trainer API at http://127.0.0.1:{port}"):
        Api("trainer", f"http://127.0.0.1:{port}", timeout=2).get("/models")


def test_an_answer_that_is_not_json_is_a_cli_error(fake_api):
    fake_api.answer("GET", "/models", 200, b"<html>a proxy's page</html>")
    with pytest.raises(CliError, match="not JSON"):
        Api("trainer", fake_api.url).get("/models")


def test_the_signer_signs_what_is_sent(fake_api):
    """Api.call hands the signer the exact method, URL and body it sends, and sends its headers."""
    calls = []

    def sign(method, url, headers, body):
        calls.append((method, url, body))
        return {**headers, "Authorization": "signed"}

    fake_api.answer("POST", "/models/churn/rollback", 200, {"version": "v"})
    Api("trainer", fake_api.url, sign).post("/models/churn/rollback", {"version": "v"})
    assert calls == [("POST", fake_api.url + "/models/churn/rollback", b'{"version": "v"}')]
    assert fake_api.requests[0].headers["Authorization"] == "signed"
