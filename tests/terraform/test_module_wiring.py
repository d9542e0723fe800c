"""Static checks of the Terraform tree with python-hcl2, no terraform CLI needed.

`terraform validate` checks one root at a time and stops at the first error; these tests
check every call in every root and module at once:

- every argument given to a module is a variable the module declares,
- every variable the module declares without a default is given,
- every `module.<name>.<output>` read in the calling directory (its .tf files and its
  tests/*.tftest.hcl) names an output the module declares (the `target` of a test's
  override_resource/override_data/override_module block is a resource address, not an output:
  only its module is checked),
- every variable of every module and env root has a type and a description,
- every module has the four-file layout and a mocked `terraform test`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
# Arguments of a module block that are Terraform's own, not the module's variables.
META_ARGUMENTS = frozenset({"source", "version", "for_each", "count", "depends_on", "providers"})
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
MODULE_REF = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)")
IDENT = re.compile(r"[A-Za-z_][\w-]*")


@dataclass(frozen=True)
class Call:
    """A `module "<name>"` block in directory `caller`."""

    caller: Path
    name: str
    body: dict[str, Any]

    @property
    def target(self) -> Path:
        return (self.caller / self.body["source"]).resolve()

    def __str__(self) -> str:
        return f"{self.caller.relative_to(TERRAFORM)}: module.{self.name}"


def config_dirs() -> list[Path]:
    """Every directory of the tree holding .tf files (Terraform's working dirs excluded)."""
    return sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return hcl2.load(fh, serialization_options=OPTIONS)


def blocks(directory: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, body) of every `kind` block (variable, output, module) in the directory's .tf files."""
    for path in sorted(directory.glob("*.tf")):
        for entry in parse(path).get(kind, []):
            yield from entry.items()


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    return dict(blocks(directory, "variable"))


def outputs(directory: Path) -> set[str]:
    return {name for name, _ in blocks(directory, "output")}


def calls() -> list[Call]:
    return [Call(d, name, body) for d in config_dirs() for name, body in blocks(d, "module")]


def strings(value: Any) -> Iterator[str]:
    """Every string (expressions included) anywhere in a parsed document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def module_references(text: str) -> Iterator[tuple[str, str | None]]:
    """(module name, output name or None) of every `module.<name>[<index>...].<output>` in text.

    The index may nest brackets (`module.queue[local.kind[each.key]].name`), so it is skipped
    by counting them rather than with a regular expression. A reference without an output
    (`values(module.api)`, `for s in module.storage : s.name`) yields None.
    """
    for match in MODULE_REF.finditer(text):
        pos = match.end()
        while pos < len(text) and text[pos] == "[":
            depth = 0
            while pos < len(text):
                depth += {"[": 1, "]": -1}.get(text[pos], 0)
                pos += 1
                if depth == 0:
                    break
        output = IDENT.match(text, pos + 1) if text.startswith(".", pos) else None
        yield match.group(1), output.group(0) if output else None


# terraform test blocks whose `target` is an address (module.<name>.<type>.<name>), not a read.
OVERRIDE_BLOCKS = frozenset({"override_resource", "override_data", "override_module"})


def split_override_targets(value: Any) -> tuple[Any, list[str]]:
    """The document without the `target` of its override blocks (at any depth), and those targets."""
    targets: list[str] = []

    def strip(item: Any, key: str | None = None) -> Any:
        if isinstance(item, dict):
            if key in OVERRIDE_BLOCKS and isinstance(item.get("target"), str):
                targets.append(item["target"])
                item = {k: v for k, v in item.items() if k != "target"}
            return {k: strip(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [strip(v, key) for v in item]
        return item

    return strip(value), targets


def referencing_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tf")) + sorted(directory.glob("tests/*.tftest.hcl"))


CALLS = calls()
MODULE_DIRS = sorted(p.parent for p in TERRAFORM.glob("modules/*/main.tf"))
ENV_DIRS = sorted(p.parent for p in TERRAFORM.glob("envs/*/main.tf"))


def ids(items) -> list[str]:
    return [str(i) if isinstance(i, Call) else str(i.relative_to(TERRAFORM)) for i in items]


# ---------------------------------------------------------------------------- the tree is read
def test_the_tree_is_found_and_parsed():
    """Guards against the other tests passing vacuously: the envs' calls are all seen."""
    names = {(c.caller.relative_to(TERRAFORM).as_posix(), c.name) for c in CALLS}
    assert {("envs/local", "platform"), ("envs/aws", "platform"), ("modules/platform", "iam")} <= names
    assert {("modules/platform", "storage"), ("modules/platform", "queue"), ("modules/platform", "s3_trigger")} <= names
    assert {
        ("envs/aws", m)
        for m in ("network", "ecs_cluster", "ecr", "alb", "api_gateway", "api", "worker", "dask_cluster")
    } <= names
    assert {("modules/dask_cluster", "scheduler"), ("modules/dask_cluster", "worker")} <= names
    assert {d.name for d in MODULE_DIRS} >= {"storage", "queue", "s3_trigger", "network", "ecs_service", "iam"}


DATA_PLANE_MODULES = {"storage", "queue", "s3_trigger", "iam"}
DATA_PLANE_RESOURCES = {"aws_s3_bucket", "aws_s3_bucket_policy", "aws_sqs_queue", "aws_iam_role", "aws_iam_role_policy",
                        "aws_lambda_function", "aws_s3_bucket_notification"}  # fmt: skip


@pytest.mark.parametrize("env", ["local", "aws"])
def test_both_envs_get_the_data_plane_and_its_iam_from_the_platform_module_only(env):
    """envs/local and envs/aws cannot drift: buckets, queues, triggers and roles come from one module."""
    directory = TERRAFORM / "envs" / env
    env_calls = {c.name: c for c in CALLS if c.caller == directory}
    assert env_calls["platform"].target == TERRAFORM / "modules" / "platform"
    sources = {c.target.name for c in env_calls.values()}
    assert not sources & DATA_PLANE_MODULES, f"envs/{env} builds part of the data plane itself: {sources}"
    declared: set[str] = set()
    for path in directory.glob("*.tf"):
        for entry in parse(path).get("resource", []):
            declared |= set(entry)
    assert not declared & DATA_PLANE_RESOURCES, f"envs/{env} declares {declared & DATA_PLANE_RESOURCES} itself"


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_module_source_is_a_module_of_the_tree(call):
    assert call.body["source"].startswith("../"), f"{call}: only local modules are expected, got {call.body['source']}"
    assert (call.target / "main.tf").is_file(), f"{call}: no module at {call.body['source']}"


# ---------------------------------------------------------------------------- module calls
@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_every_argument_is_a_declared_variable(call):
    declared = variables(call.target)
    unknown = sorted(set(call.body) - META_ARGUMENTS - set(declared))
    assert not unknown, f"{call} passes {unknown}, which {call.body['source']} does not declare"


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
def test_every_required_variable_is_passed(call):
    required = {name for name, body in variables(call.target).items() if "default" not in body}
    missing = sorted(required - set(call.body))
    assert not missing, f"{call} does not pass {missing}, which {call.body['source']} requires"


@pytest.mark.parametrize("directory", config_dirs(), ids=ids(config_dirs()))
def test_every_referenced_module_output_exists(directory):
    targets = {c.name: c.target for c in CALLS if c.caller == directory}
    problems = []
    for path in referencing_files(directory):
        where = path.relative_to(TERRAFORM)
        document, override_targets = split_override_targets(parse(path))
        for text in strings(document):
            for module, output in module_references(text):
                if module not in targets:
                    problems.append(f"{where}: module.{module} is not called in {directory.relative_to(TERRAFORM)}")
                elif output is not None and output not in outputs(targets[module]):
                    problems.append(f"{where}: module.{module}.{output} is not an output of {targets[module].name}")
        for text in override_targets:
            for module, _ in module_references(text):
                if module not in targets:
                    problems.append(
                        f"{where}: override target in module.{module}, which {directory.relative_to(TERRAFORM)} does not call"
                    )
    assert not problems, "\n".join(sorted(set(problems)))


# ---------------------------------------------------------------------------- declarations
VARIABLE_DIRS = MODULE_DIRS + ENV_DIRS


@pytest.mark.parametrize("directory", VARIABLE_DIRS, ids=ids(VARIABLE_DIRS))
def test_every_variable_has_a_type_and_a_description(directory):
    declared = variables(directory)
    assert declared, f"{directory.relative_to(TERRAFORM)} declares no variable"
    untyped = sorted(name for name, body in declared.items() if not body.get("type"))
    undescribed = sorted(name for name, body in declared.items() if not str(body.get("description") or "").strip())
    assert not untyped, f"{directory.relative_to(TERRAFORM)}: variables without a type: {untyped}"
    assert not undescribed, f"{directory.relative_to(TERRAFORM)}: variables without a description: {undescribed}"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_every_output_has_a_description(directory):
    undescribed = sorted(name for name, body in blocks(directory, "output") if not body.get("description"))
    assert not undescribed, f"{directory.relative_to(TERRAFORM)}: outputs without a description: {undescribed}"


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_every_module_has_the_four_files_and_a_mocked_test(directory):
    missing = [name for name in MODULE_FILES if not (directory / name).is_file()]
    assert not missing, f"{directory.relative_to(TERRAFORM)} lacks {missing}"
    tests = sorted(directory.glob("tests/*.tftest.hcl"))
    assert tests, f"{directory.relative_to(TERRAFORM)} has no tests/*.tftest.hcl"
    for path in tests:
        assert "mock_provider" in parse(path), f"{path.relative_to(TERRAFORM)} must mock the AWS provider"


# ---------------------------------------------------------------------------- the checker itself
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${module.network.vpc_id}", [("network", "vpc_id")]),
        ('${module.storage["models"].arn}', [("storage", "arn")]),
        ("${module.queue[local.worker_queue[each.key]].name}", [("queue", "name")]),
        ('${module.iam.task_role_arns["${each.key}_api"]}', [("iam", "task_role_arns")]),
        ("${values(module.api)}", [("api", None)]),
        ("../../modules/network", []),
        ("${a.module.b.c}", []),
    ],
)
def test_module_references_are_read_from_expressions(text, expected):
    assert list(module_references(text)) == expected


def test_override_targets_are_addresses_not_output_reads():
    document = {
        "override_resource": [{"target": "${module.scheduler.aws_security_group.this}", "values": {"id": "sg-1"}}],
        "run": [
            {
                "x": {
                    "override_resource": [{"target": "${module.worker.aws_security_group.this}"}],
                    "assert": ["${module.worker.name}"],
                }
            }
        ],
    }
    stripped, targets = split_override_targets(document)
    assert targets == ["${module.scheduler.aws_security_group.this}", "${module.worker.aws_security_group.this}"]
    assert [ref for text in strings(stripped) for ref in module_references(text)] == [("worker", "name")]


# ---------------------------------------------------------------------------- callers of envs/local
VAR_FLAG = re.compile(r"-var[= ](?P<name>[a-z_][a-z0-9_]*)=")
ENV_LOCAL_CALLERS = ("Makefile", "bench/common.py")


def declared_variables(directory: Path) -> set[str]:
    return {name for block in parse(directory / "variables.tf").get("variable", []) for name in block}


def passed_variables(text: str) -> set[str]:
    return {m["name"] for m in VAR_FLAG.finditer(text)}


@pytest.mark.parametrize("caller", ENV_LOCAL_CALLERS)
def test_every_variable_the_tools_pass_to_envs_local_is_declared(caller):
    """`make localstack-up` and the bench apply envs/local with -var flags: each must name a variable
    the env declares, or the apply fails (as it did when aws_endpoint gave way to AWS_ENDPOINT_URL)."""
    passed = passed_variables((TERRAFORM.parent / caller).read_text())
    assert passed, f"{caller} passes no -var at all: the pattern no longer finds them"
    assert passed <= declared_variables(TERRAFORM / "envs" / "local")


def test_the_var_flag_pattern_finds_both_spellings():  # the control of the check above
    assert passed_variables('-var lambda_zip_path=$(X) f"-var=aws_endpoint={e}"') == {"lambda_zip_path", "aws_endpoint"}
