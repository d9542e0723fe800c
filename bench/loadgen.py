"""Closed-loop HTTP load on loopback: N keep-alive connections each sending the same POST back to back.

Two engines with one result shape (`run_load`):
- `wrk` (Debian package `wrk`) when it is on PATH: C, epoll, a Lua `done` hook prints the
  summary and latency percentiles as JSON;
- `python`: a raw HTTP/1.1 keep-alive client over `asyncio.open_connection` (standard
  library only), for machines without wrk. It costs more client CPU than wrk, so on a
  2-core machine its absolute numbers are lower; ratios measured with the same engine
  in the same run stay comparable.

    python bench/loadgen.py URL BODY_FILE [-c 8] [-d 15] [--engine auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(content_type)s"
wrk.body = [==[%(body)s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass
class LoadResult:
    engine: str
    concurrency: int
    seconds: float
    requests: int  # completed responses (any status)
    ok: int  # 2xx responses
    errors: int  # non-2xx responses + socket errors + timeouts
    error_detail: dict[str, int]
    rps: float  # 2xx responses per second
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_version() -> str | None:
    if not wrk_available():
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    first = (out.stdout or out.stderr).split("\n", 1)[0]
    return first.split(" Copyright", 1)[0].strip() or "wrk"


def choose_engine(engine: str) -> str:
    if engine == "auto":
        return "wrk" if wrk_available() else "python"
    if engine == "wrk" and not wrk_available():
        raise RuntimeError("wrk is not installed (apt-get install wrk), use --loadgen python")
    return engine


def run_load(
    url: str,
    body: bytes,
    concurrency: int,
    seconds: float,
    engine: str = "auto",
    content_type: str = "application/json",
) -> LoadResult:
    engine = choose_engine(engine)
    if engine == "wrk":
        return _run_wrk(url, body, concurrency, seconds, content_type)
    return asyncio.run(_run_python(url, body, concurrency, seconds, content_type))


# ---------------------------------------------------------------------------- wrk
def _run_wrk(url: str, body: bytes, concurrency: int, seconds: float, content_type: str) -> LoadResult:
    text = body.decode()
    if "]==]" in text:
        raise ValueError("body cannot be embedded in the wrk script")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % {"content_type": content_type, "body": text})
        script = fh.name
    threads = max(1, min(concurrency, 2))
    try:
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s",
             "--timeout", "10s", "-s", script, url],
            capture_output=True, text=True, timeout=seconds + 60,
        )  # fmt: skip
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    s = json.loads(line[len("BENCH_JSON ") :])
    detail = {k: s[k] for k in ("connect", "read", "write", "status", "timeout") if s[k]}
    duration = s["duration_us"] / 1e6
    ok = s["requests"] - s["status"]
    return LoadResult(
        engine="wrk",
        concurrency=concurrency,
        seconds=round(duration, 3),
        requests=s["requests"],
        ok=ok,
        errors=sum(detail.values()),
        error_detail=detail,
        rps=round(ok / duration, 1) if duration else 0.0,
        p50_ms=s["p50_us"] / 1000,
        p90_ms=s["p90_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
        max_ms=s["max_us"] / 1000,
        mean_ms=round(s["mean_us"] / 1000, 3),
    )


# ---------------------------------------------------------------------------- asyncio client
class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.requests = 0
        self.ok = 0
        self.detail: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.detail[kind] = self.detail.get(kind, 0) + 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, connection closed by the server)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("connection closed before the response")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked, close = 0, False, status_line.startswith(b"HTTP/1.0")
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def _connection(host: str, port: int, request: bytes, deadline: float, stats: _Stats) -> None:
    reader = writer = None
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            async with asyncio.timeout(10):
                writer.write(request)
                status, close = await _read_response(reader)
        except TimeoutError:
            stats.error("timeout")
            close, status = True, 0
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats.error("read" if writer is not None else "connect")
            close, status = True, 0
            if writer is None:
                await asyncio.sleep(0.05)
        else:
            stats.requests += 1
            stats.latencies.append(time.perf_counter() - started)
            if 200 <= status < 300:
                stats.ok += 1
            else:
                stats.error("status")
        if close and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run_python(url: str, body: bytes, concurrency: int, seconds: float, content_type: str) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    stats = _Stats()
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = loop.time() + seconds
    await asyncio.gather(*(_connection(host, port, request, deadline, stats) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = sorted(stats.latencies)

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000, 3) if lat else None

    return LoadResult(
        engine="python",
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        requests=stats.requests,
        ok=stats.ok,
        errors=sum(stats.detail.values()),
        error_detail=dict(stats.detail),
        rps=round(stats.ok / elapsed, 1) if elapsed else 0.0,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=round(lat[-1] * 1000, 3) if lat else None,
        mean_ms=round(sum(lat) / len(lat) * 1000, 3) if lat else None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("body", type=Path, help="file holding the request body")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("-d", "--seconds", type=float, default=15)
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    result = run_load(args.url, args.body.read_bytes(), args.concurrency, args.seconds, args.engine, args.content_type)
    sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
