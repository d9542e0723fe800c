"""How many rows a file to score holds, counted locally before it is uploaded.

The status record says how many rows are done (`progress.rows_done`) but not how many there
are, so the progress bar's total comes from the file itself, counted the way the batch worker
counts (fmlcore.ml.readers): CSV every physical line after the header (a blank line in the
middle is a row, reported as an error; the newline that ends the last line makes no row),
JSON lines every non-blank line, Parquet the footer's row count. Files are read in blocks, so
counting a file of many GB needs no memory.
"""

from __future__ import annotations

from pathlib import Path

from fmlcli.errors import CliError

BLOCK = 1 << 20


def count_csv_rows(path: Path) -> int:
    """Physical lines after the header line (0 for an empty file or a header alone)."""
    lines = 0
    last = b""
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            lines += block.count(b"\n")
            last = block
    if last and not last.endswith(b"\n"):
        lines += 1  # a last line without its newline
    return max(lines - 1, 0)


def count_jsonl_rows(path: Path) -> int:
    """Lines holding anything but white space."""
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def count_parquet_rows(path: Path) -> int | None:
    """The row count in the footer; None when pyarrow is not installed (the bar then has no total)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise CliError(f"{path} is not a readable Parquet file: {exc}") from None


def count_rows(path: Path) -> int | None:
    """The file's rows by its extension; None for a format this cannot count."""
    name = path.name.lower()
    if name.endswith(".csv"):
        return count_csv_rows(path)
    if name.endswith(".jsonl"):
        return count_jsonl_rows(path)
    if name.endswith(".parquet"):
        return count_parquet_rows(path)
    return None
