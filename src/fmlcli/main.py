"""`fml`: submit training and scoring jobs by dropping files, follow them, manage model versions.

    fml train <model> <file> --target <column> [--param k=v ...] [--option k=v ...] [--wait]
    fml predict <model> <file> [--alias a | --version v] [--explain] [--wait [--out path]]
    fml jobs <job_id> [--watch] [--json]
    fml models | fml versions <model> [--limit n] | fml rollback <model> [<version>]

Target: the local stack (.state/local.env) unless --target aws, --profile or --region
(see fmlcli.target). On `fml train`, `--target` is the label column, so choose the stack
there with `fml --target aws train ...` (or --profile / --region anywhere).

Exit codes: 0 done; 1 failed (a job failed or was dead-lettered, an API refused, a file or
service could not be reached); 2 the command line is wrong (nothing was uploaded); 130
interrupted (a job being followed goes on).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fmlcli import report
from fmlcli.download import download
from fmlcli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, CliError, UsageError
from fmlcli.follow import FAILED_STATES, make_display
from fmlcli.follow import follow as follow_job
from fmlcli.http import Api, segment
from fmlcli.rows import count_rows
from fmlcli.target import Target, resolve
from fmlcli.upload import Submitted, check_metadata, object_key, predict_metadata, submit, train_metadata
from fmlcore.core.errors import FmlError
from fmlcore.jobs.message import kind_of

JOB_KINDS = {"train": ("trainer", "/training-jobs/"), "predict": ("predictor", "/prediction-jobs/")}


class Interrupted(CliError):
    exit_code = EXIT_INTERRUPTED


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def note(text: str) -> None:
    """Progress and hints: stderr, so stdout keeps only results."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------- arguments
def positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {value!r}")
    return number


def add_target_options(parser: argparse.ArgumentParser, sub: bool, stack_flag: bool = True) -> None:
    """The options that choose the target. On subcommands their default is SUPPRESS, so one
    given before the subcommand is not reset by the subcommand's own default."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if sub else value

    group = parser.add_argument_group("target")
    if stack_flag:
        group.add_argument("--target", dest="stack", choices=("local", "aws"), default=default(None),
                           help="the local stack (default) or AWS")  # fmt: skip
    group.add_argument("--profile", default=default(None), help="AWS profile (selects AWS)")
    group.add_argument("--region", default=default(None), help="AWS region (selects AWS)")
    group.add_argument("--env-file", default=default(None), help="local: the stack's env file "
                       "(default: .state/local.env found upwards from here, else $FML_ENV_FILE)")  # fmt: skip
    group.add_argument("--trainer-url", default=default(None), help="trainer API base URL "
                       "(local default: $FML_TRAINER_URL, else http://127.0.0.1:8081)")  # fmt: skip
    group.add_argument("--predictor-url", default=default(None), help="predictor API base URL "
                       "(local default: $FML_PREDICTOR_URL, else http://127.0.0.1:8080)")  # fmt: skip
    group.add_argument("--outputs", default=default(None), help="AWS: a `terraform output -json` file")
    group.add_argument("--tf-dir", default=default(None), help="AWS: where to run `terraform output -json` "
                       "(default terraform/envs/aws)")  # fmt: skip


def add_follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=positive, default=1.0, help="seconds between status reads (default 1)")
    parser.add_argument("--timeout", type=positive, default=None, help="stop following after this many seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fml", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_target_options(parser, sub=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str, stack_flag: bool = True):
        sub = commands.add_parser(name, help=help, description=help)
        add_target_options(sub, sub=True, stack_flag=stack_flag)
        sub.set_defaults(run=run)
        return sub

    train = command("train", cmd_train, "train a model on a dataset file (dropped into the datasets bucket)",
                    stack_flag=False)  # fmt: skip
    train.add_argument("model")
    train.add_argument("file", type=Path, help="CSV, JSON lines or Parquet")
    train.add_argument("--target", dest="label", required=True, metavar="COLUMN", help="the label column")
    train.add_argument(
        "--param", action="append", metavar="K=V", help="an XGBoost param (value parsed as JSON if it can be)"
    )
    train.add_argument("--option", action="append", metavar="K=V", help="another job option (README: job options)")
    train.add_argument("--wait", action="store_true", help="follow the job until it ends")
    add_follow_options(train)

    predict = command("predict", cmd_predict, "score a file (dropped into the inference bucket)")
    predict.add_argument("model")
    predict.add_argument("file", type=Path, help="CSV, JSON lines or Parquet")
    choose = predict.add_mutually_exclusive_group()
    choose.add_argument("--alias", help="score with the version this alias points at (default live)")
    choose.add_argument("--version", help="score with this model version")
    predict.add_argument("--explain", action="store_true", help="add TreeSHAP contribution columns")
    predict.add_argument("--option", action="append", metavar="K=V", help="another job option (e.g. split=false)")
    predict.add_argument("--wait", action="store_true", help="follow the job, then download its predictions")
    predict.add_argument("--out", help="with --wait: where to write the predictions "
                         "(default <file stem>.predictions.<ext> beside the input)")  # fmt: skip
    add_follow_options(predict)

    jobs = command("jobs", cmd_jobs, "show a job's status record")
    jobs.add_argument("job_id")
    jobs.add_argument("--watch", action="store_true", help="follow the job until it ends")
    jobs.add_argument("--json", action="store_true", help="the whole record as JSON")
    add_follow_options(jobs)

    models = command("models", cmd_models, "list models with their live and latest versions")
    models.add_argument("--json", action="store_true")

    versions = command("versions", cmd_versions, "list a model's versions, newest first")
    versions.add_argument("model")
    versions.add_argument("--limit", type=int, default=None, help="at most this many (1-1000)")
    versions.add_argument("--json", action="store_true")

    rollback = command("rollback", cmd_rollback, "move live to a version, or back one move")
    rollback.add_argument("model")
    rollback.add_argument("version", nargs="?")
    rollback.add_argument("--json", action="store_true")
    return parser


# ---------------------------------------------------------------------------- helpers
def target_of(args: argparse.Namespace) -> Target:
    args.target = args.stack  # fmlcli.target reads `target`; `--target` of train is the label
    return resolve(args)


def require_file(path: Path) -> None:
    if not path.is_file():
        raise CliError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")


def follow(
    args: argparse.Namespace,
    api: Api,
    job_id: str,
    *,
    rows_total: int | None = None,
    rows: bool,
    accept_timeout: float = 120.0,
    started: float | None = None,
) -> dict[str, Any]:
    """Follow `job_id` through `api` with the display stderr calls for; Ctrl-C stops following only."""
    path = JOB_KINDS[job_kind(job_id)][1] + segment(job_id)
    display = make_display(sys.stderr, rows_total, rows)
    try:
        return follow_job(
            lambda: api.get(path), job_id, display, rows_total=rows_total, interval=args.interval,
            accept_timeout=accept_timeout, timeout=args.timeout, started=started,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"stopped following {job_id}; the job goes on (fml jobs {job_id} --watch)") from None


def submitted(sub: Submitted, path: Path, wait: bool, rows_total: int | None = None) -> None:
    out(sub.job_id + "\n")
    rows = f" ({rows_total:,} rows)" if rows_total is not None else ""
    note(f"uploaded {path}{rows} to s3://{sub.bucket}/{sub.key} (version {sub.version_id})")
    if not wait:
        note(f"follow it with: fml jobs {sub.job_id} --watch")


def ended_badly(record: dict[str, Any]) -> int:
    note("fml: " + report.failure_message(record))
    return EXIT_FAILURE


def output_paths(file: Path, out_arg: str | None) -> tuple[Path, Path]:
    """(predictions, errors) paths: --out (a folder when it is one or ends in `/`), else
    `<stem>.predictions.<ext>` beside the input; the errors file `<stem>.errors.csv` beside the
    predictions."""
    default_name = f"{file.stem}.predictions{file.suffix}"
    if out_arg is None:
        predictions = file.with_name(default_name)
    elif out_arg.endswith(("/", os.sep)) or Path(out_arg).is_dir():
        predictions = Path(out_arg) / default_name
    else:
        predictions = Path(out_arg)
    return predictions, predictions.parent / f"{file.stem}.errors.csv"


# ---------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    metadata = train_metadata(args.label, args.param, args.option)
    check_metadata("train", metadata)
    object_key(args.model, args.file)
    require_file(args.file)
    target = target_of(args)
    started = time.monotonic()
    sub = submit(target.s3, "train", target.bucket("datasets"), args.model, args.file, metadata)
    submitted(sub, args.file, args.wait)
    if not args.wait:
        return 0
    record = follow(args, target.trainer, sub.job_id, rows=False, started=started)
    if record["state"] in FAILED_STATES:
        return ended_badly(record)
    out(report.train_summary(record, time.monotonic() - started))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.out is not None and not args.wait:
        raise UsageError("--out needs --wait (the predictions are downloaded when the job has succeeded)")
    metadata = predict_metadata(args.alias, args.version, args.explain, args.option)
    check_metadata("predict", metadata)
    object_key(args.model, args.file)
    require_file(args.file)
    # Counted before the upload (the bar's total is this very file's), and only to follow it.
    rows_total = count_rows(args.file) if args.wait else None
    target = target_of(args)
    started = time.monotonic()
    sub = submit(target.s3, "predict", target.bucket("inference"), args.model, args.file, metadata)
    submitted(sub, args.file, args.wait, rows_total)
    if not args.wait:
        return 0
    record = follow(args, target.predictor, sub.job_id, rows_total=rows_total, rows=True, started=started)
    if record["state"] in FAILED_STATES:
        return ended_badly(record)
    outputs = record.get("outputs") or {}
    predictions_path, errors_path = output_paths(args.file, args.out)
    if not outputs.get("predictions_uri"):
        raise CliError(f"job {sub.job_id} succeeded but its record names no predictions_uri")
    predictions = download(target.s3, outputs["predictions_uri"], outputs.get("predictions_version"), predictions_path)
    errors = None
    if outputs.get("errors_uri"):
        errors = download(target.s3, outputs["errors_uri"], outputs.get("errors_version"), errors_path)
    out(report.predict_summary(record, time.monotonic() - started, str(predictions), errors and str(errors)))
    return 0


def job_kind(job_id: str) -> str:
    """`train` or `predict`: the prefix of every job id (fmlcore.jobs.message.job_id_for)."""
    kind = kind_of(job_id)
    if kind is None:
        raise UsageError(f"{job_id!r} is not a job id: job ids start with train- or predict-")
    return kind


def cmd_jobs(args: argparse.Namespace) -> int:
    kind = job_kind(args.job_id)
    api: Api = getattr(target_of(args), JOB_KINDS[kind][0])
    if not args.watch:
        record = api.get(JOB_KINDS[kind][1] + segment(args.job_id))
        out(_json(record) if args.json else report.record_text(record))
        return 0
    started = time.monotonic()
    record = follow(args, api, args.job_id, rows=kind == "predict", accept_timeout=0, started=started)
    if args.json:
        out(_json(record))
    if record["state"] in FAILED_STATES:
        return ended_badly(record)
    if not args.json:
        summary = report.train_summary if kind == "train" else report.predict_summary
        out(summary(record, report.duration(record)))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    models = (target_of(args).trainer.get("/models") or {}).get("models", [])
    if args.json:
        out(_json(models))
    else:
        out(report.models_table(models) if models else "no models yet\n")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    answer = target_of(args).trainer.get(f"/models/{segment(args.model)}/versions", {"limit": args.limit})
    versions = (answer or {}).get("versions", [])
    out(_json(versions) if args.json else report.versions_table(versions))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    payload = {"version": args.version} if args.version else None
    moved = target_of(args).trainer.post(f"/models/{segment(args.model)}/rollback", payload)
    out(_json(moved) if args.json else report.moved_text(moved))
    return 0


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------- entry point
def aws_error_text(exc: Exception) -> str:
    """A botocore error in one line: the operation and AWS's code and message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        operation = getattr(exc, "operation_name", "AWS call")
        return f"{operation} refused: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CliError as exc:
        note(f"fml: error: {exc.message}")
        return exc.exit_code
    except KeyboardInterrupt:
        note("fml: interrupted")
        return EXIT_INTERRUPTED
    except (BotoCoreError, ClientError) as exc:
        note(f"fml: error: {aws_error_text(exc)}")
        return EXIT_FAILURE
    except FmlError as exc:  # a setting of the stack that cannot be read (fmlcore.core.settings)
        note(f"fml: error: {exc.message}")
        return EXIT_FAILURE
    except OSError as exc:  # a file that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        note(f"fml: error: {where}{exc.strerror or exc}")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
