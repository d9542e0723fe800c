"""The CLI's expected failures, each with its exit code.

Anything the user can cause or fix (a missing file, an unreachable API, a refused request, a
failed job) is a `CliError`: `main` prints its one-line message and exits with its code, never a
traceback. Usage mistakes exit 2, as argparse's own do, so scripts can tell "wrong command"
from "the command ran and failed".
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An expected failure: its message is what the user reads."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    """The command line asks for something that cannot be done (caught before any upload)."""

    exit_code = EXIT_USAGE
