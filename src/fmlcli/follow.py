"""Following a job's status record until it ends, and showing its progress on stderr.

The record is read through the API (`GET /training-jobs/<id>`, `GET /prediction-jobs/<id>`)
every `interval` seconds. Right after an upload the record does not exist yet (the enqueue
Lambda writes `queued` a moment later), so a 404 first means "not accepted yet" for a while. A
blip of the API once the job was seen (a 503, a service restarting) is waited out for
`retry_grace` seconds instead of abandoning a job that is fine.

Two displays, one for each kind of stderr:
- a terminal: a rich live bar (state, rows done / total, percentage, rate, elapsed);
- anything else (a pipe, a CI log): one plain line each time the state or the progress changes,
  so a captured log still shows how the job went, without a line per poll.
Results (the summary, where the output went) go to stdout, so they can be piped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from fmlcli.errors import CliError
from fmlcli.http import ApiError, Unreachable
from fmlcore.jobs.status import DEAD_LETTERED, FAILED, FINAL_STATES, RUNNING, SUCCEEDED

SUBMITTED = "submitted"  # shown until the enqueue Lambda has written the `queued` record
FAILED_STATES = (FAILED, DEAD_LETTERED)


def short_id(job_id: str) -> str:
    """`predict-ab12…`: enough of the id to tell jobs apart on one screen, short enough that the
    whole bar fits an 80-column terminal (the full id is printed on stdout before)."""
    kind, sep, digest = job_id.partition("-")
    return f"{kind}-{digest[:4]}…" if sep and len(digest) > 4 else job_id


@dataclass(frozen=True)
class View:
    """What a display shows of the job at one moment."""

    job_id: str
    state: str
    rows_done: int = 0
    rows_total: int | None = None
    parts: tuple[int, int] | None = None  # (done, total) of a file split across workers
    elapsed: float = 0.0
    rate: float | None = None  # rows a second since the job was first seen running
    note: str = ""

    @classmethod
    def of(
        cls,
        job_id: str,
        record: dict[str, Any] | None,
        rows_total: int | None,
        elapsed: float,
        rate: float | None = None,
        note: str = "",
    ) -> View:
        if record is None:
            return cls(job_id, SUBMITTED, 0, rows_total, None, elapsed, None, note)
        progress = record.get("progress") or {}
        parts = record.get("parts") or None
        return cls(
            job_id,
            str(record.get("state", "?")),
            int(progress.get("rows_done") or 0),
            rows_total,
            (int(parts.get("done", 0)), int(parts.get("total", 0))) if isinstance(parts, dict) else None,
            elapsed,
            rate,
            note,
        )

    @property
    def changes(self) -> tuple:
        """What makes a new plain line: the state, the rows, the parts, a note (not the clock)."""
        return (self.state, self.rows_done, self.parts, self.note)

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return None if self.rows_total is None else 100
        return min(100, self.rows_done * 100 // self.rows_total)


def render_line(view: View) -> str:
    """`predict-ab12… running 150,000/500,000 rows (30%) parts 1/4 4.2s`."""
    words = [short_id(view.job_id), view.state]
    if view.rows_total is not None:
        words.append(f"{view.rows_done:,}/{view.rows_total:,} rows ({view.percent}%)")
    elif view.rows_done:
        words.append(f"{view.rows_done:,} rows")
    if view.parts is not None:
        words.append(f"parts {view.parts[0]}/{view.parts[1]}")
    if view.note:
        words.append(f"({view.note})")
    words.append(f"{view.elapsed:.1f}s")
    return " ".join(words)


class PlainDisplay:
    """One line on `stream` per change (not per poll)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last: tuple | None = None

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def show(self, view: View) -> None:
        if view.changes != self._last:
            self._last = view.changes
            self.stream.write(render_line(view) + "\n")
            self.stream.flush()


class RichDisplay:
    """A live rich progress bar on a terminal; `rows` adds the bar, rows, percentage and rate
    (a training job only has a state and a clock)."""

    def __init__(self, stream: TextIO, rows_total: int | None, rows: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns: list[Any] = [_state_column(), TextColumn("{task.description}")]
        if rows:
            columns += [
                BarColumn(),
                TextColumn("{task.fields[rows]}"),
                TextColumn("{task.fields[percent]}"),
                TextColumn("{task.fields[rate]}"),
            ]
        columns.append(TimeElapsedColumn())
        self.progress = Progress(*columns, console=Console(file=stream), refresh_per_second=8)
        self.rows_total = rows_total
        self.task: Any = None

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        self.task = self.progress.add_task("", total=self.rows_total, state="", rows="", percent="", rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, view: View) -> None:
        from rich.markup import escape

        description = f"{short_id(view.job_id)} [bold]{view.state}[/bold]"
        if view.parts is not None:
            description += f" parts {view.parts[0]}/{view.parts[1]}"
        if view.note:
            description += f" [dim]({escape(view.note)})[/dim]"
        total = f"/{view.rows_total:,}" if view.rows_total is not None else ""
        self.progress.update(
            self.task,
            completed=view.rows_done,
            description=description,
            state=view.state,
            rows=f"{view.rows_done:,}{total} rows",
            percent=f"{view.percent}%" if view.percent is not None else "",
            rate=f"{view.rate:,.0f} rows/s" if view.rate else "",
        )


def _state_column() -> Any:
    """A spinner while the job goes on, then ✓ or ✗."""
    from rich.progress import SpinnerColumn
    from rich.text import Text

    class StateColumn(SpinnerColumn):
        def render(self, task: Any) -> Any:
            state = task.fields.get("state")
            if state == SUCCEEDED:
                return Text("✓", style="green")
            if state in FAILED_STATES:
                return Text("✗", style="red")
            return super().render(task)

    return StateColumn()


def make_display(stream: TextIO, rows_total: int | None, rows: bool) -> PlainDisplay | RichDisplay:
    """The rich bar when `stream` is a terminal (and rich is installed), plain lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return PlainDisplay(stream)
    try:
        return RichDisplay(stream, rows_total, rows)
    except ImportError:  # rich is a dev-venv package: a bare install still follows its jobs
        return PlainDisplay(stream)


def follow(
    fetch: Callable[[], dict[str, Any]],
    job_id: str,
    display: PlainDisplay | RichDisplay,
    rows_total: int | None = None,
    interval: float = 1.0,
    accept_timeout: float = 120.0,
    retry_grace: float = 60.0,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    started: float | None = None,
) -> dict[str, Any]:
    """Poll `fetch` (the job's record) until the job ends; returns the last record.

    A 404 before the record was ever seen is waited out for `accept_timeout` seconds (0: the
    job must exist already); an unreachable API or a 429/5xx once it was seen, for `retry_grace`
    seconds since the last good answer. `timeout` bounds the whole wait (None: no bound).
    """
    # `started` (before an upload) is where the elapsed time shown counts from; the time limits
    # count from here, so a long upload does not use them up.
    start = clock()
    shown_from = start if started is None else started
    record: dict[str, Any] | None = None
    last_ok = start
    running_since: float | None = None
    rows_then = 0  # rows done when the job was first seen running (the rate counts from there)
    with display:
        while True:
            now = clock()
            note = ""
            try:
                record = fetch()
                last_ok = now
            except ApiError as exc:
                if exc.status == 404 and record is None and accept_timeout > 0:
                    if now - start >= accept_timeout:
                        raise CliError(
                            f"no job {job_id} after {accept_timeout:.0f} s: {exc.server_message} "
                            "(was the file accepted? is the enqueue function running?)"
                        ) from None
                    note = "waiting for the job to be accepted"
                elif exc.transient and record is not None and now - last_ok < retry_grace:
                    note = f"retrying: {exc.server_message}"
                else:
                    raise
            except Unreachable:
                if record is None or now - last_ok >= retry_grace:
                    raise
                note = "retrying: API unreachable"
            state = record.get("state") if record else None
            rows_done = int(((record or {}).get("progress") or {}).get("rows_done") or 0)
            if state == RUNNING and running_since is None:
                running_since, rows_then = now, rows_done
            rate = None
            if running_since is not None and now > running_since and rows_done > rows_then:
                rate = (rows_done - rows_then) / (now - running_since)
            display.show(View.of(job_id, record, rows_total, now - shown_from, rate, note))
            if state in FINAL_STATES:
                return record  # type: ignore[return-value]
            if timeout is not None and now - start >= timeout:
                raise CliError(
                    f"job {job_id} is still {state or SUBMITTED} after {timeout:.0f} s; it goes on "
                    f"(fml jobs {job_id} --watch)"
                )
            sleep(interval)
