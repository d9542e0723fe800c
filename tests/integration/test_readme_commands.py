"""The README's `aws` and `curl` lines work as printed, against the running local stack.

Every ```bash block of README.md that holds an `aws` or `curl` command (but those of "Deploy
to AWS", which need an AWS account) is read from the README itself and run, command by
command, in README order, from the repository's root, as a person would paste them into one
shell: what one command exports (`set -a; . .state/local.env; set +a`, `export ...`) the next
one sees. Three things differ from a person's shell, each said here:
- the APIs run on free ports, started by this test: `127.0.0.1:8080`/`:8081` are rewritten;
- `<prediction_id>` and `<job_id>` are the ids the commands before them produced (the answer's
  `prediction_id`; the job of the last file `aws s3 cp` dropped), as a person would paste them;
- `curl` fails on an HTTP error (`--fail-with-body`), so a 4xx is a failed command, not text;
- after a file is dropped into the inference bucket, the test waits for its job to end (a
  predictor worker runs, as under `make run`) before the next command, as a person reading its
  status or its output would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from fmlcore.jobs.message import job_id_for
from fmlcore.jobs.status import FINAL_STATES
from tests.status_records import StatusRecords

from .conftest import start_api, wait_for

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
CLOUD_SECTIONS = ("Deploy to AWS",)
COMMANDS = ("aws", "curl")
PLACEHOLDER = re.compile(r"<(prediction_id|job_id)>")


@dataclass
class Block:
    section: str
    commands: list[str]


def complete(text: str) -> bool:
    """True when `text` is whole shell input: no open quote, no trailing line continuation."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


def readme_blocks(text: str) -> list[Block]:
    """The README's bash blocks, each split into its commands (continuations and multi-line quotes joined)."""
    blocks, section, lines, inside = [], "", [], False
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.strip() == "```bash":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            commands, pending = [], ""
            for raw in lines:
                pending = f"{pending}\n{raw}" if pending else raw
                if complete(pending):
                    if pending.strip() and not pending.lstrip().startswith("#"):
                        commands.append(pending)
                    pending = ""
            assert not pending, f"an unfinished command in the README's {section!r} block: {pending!r}"
            blocks.append(Block(section, commands))
        elif inside:
            lines.append(line)
    return blocks


def first_word(command: str) -> str:
    return command.split(maxsplit=1)[0] if command.split() else ""


def blocks_to_run(text: str) -> list[Block]:
    return [
        b
        for b in readme_blocks(text)
        if b.section not in CLOUD_SECTIONS and any(first_word(c) in COMMANDS for c in b.commands)
    ]


def test_the_readme_blocks_are_found_and_split_into_whole_commands():
    """The parser this test relies on, on the README itself (no stack needed)."""
    blocks = blocks_to_run((ROOT / "README.md").read_text())
    sections = [b.section for b in blocks]
    assert "Training" in sections and "Predictions" in sections and "Operating it" in sections
    commands = [c for b in blocks for c in b.commands]
    predict = next(c for c in commands if "/models/churn/predict" in c)
    assert predict.count("\n") == 2 and predict.rstrip().endswith("}]}'"), "a multi-line quoted body is one command"
    assert all(first_word(c) not in ("awscurl", "docker", "terraform") for c in commands), "cloud lines are left out"
    assert not any(b.section in CLOUD_SECTIONS for b in blocks)
    assert complete("echo 'a'") and not complete("echo 'a") and not complete("echo a \\")  # the splitter's rule


@pytest.fixture(scope="module")
def apis(start_proc, proc_env) -> dict[str, str]:
    return {
        "127.0.0.1:8081": start_api(start_proc, "trainer", proc_env).removeprefix("http://"),
        "127.0.0.1:8080": start_api(start_proc, "predictor", proc_env).removeprefix("http://"),
    }


class Shell:
    """Commands run one by one in bash, each starting from the environment the last one left."""

    PRELUDE = 'curl() { command curl --fail-with-body -sS "$@"; }\n'

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.state = tmp / "shell-env.sh"
        self.state.write_text("")
        self.env = env

    def run(self, command: str) -> subprocess.CompletedProcess:
        script = f'{self.PRELUDE}. "{self.state}"\nset -eo pipefail\n{command}\nexport -p > "{self.state}"\n'
        return subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )


def test_the_readme_aws_and_curl_lines_work_as_printed(apis, predictor_worker, aws, settings, tmp_path):
    # A person's shell: no stack variables until the README's own `. .state/local.env` line.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FML_", "AWS_", "CURL_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the dev venv's aws, as `make venv` installs it
    shell = Shell(tmp_path, env)
    ids: dict[str, str] = {}
    ran: list[tuple[str, str]] = []
    for block in blocks_to_run((ROOT / "README.md").read_text()):
        for printed in block.commands:
            command = printed
            for port, actual in apis.items():
                command = command.replace(port, actual)
            for name in PLACEHOLDER.findall(command):
                assert name in ids, f"{block.section}: no earlier command gave a {name} for {printed!r}"
                command = command.replace(f"<{name}>", ids[name])
            result = shell.run(command)
            assert result.returncode == 0, (
                f"README, {block.section}: {printed!r} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
            ran.append((printed, result.stdout))
            remember_ids(command, result.stdout, ids, aws, settings)

    printed_commands = [c for c, _ in ran]
    assert sum(first_word(c) == "aws" for c in printed_commands) >= 5
    assert sum(first_word(c) == "curl" for c in printed_commands) >= 6

    # What they did, seen from the stack:
    def output_of(fragment: str) -> str:
        found = [out for c, out in ran if fragment in c]
        assert found, f"no README command with {fragment!r} ran"
        return found[0]

    listing = output_of("aws s3 ls  ")
    for bucket in (
        settings.datasets_bucket,
        settings.models_bucket,
        settings.inference_bucket,
        settings.predictions_bucket,
    ):
        assert bucket in listing
    trained = json.loads(output_of("/models/churn/train?target=churned"))
    described = requests.get(f"http://{apis['127.0.0.1:8081']}/models/churn/versions/{trained['version']}", timeout=10)
    assert described.json()["params"]["max_depth"] == 4, "the query's JSON params reached the trainer"
    stored = json.loads(output_of("/predictions/<prediction_id>"))
    assert stored["prediction_id"] == ids["prediction_id"]
    metrics = output_of("/metrics")
    assert "fml_http_requests_total" in metrics
    event = json.loads(output_of("receive-message"))
    assert any(json.loads(m["Body"])["type"] == "fargate-ml.job.ended" for m in event["Messages"])


def remember_ids(command: str, stdout: str, ids: dict[str, str], aws, settings) -> None:
    """The ids a person would copy from what `command` printed or did."""
    if first_word(command) == "curl" and stdout.strip().startswith("{"):
        answer = json.loads(stdout)
        if "prediction_id" in answer:
            ids["prediction_id"] = answer["prediction_id"]
    drop = re.search(rf"aws s3 cp \S+ s3://({re.escape(settings.inference_bucket)})/(\S+)", command)
    if drop:
        bucket, key = drop.groups()
        if key.endswith("/"):
            key += Path(command.split()[3]).name
        version = aws.s3.head_object(Bucket=bucket, Key=key)["VersionId"]
        ids["job_id"] = job_id_for("predict", bucket, key, version)
        statuses = StatusRecords(aws.s3, settings.predictions_bucket)
        record = wait_for(
            lambda: (r := statuses.get(ids["job_id"])) and r["state"] in FINAL_STATES and r,
            timeout=120,
            what=f"the job of the dropped {key}",
        )
        assert record["state"] == "succeeded", record.get("error")
