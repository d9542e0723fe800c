"""fmlcli.follow: the progress line, the plain and rich displays, and the polling rules."""

from __future__ import annotations

import io

import pytest

from fmlcli.errors import CliError
from fmlcli.follow import PlainDisplay, RichDisplay, View, follow, make_display, render_line, short_id
from fmlcli.http import ApiError, Unreachable

JOB = "predict-ab12cd34ef56ab12cd34ef56ab12cd34"


def record(state: str, rows: int = 0, **extra) -> dict:
    return {"job_id": JOB, "state": state, "progress": {"rows_done": rows}, **extra}


def not_found() -> ApiError:
    return ApiError(404, "NotFound", f"no prediction job {JOB!r}", "predictor")


def test_the_progress_line():
    view = View(JOB, "running", 150_000, 500_000, None, 4.21)
    assert render_line(view) == "predict-ab12… running 150,000/500,000 rows (30%) 4.2s"


@pytest.mark.parametrize(
    ("view", "line"),
    [
        (
            View(JOB, "submitted", 0, 3, None, 0.04, note="waiting"),
            "predict-ab12… submitted 0/3 rows (0%) (waiting) 0.0s",
        ),
        (View(JOB, "running", 10, None, (1, 4), 2.0), "predict-ab12… running 10 rows parts 1/4 2.0s"),
        (View(JOB, "succeeded", 0, 0, None, 1.0), "predict-ab12… succeeded 0/0 rows (100%) 1.0s"),
        (View("train-0123456789abcdef0123456789abcdef", "queued"), "train-0123… queued 0.0s"),
    ],
)
def test_lines_of_every_shape(view, line):
    assert render_line(view) == line


def test_short_ids_leave_other_strings_alone():
    assert short_id("weird") == "weird" and short_id("train-abc") == "train-abc"


def test_view_of_a_record_with_parts():
    view = View.of(JOB, record("running", 300, parts={"total": 4, "done": 1}), 1000, 3.0)
    assert (view.state, view.rows_done, view.rows_total, view.parts) == ("running", 300, 1000, (1, 4))
    assert View.of(JOB, None, 1000, 0.5).state == "submitted"


def test_plain_display_writes_a_line_per_change_not_per_poll():
    out = io.StringIO()
    display = PlainDisplay(out)
    for elapsed, state, rows in [
        (0, "queued", 0),
        (1, "queued", 0),
        (2, "running", 0),
        (3, "running", 50),
        (4, "running", 50),
    ]:
        display.show(View(JOB, state, rows, 100, None, float(elapsed)))
    assert out.getvalue().splitlines() == [
        "predict-ab12… queued 0/100 rows (0%) 0.0s",
        "predict-ab12… running 0/100 rows (0%) 2.0s",
        "predict-ab12… running 50/100 rows (50%) 3.0s",
    ]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_rich_bar_anything_else_plain_lines():
    assert isinstance(make_display(Tty(), 10, rows=True), RichDisplay)
    assert isinstance(make_display(io.StringIO(), 10, rows=True), PlainDisplay)


def test_the_rich_bar_shows_rows_percentage_rate_and_state(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # a classic terminal: the whole bar fits
    out = Tty()
    with RichDisplay(out, 500_000, rows=True) as display:
        display.show(View(JOB, "running", 150_000, 500_000, (1, 4), 4.2, rate=35_714.0))
        display.show(View(JOB, "succeeded", 500_000, 500_000, (4, 4), 9.0, rate=55_555.0))
    text = out.getvalue()
    for part in ("predict-ab12…", "succeeded", "500,000/500,000 rows", "100%", "55,555 rows/s", "parts 4/4", "✓"):
        assert part in text, part


class Script:
    """A scripted `fetch` and a clock that moves by `step` at each sleep."""

    def __init__(self, answers, step: float = 1.0) -> None:
        self.answers = list(answers)
        self.now = 100.0
        self.step = step
        self.sleeps = 0

    def fetch(self) -> dict:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += self.step


def run(script: Script, **kw) -> tuple[dict, list[str]]:
    out = io.StringIO()
    result = follow(script.fetch, JOB, PlainDisplay(out), clock=script.clock, sleep=script.sleep, **kw)
    return result, out.getvalue().splitlines()


def test_following_a_job_from_upload_to_success():
    script = Script([not_found(), record("queued"), record("running", 0), record("running", 50_000),
                     record("succeeded", 120_000, outputs={"predictions_uri": "s3://b/k"})])  # fmt: skip
    final, lines = run(script, rows_total=120_000)
    assert final["state"] == "succeeded"
    assert lines == [
        "predict-ab12… submitted 0/120,000 rows (0%) (waiting for the job to be accepted) 0.0s",
        "predict-ab12… queued 0/120,000 rows (0%) 1.0s",
        "predict-ab12… running 0/120,000 rows (0%) 2.0s",
        "predict-ab12… running 50,000/120,000 rows (41%) 3.0s",
        "predict-ab12… succeeded 120,000/120,000 rows (100%) 4.0s",
    ]


@pytest.mark.parametrize("state", ["failed", "dead_lettered"])
def test_a_failed_or_dead_lettered_job_ends_the_wait(state):
    final, lines = run(Script([record("running"), record(state, error={"message": "boom"})]))
    assert final["state"] == state and lines[-1].startswith(f"predict-ab12… {state}")


def test_a_job_never_accepted_gives_up_after_the_accept_timeout():
    script = Script([not_found()] * 10, step=30.0)
    with pytest.raises(CliError, match="no job predict-ab12cd34ef56ab12cd34ef56ab12cd34 after 60 s"):
        run(script, accept_timeout=60)
    assert script.sleeps == 2  # asked at 0, 30 and 60 s


def test_without_an_accept_window_a_404_is_the_answer():
    with pytest.raises(ApiError, match="no prediction job"):
        run(Script([not_found()]), accept_timeout=0)


def test_a_404_after_the_record_was_seen_is_not_waited_out():
    with pytest.raises(ApiError):
        run(Script([record("running"), not_found()]))


def test_a_blip_of_the_api_is_waited_out_once_the_job_was_seen():
    blip = ApiError(503, "TransientError", "a storage or queue service is unavailable", "predictor")
    script = Script([record("running", 10), Unreachable("down"), blip, record("succeeded", 20)])
    final, lines = run(script, rows_total=20, retry_grace=60)
    assert final["state"] == "succeeded"
    assert "(retrying: API unreachable)" in lines[1]
    assert "(retrying: a storage or queue service is unavailable)" in lines[2]


def test_an_api_down_for_longer_than_the_grace_ends_the_wait():
    script = Script([record("running")] + [Unreachable("cannot reach the predictor API")] * 10, step=20.0)
    with pytest.raises(Unreachable):
        run(script, retry_grace=50)


def test_an_unreachable_api_before_anything_was_seen_fails_at_once():
    script = Script([Unreachable("cannot reach the predictor API at http://x")])
    with pytest.raises(Unreachable):
        run(script)
    assert script.sleeps == 0


def test_a_timeout_leaves_the_job_running_and_says_how_to_follow_it():
    with pytest.raises(CliError, match=f"still running after 3 s; it goes on \\(fml jobs {JOB} --watch\\)"):
        run(Script([record("running")] * 10), timeout=3)


def test_the_rate_counts_from_when_the_job_was_first_seen_running():
    seen = []

    class Recording(PlainDisplay):
        def show(self, view: View) -> None:
            seen.append(view.rate)

    script = Script([record("queued"), record("running", 0), record("running", 2_000), record("succeeded", 4_000)])
    follow(script.fetch, JOB, Recording(io.StringIO()), clock=script.clock, sleep=script.sleep)
    assert seen == [None, None, 2_000.0, 2_000.0]


def test_a_long_upload_does_not_use_up_the_accept_timeout():
    """`started` (before the upload) moves the elapsed time shown, not the time limits."""
    script = Script([not_found(), record("succeeded")], step=30.0)
    final, lines = run(script, accept_timeout=60, started=script.now - 300)  # a 300 s upload
    assert final["state"] == "succeeded"
    assert lines[0].endswith("300.0s") and lines[-1].endswith("330.0s")
    # positive control: the same limit, reached while following, still gives up
    with pytest.raises(CliError, match="after 60 s"):
        run(Script([not_found()] * 5, step=30.0), accept_timeout=60, started=0.0)


class RateDisplay(PlainDisplay):
    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.rates: list[float | None] = []

    def show(self, view: View) -> None:
        self.rates.append(view.rate)
        super().show(view)


def test_the_rate_counts_the_rows_done_while_followed():
    """Watching a job already 900,000 rows in: 1,000 rows a second is 1,000, not 900,000."""
    script = Script([record("running", 900_000), record("running", 901_000), record("succeeded", 902_000)])
    display = RateDisplay()
    follow(script.fetch, JOB, display, clock=script.clock, sleep=script.sleep)
    assert display.rates == [None, 1_000.0, 1_000.0]
