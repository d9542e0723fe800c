"""Start, stop and probe the local AWS emulator (MiniStack) for `make localstack-*`.

    python scripts/emulator.py up        start MiniStack in the background unless the endpoint is healthy
    python scripts/emulator.py down      stop the MiniStack this project started (by its pid file)
    python scripts/emulator.py status    exit 0 when the endpoint answers its health check

The MiniStack started here enforces what AWS enforces: IAM (AUTH=true: identity and bucket
policies, AssumeRole sessions, signatures) over HTTPS (USE_SSL=1) with a certificate written
to <state>/tls/, whose CA bundle every client verifies against. `up` writes
<state>/emulator.env: the endpoint (AWS_ENDPOINT_URL) and its scheme (USE_SSL), the region,
the CA bundle (AWS_CA_BUNDLE, CURL_CA_BUNDLE) and the local operator's credentials (the
emulator's account root, used by Terraform, to assume roles, and by a person's `aws` CLI).

The endpoint comes from fmlcore.core.aws.local_endpoint (AWS_ENDPOINT_URL, else LOCALSTACK_HOST,
else 127.0.0.1:4566), so a user's own emulator (LocalStack with its token, or MiniStack
elsewhere) is used as it is and never started or stopped by us: without enforcement or TLS it
still works, with a warning that says what is not enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from fmlcore.core.aws import local_endpoint
from fmlcore.core.logs import configure_logging
from fmldev.procs import running  # the one pid-file check

log = logging.getLogger("fml.emulator")
HEALTH_PATHS = ("/_ministack/health", "/_localstack/health")
# The emulator's account root: what Terraform administers the stack with and what local
# processes assume their roles with (MiniStack's root key; it checks no signature for it).
OPERATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def healthy(endpoint: str, ca_bundle: Path | None = None, timeout: float = 2.0) -> dict | None:
    """The emulator's health document, or None when nothing healthy answers (TLS verified against ca_bundle)."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle and ca_bundle.exists() else None)
    for path in HEALTH_PATHS:
        try:
            with urllib.request.urlopen(endpoint.rstrip("/") + path, timeout=timeout, context=context) as resp:
                if resp.status == 200:
                    return json.loads(resp.read() or b"{}")
        except (OSError, ValueError):
            continue
    return None


def tls_material(state: Path) -> tuple[Path, Path, Path]:
    """(certificate, key, CA bundle) the emulator serves and clients trust; made once per state folder.

    MINISTACK_SSL_CERT/MINISTACK_SSL_KEY name your own pair (e.g. from mkcert) instead.
    """
    folder = state / "tls"
    bundle = folder / "ca-bundle.pem"
    given = os.environ.get("MINISTACK_SSL_CERT"), os.environ.get("MINISTACK_SSL_KEY")
    if all(given):
        cert, key = Path(given[0]), Path(given[1])
    else:
        cert, key = folder / "server.crt", folder / "server.key"
        if not (cert.exists() and key.exists()):
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                 "-days", "825", "-subj", "/CN=fargate-ml local emulator",
                 "-addext", "basicConstraints=critical,CA:FALSE",
                 "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
                 "-addext", "extendedKeyUsage=serverAuth",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            key.chmod(0o600)
    # The self-signed certificate is its own trust anchor: the bundle holds it alone, so the
    # local clients trust the emulator and nothing else.
    if not bundle.exists() or bundle.read_bytes() != cert.read_bytes():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cert, bundle)
    return cert, key, bundle


def with_scheme(endpoint: str, scheme: str) -> str:
    return urlunparse(urlparse(endpoint)._replace(scheme=scheme))


def write_env(state: Path, endpoint: str, use_ssl: bool, bundle: Path | None, auth: str) -> None:
    """<state>/emulator.env: what every local process, Terraform, and a person's `aws` and `curl`
    need to reach the emulator: its URL (the standard AWS_ENDPOINT_URL every SDK and the CLI
    read), the region, the operator's credentials and, over TLS, the CA bundle to verify it."""
    lines = {
        "USE_SSL": "1" if use_ssl else "0",
        "FML_EMULATOR_AUTH": auth,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        **OPERATOR_CREDENTIALS,
    }
    if use_ssl and bundle is not None:
        lines["AWS_CA_BUNDLE"] = lines["CURL_CA_BUNDLE"] = str(bundle.resolve())
    (state / "emulator.env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))


def warn_unenforced(health: dict, use_ssl: bool, endpoint: str) -> None:
    """Say what a running emulator does not enforce of what AWS would."""
    missing = []
    if health.get("auth") != "enabled":
        missing.append("IAM (identity and bucket policies, AssumeRole sessions, signatures: AUTH=true)")
    if not use_ssl:
        missing.append("TLS (the buckets' aws:SecureTransport rule: USE_SSL=1)")
    if missing:
        log.warning(
            "the emulator at %s does not enforce %s: the local stack then proves less about the cloud one; "
            "stop it and run `make localstack-up` to start an enforcing one",
            endpoint,
            " nor ".join(missing),
            extra={"endpoint": endpoint, "not_enforced": missing},
        )


def up(state: Path, endpoint: str, wait_seconds: float) -> int:
    state.mkdir(parents=True, exist_ok=True)
    use_ssl = urlparse(endpoint).scheme == "https"
    cert, key, bundle = tls_material(state) if use_ssl else (None, None, None)
    health = healthy(endpoint, bundle)
    if health is None and use_ssl and (plain := healthy(with_scheme(endpoint, "http"))) is not None:
        # Someone else's emulator, serving plain HTTP: use it as it is.
        health, use_ssl, endpoint = plain, False, with_scheme(endpoint, "http")
    if health is not None:
        log.info("emulator already up", extra={"endpoint": endpoint, "auth": health.get("auth")})
        warn_unenforced(health, use_ssl, endpoint)
        write_env(state, endpoint, use_ssl, bundle, str(health.get("auth", "unknown")))
        return 0
    url = urlparse(endpoint)
    if url.hostname not in ("127.0.0.1", "localhost"):
        log.error("emulator at %s is not answering; start it yourself (only a local one is started here)", endpoint)
        return 1
    log_path = state / "ministack.log"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(
        OPERATOR_CREDENTIALS,
        GATEWAY_PORT=str(url.port or 4566),
        BIND_HOST="127.0.0.1",
        LAMBDA_EXECUTOR="local",
        MINISTACK_REGION=os.environ.get("AWS_REGION", "us-east-1"),
        S3_PERSIST="0",
        AUTH="true",
        USE_SSL="1" if use_ssl else "0",
    )
    if use_ssl:
        # The Lambda handlers inherit these: they reach the endpoint over TLS and verify it.
        env.update(MINISTACK_SSL_CERT=str(cert.resolve()), MINISTACK_SSL_KEY=str(key.resolve()),
                   AWS_CA_BUNDLE=str(bundle.resolve()))  # fmt: skip
    # The emulator's own Lambda executor spawns handlers with this interpreter, so the
    # project's venv (boto3, localstack-client) is what the handlers import.
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ministack"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    (state / "ministack.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.error("MiniStack exited with %s; see %s", proc.returncode, log_path)
            return 1
        if (health := healthy(endpoint, bundle, timeout=1.0)) is not None:
            log.info("MiniStack up", extra={"endpoint": endpoint, "pid": proc.pid, "log": str(log_path),
                                            "auth": health.get("auth"), "tls": use_ssl})  # fmt: skip
            write_env(state, endpoint, use_ssl, bundle, str(health.get("auth")))
            return 0
        time.sleep(0.2)
    log.error("MiniStack did not become healthy within %.0f s; see %s", wait_seconds, log_path)
    return 1


def down(state: Path, stop_timeout: float = 10.0) -> int:
    pid_file = state / "ministack.pid"
    pid = running(pid_file)
    if pid is None:
        log.info("no MiniStack started by this project is running")
    else:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout
        while time.monotonic() < deadline and running(pid_file) is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if running(pid_file) is not None:
            os.killpg(pid, signal.SIGKILL)
        log.info("MiniStack stopped", extra={"pid": pid})
    pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state", type=Path, default=Path(".state"), help="folder for pid and log files")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for health on start")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    endpoint = local_endpoint()
    if args.command == "up":
        return up(args.state, endpoint, args.wait)
    if args.command == "down":
        return down(args.state)
    bundle = args.state / "tls" / "ca-bundle.pem"
    health = healthy(endpoint, bundle) or healthy(with_scheme(endpoint, "http"))
    if health is None:
        log.info("emulator down", extra={"endpoint": endpoint})
        return 1
    running = sorted(k for k, v in (health.get("services") or {}).items() if v in ("running", "available"))
    log.info("emulator up", extra={"endpoint": endpoint, "services": len(running), "auth": health.get("auth")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
