"""Training in a child process, so a job's deadline is hard: the parent kills the child when the
deadline passes (or the worker is asked to stop), however long one boosting round takes.

The child gets the dataset (a DataFrame, or a file's bytes to parse) and the options, prepares
and trains, and sends back the model (UBJSON bytes) and its metadata; every AWS call stays in
the parent. Children come from a forkserver that has imported the training code but run no
thread and no XGBoost: forking it is quick (no new interpreter per job) and safe (no OpenMP
state inherited from a process that trained before).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from fmlcore.core.errors import FmlError, InvalidInput
from fmlcore.ml.readers import check_column_count
from trainer.streaming import train_file
from trainer.training import BudgetExceeded, Interrupted, Trained, TrainOptions, prepare, train

log = logging.getLogger("fml.trainer.isolated")

POLL_SECONDS = 0.1
_context_lock = threading.Lock()
_context: Any = None


def _mp() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["trainer._forkserver"])
            _context = context
        return _context


def warm_up() -> None:
    """Start the forkserver now (it imports the training code in the background), so the first
    job forks from a ready server instead of waiting for a new interpreter's imports."""
    from multiprocessing import forkserver

    _mp()
    forkserver.ensure_running()


class TrainingProcessDied(Exception):
    """The training process ended without a result: killed by the kernel (out of memory?) or crashed."""


def _exit_with_the_worker() -> None:
    """When the process that started this child ends (even SIGKILLed: its pipe closes), so does
    this child, instead of training on for nobody."""
    starter = multiprocessing.parent_process()
    while starter is not None:
        time.sleep(1)
        if not starter.is_alive():
            os._exit(1)


def _child(conn: Any, source: Any, options: dict[str, Any], nthread: int, sizes: dict[str, int]) -> None:
    """Runs in the child: train from a table, or from a file read in chunks; send ("ok", ...) or the error."""
    threading.Thread(target=_exit_with_the_worker, name="orphan-watch", daemon=True).start()
    try:
        opts = TrainOptions.from_job(options)
        if isinstance(source, pd.DataFrame):
            check_column_count(source.shape[1], sizes["max_columns"])
            trained = train(
                prepare(source, opts), opts, nthread=nthread, reference_max_rows=sizes["reference_max_rows"]
            )
            rows = len(source)
        else:
            path = Path(source)
            trained, rows = train_file(path, path.suffix, opts, nthread=nthread, cache_dir=path.parent, **sizes)
        model = bytes(trained.booster.save_raw(raw_format="ubj"))
        conn.send(("ok", model, trained.metadata, rows, trained.reference))
    except FmlError as exc:
        conn.send(("fml", type(exc).__name__, exc.message, exc.details))
    except BaseException as exc:
        conn.send(("crash", type(exc).__name__, str(exc)[:1000]))
    finally:
        conn.close()


def _error_of(name: str, message: str, details: dict[str, Any]) -> FmlError:
    """The FmlError the child raised, as the same class in the parent."""
    import fmlcore.core.errors as errors

    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, FmlError)):
        cls = InvalidInput
    return cls(message, details)


def train_in_child(
    source: pd.DataFrame | Path,
    options: dict[str, Any],
    nthread: int = 0,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_columns: int = 2_000,
    reference_max_rows: int = 10_000,
    chunk_rows: int = 100_000,
    in_memory_bytes: int = 4 << 30,
) -> tuple[Trained, int]:
    """(the trained model, the dataset's rows), from a child process killed at `deadline`
    (BudgetExceeded, `killed` in its message) or when `should_stop()` (Interrupted). `source` is
    a table, or a dataset file on local disk read in chunks (trainer.streaming.train_file; its
    external-memory cache, if any, beside it)."""
    context = _mp()
    receiver, sender = context.Pipe(duplex=False)
    sizes = {"max_columns": max_columns, "reference_max_rows": reference_max_rows}
    if not isinstance(source, pd.DataFrame):
        sizes |= {"chunk_rows": chunk_rows, "in_memory_bytes": in_memory_bytes}
    proc = context.Process(target=_child, args=(sender, source, options, nthread, sizes), daemon=True)
    started = time.monotonic()
    proc.start()
    sender.close()
    try:
        while not receiver.poll(POLL_SECONDS):
            if not proc.is_alive() and not receiver.poll(0):
                raise TrainingProcessDied(f"the training process ended with exit code {proc.exitcode} and no result")
            if should_stop is not None and should_stop():
                raise Interrupted("training interrupted by shutdown")
            if deadline is not None and time.monotonic() > deadline:
                raise BudgetExceeded(
                    f"training killed at its deadline, {time.monotonic() - started:.1f} s after it started"
                )
        result = receiver.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    if result[0] == "fml":
        raise _error_of(*result[1:])
    if result[0] == "crash":
        raise RuntimeError(f"training failed: {result[1]}: {result[2]}")
    _, model_bytes, metadata, rows, reference = result
    booster = xgb.Booster()
    booster.load_model(bytearray(model_bytes))
    if nthread:
        booster.set_param({"nthread": nthread})
    return Trained(booster, metadata, reference), rows
