"""Reading tables (CSV, Parquet, JSON lines) into pandas, with errors that name the problem.

Imported only by the trainer and the predictor (pandas/pyarrow are not in the Lambda).
"""

from __future__ import annotations

import io
from typing import IO

import pandas as pd

from fmlcore.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from fmlcore.core.layout import DATA_EXTENSIONS

# HTTP content types accepted as tables, by the extension they correspond to.
CONTENT_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/x-jsonlines": ".jsonl",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}


def extension_for_content_type(content_type: str | None) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    if base not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"unsupported content type {base or '(none)'!r}",
            {"content_type": base, "supported": sorted(CONTENT_TYPES)},
        )
    return CONTENT_TYPES[base]


def read_table(source: bytes | IO[bytes], ext: str) -> pd.DataFrame:
    """A whole table from bytes or a binary file; an empty or unreadable one is InvalidInput."""
    if ext not in DATA_EXTENSIONS:
        raise UnsupportedMediaType(f"unsupported file type {ext!r}", {"supported": list(DATA_EXTENSIONS)})
    fh = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        if ext == ".csv":
            frame = pd.read_csv(fh, skipinitialspace=True)
        elif ext == ".parquet":
            frame = pd.read_parquet(fh)
        else:
            frame = pd.read_json(fh, lines=True, dtype=False)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput("the file is empty", {"format": ext}) from exc
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the {ext[1:]} data: {_first_line(exc)}", {"format": ext}) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise InvalidInput(f"cannot read the parquet data: {_first_line(exc)}", {"format": ext}) from exc
        raise
    if frame.empty:
        raise InvalidInput("the file has no data rows", {"format": ext, "columns": list(frame.columns)[:20]})
    return frame


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def check_column_count(count: int, limit: int, what: str = "columns") -> None:
    """InvalidInput when an input has more than `limit` columns (FML_MAX_COLUMNS)."""
    if count > limit:
        raise InvalidInput(
            f"the file has {count} {what}; the limit is {limit} (FML_MAX_COLUMNS)", {"columns": count, "limit": limit}
        )


def check_file_size(size: int, limit: int) -> None:
    """PayloadTooLarge when a file read whole is over `limit` bytes (FML_MAX_DATASET_BYTES)."""
    if size > limit:
        raise PayloadTooLarge(
            f"the file is {size} bytes; the limit is {limit} (FML_MAX_DATASET_BYTES)", {"bytes": size, "limit": limit}
        )
