"""The layering of src/: every import statement checked against the rules in fmlcore/__init__.py.

    core            imports no other fmlcore layer
    jobs, ml, web   import core (and themselves), not each other
    lambdas         imports only the standard library, boto3/botocore (and, aimed at the emulator,
                    localstack-client), fmlcore.core and fmlcore.jobs
    fmlcore         imports none of predictor, trainer, lambdas, fmldev
    fmlcli          imports only the standard library, boto3/botocore, rich (pyarrow, optionally),
                    fmlcore.core and fmlcore.jobs: not the model code, Flask, the services or fmldev

Static (the ast of every file), so it also covers imports inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS = ("core", "jobs", "ml", "web")
ALLOWED = {"core": {"core"}, "jobs": {"core", "jobs"}, "ml": {"core", "ml"}, "web": {"core", "web"}}
SERVICES = {"predictor", "trainer", "lambdas", "fmldev"}
# localstack_client: imported inside fmlcore.core.aws.local_endpoint, only when FML_TARGET=local.
LAMBDA_THIRD_PARTY = {"boto3", "botocore", "localstack_client"}
# The CLI talks to the platform as a user does (S3, the HTTP APIs); pyarrow only counts a Parquet
# file's rows when it is installed.
CLI_THIRD_PARTY = {"boto3", "botocore", "rich", "pyarrow"}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "fmlcore" and len(parts) > 1 and parts[1] in LAYERS else None


def violations(package: str, allowed: callable) -> list[str]:
    found = []
    for path in sorted((SRC / package).rglob("*.py")):
        found += [f"{path.relative_to(SRC)}: {name}" for name in imports_of(path) if not allowed(path, name)]
    return found


def fmlcore_rule(path: Path, name: str) -> bool:
    top = name.split(".")[0]
    if top in SERVICES:
        return False
    layer = layer_of(name)
    own = path.relative_to(SRC / "fmlcore").parts[0]
    return layer is None or own not in ALLOWED or layer in ALLOWED[own]


def lambda_rule(_path: Path, name: str) -> bool:
    top = name.split(".")[0]
    if top == "fmlcore":
        return name == "fmlcore" or layer_of(name) in {"core", "jobs"}
    return top == "lambdas" or top in LAMBDA_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__"


def cli_rule(_path: Path, name: str) -> bool:
    top = name.split(".")[0]
    if top == "fmlcore":
        return name == "fmlcore" or layer_of(name) in {"core", "jobs"}
    return top == "fmlcli" or top in CLI_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__"


def test_fmlcore_layers_import_downward_only():
    assert violations("fmlcore", fmlcore_rule) == []


def test_the_cli_imports_only_the_stdlib_boto3_rich_and_the_lambda_safe_layers():
    assert violations("fmlcli", cli_rule) == []


def test_the_lambda_package_imports_only_the_stdlib_boto3_and_the_lambda_safe_layers():
    assert violations("lambdas", lambda_rule) == []
    for package in ("fmlcore/core", "fmlcore/jobs"):
        assert violations(package, lambda_rule) == [], package


@pytest.mark.parametrize(
    ("package", "path", "name", "rule"),
    [
        ("fmlcore", "fmlcore/core/aws.py", "fmlcore.jobs.status", fmlcore_rule),
        ("fmlcore", "fmlcore/jobs/worker.py", "fmlcore.ml.formats", fmlcore_rule),
        ("fmlcore", "fmlcore/ml/formats.py", "predictor.batch", fmlcore_rule),
        ("lambdas", "lambdas/enqueue.py", "pandas", lambda_rule),
        ("lambdas", "lambdas/enqueue.py", "fmlcore.ml.features", lambda_rule),
        ("fmlcli", "fmlcli/main.py", "fmlcore.ml.formats", cli_rule),
        ("fmlcli", "fmlcli/http.py", "fmlcore.web.http", cli_rule),
        ("fmlcli", "fmlcli/main.py", "trainer.api", cli_rule),
        ("fmlcli", "fmlcli/target.py", "fmldev.stack", cli_rule),
        ("fmlcli", "fmlcli/http.py", "requests", cli_rule),
    ],
)
def test_the_rules_catch_an_upward_or_foreign_import(package, path, name, rule):
    # Positive control: the same checks refuse each kind of import the layering forbids ...
    assert not rule(SRC / path, name)


def test_the_rules_allow_the_imports_the_layering_wants():
    # ... and accept the ones it allows.
    assert fmlcore_rule(SRC / "fmlcore/jobs/worker.py", "fmlcore.core.aws")
    assert fmlcore_rule(SRC / "fmlcore/ml/model_store.py", "xgboost")
    assert lambda_rule(SRC / "lambdas/enqueue.py", "fmlcore.jobs.message")
    assert lambda_rule(SRC / "lambdas/enqueue.py", "urllib.parse")
    assert cli_rule(SRC / "fmlcli/upload.py", "fmlcore.jobs.message")
    assert cli_rule(SRC / "fmlcli/follow.py", "rich.progress")
    assert cli_rule(SRC / "fmlcli/http.py", "botocore.auth")
    assert cli_rule(SRC / "fmlcli/main.py", "fmlcli.target")


def test_importing_the_lambda_handlers_loads_no_heavy_library():
    code = (
        "import sys, lambdas.enqueue, lambdas.dead_letter; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'xgboost', 'flask', 'pyarrow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["predictor", "trainer", "lambdas"])
def test_the_services_do_not_import_the_dev_tooling_left_out_of_their_images(package):
    assert violations(package, lambda _path, name: name.split(".")[0] != "fmldev") == []
