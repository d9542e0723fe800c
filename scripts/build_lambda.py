"""Build the Lambda zip: src/lambdas and the Lambda-safe layers of fmlcore (core, jobs), byte-for-byte reproducible.

The zip holds only what the functions may import (stdlib + boto3 layers); an import of
fmlcore.ml or fmlcore.web from a function fails at once instead of pulling pandas into a
Lambda (tests/unit/test_layers.py guards the same rule statically).

Fixed timestamps and sorted entries make the zip's hash depend only on the code, so
Terraform's source_code_hash changes only when the code does.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGES = ("lambdas", "fmlcore/core", "fmlcore/jobs")
FILES = ("fmlcore/__init__.py",)
EPOCH = (1980, 1, 1, 0, 0, 0)


def build(src: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        paths = [src / f for f in FILES] + [p for package in PACKAGES for p in sorted((src / package).rglob("*.py"))]
        for path in paths:
            info = zipfile.ZipInfo(str(path.relative_to(src)), date_time=EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
