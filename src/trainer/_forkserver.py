"""Imported by the training forkserver alone (see trainer.isolated), never by the services.

The forkserver and the training processes it forks ignore SIGTERM and SIGINT: a signal sent to
the worker's whole process group (a shutdown, Ctrl-C) is for the worker to act on, and the
worker kills its training child itself. Then the training code is imported once, here, so each
forked child starts with it loaded.
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)

import fmlcore.ml.formats  # noqa: E402, F401
import trainer.streaming  # noqa: E402
import trainer.training  # noqa: E402, F401
