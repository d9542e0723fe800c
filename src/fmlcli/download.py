"""Downloading a job's output object: one version, streamed whole, written whole or not at all.

One streamed GET rather than boto3's `download_file`: that one splits big objects into parallel
ranged GETs, and the local emulator ignores `Range` on a GET that names a `VersionId` (it sends
the whole object for every range, so the file comes out several times too long). One GET of
the exact version the status record names is right on both; a body cut short raises botocore's
IncompleteReadError (it checks the Content-Length) before the file takes its name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from fmlcli.errors import CliError
from fmlcore.core.errors import InvalidInput
from fmlcore.core.layout import parse_s3_uri

CHUNK = 1 << 20


def download(s3: Any, uri: str, version: str | None, dest: Path) -> Path:
    """Object `uri` (that version when given) into `dest`; returns `dest`."""
    try:
        bucket, key = parse_s3_uri(uri)
    except InvalidInput as exc:
        raise CliError(f"the job's record names an output that is not an S3 URI: {exc.message}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    resp = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in resp["Body"].iter_chunks(CHUNK):
                fh.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the partial file, not the result
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
