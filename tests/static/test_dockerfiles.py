"""Static checks of the container images: docker/*.Dockerfile, /.dockerignore, docker/compose.yaml.

No Docker engine is needed: the files are parsed here (a small Dockerfile parser, Docker's
.dockerignore matching rules, PyYAML for compose) and the invariants the images rely on are
asserted. Nothing under src/ is imported: the services' sources are only looked at as files.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"

# service → the port its API listens on in the container (the local ports of the README).
API_PORTS = {"trainer": 8081, "predictor": 8080}
APP_IMAGES = sorted(API_PORTS)
ALL_IMAGES = [*APP_IMAGES, "ministack"]
# What an image may COPY from the build context (everything else is .dockerignore'd).
COPYABLE = {"requirements.txt", "pyproject.toml", "src"}
VENV = "/usr/local/venv"
EXACT_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-._][0-9A-Za-z.-]+)?$")


# ---------------------------------------------------------------------------- Dockerfile parser
@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the (joined) line
    line: int  # where it starts in the file, for messages


@dataclass
class Stage:
    base: str  # the image (or earlier stage) after FROM, without flags
    name: str | None  # the stage's `AS` name, lower case
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each instruction: continuations joined, comments and blanks dropped."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not parts):
            continue  # comment lines are dropped even inside a continuation, as Docker does
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        out.append((start, " ".join(p for p in parts if p)))
        parts = []
    if parts:
        out.append((start, " ".join(p for p in parts if p)))
    return out


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """The instructions before the first FROM (global ARGs) and the build stages, in order."""
    preamble: list[Instruction] = []
    stages: list[Stage] = []
    for number, line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        inst = Instruction(keyword.upper(), args.strip(), number)
        if inst.keyword == "FROM":
            words = [w for w in inst.args.split() if not w.startswith("--")]
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(inst)
        else:
            preamble.append(inst)
    return preamble, stages


@cache
def dockerfile(image: str) -> tuple[Stage, ...]:
    path = DOCKER / f"{image}.Dockerfile"
    assert path.is_file(), f"{path} is missing"
    return tuple(parse_dockerfile(path.read_text())[1])


def final(image: str) -> Stage:
    stages = dockerfile(image)
    assert stages, f"{image}.Dockerfile has no FROM"
    return stages[-1]


def exec_form(inst: Instruction) -> list[str]:
    """The JSON array of an exec-form CMD / ENTRYPOINT / HEALTHCHECK CMD; fails on shell form."""
    try:
        value = json.loads(inst.args)
    except ValueError:
        pytest.fail(f"line {inst.line}: {inst.keyword} {inst.args!r} is shell form; use a JSON array (exec form)")
    assert isinstance(value, list) and value, f"line {inst.line}: {inst.keyword} must be a non-empty JSON array"
    assert all(isinstance(v, str) for v in value), f"line {inst.line}: {inst.keyword} items must be strings"
    return value


def split_flags(args: str) -> tuple[dict[str, str], list[str]]:
    """`--from=builder --chown=app a b` → ({"from": "builder", "chown": "app"}, ["a", "b"]); JSON form too."""
    words = shlex.split(args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key.lower()] = value
    rest = " ".join(words)
    if rest.startswith("["):
        return flags, json.loads(rest)
    return flags, words


def env_of(stage: Stage) -> dict[str, str]:
    """Every variable the stage's ENV instructions set (both `K=V ...` and the legacy `K V`)."""
    env: dict[str, str] = {}
    for inst in stage.all("ENV"):
        words = shlex.split(inst.args)
        if words and "=" not in words[0]:
            env[words[0]] = inst.args.split(None, 1)[1] if len(words) > 1 else ""
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def image_tag(ref: str) -> str | None:
    """The tag of an image reference (`registry:5000/name:tag@sha256:…` → tag), None when untagged."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def stage_index(stage: Stage, inst: Instruction) -> int:
    return stage.instructions.index(inst)


# ---------------------------------------------------------------------------- Dockerfiles
@pytest.mark.parametrize("image", APP_IMAGES)
def test_app_images_are_multi_stage(image):
    stages = dockerfile(image)
    assert len(stages) >= 2, f"{image}.Dockerfile must build in a builder stage and run in a separate one"
    assert stages[0].name, "the builder stage needs an `AS` name for COPY --from"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_every_base_image_is_pinned_to_an_exact_version(image):
    earlier: set[str] = set()
    for stage in dockerfile(image):
        base = stage.base
        if base.lower() in earlier or base.lower() == "scratch":
            pass  # `FROM builder`: an earlier stage, not an image
        else:
            assert "$" not in base, f"FROM {base}: use a literal image so the pin is visible and checked"
            tag = image_tag(base)
            assert tag is not None, f"FROM {base}: untagged (that is `latest`); pin an exact version"
            assert tag != "latest", f"FROM {base}: pin an exact version, not latest"
            version = tag.split("-", 1)[0]
            assert EXACT_VERSION_TAG.match(version), f"FROM {base}: tag {tag!r} lacks an exact x.y.z version"
        if stage.name:
            earlier.add(stage.name)


@pytest.mark.parametrize("image", APP_IMAGES)
def test_builder_and_runtime_share_the_base_image(image):
    # The copied venv's interpreter is a symlink to the base image's /usr/local/bin/python.
    stages = dockerfile(image)
    builder = next(s for s in stages if s.name == "builder")
    assert final(image).base == builder.base, "the runtime stage must use the builder's base image"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_final_stage_runs_as_a_non_root_user_before_cmd(image):
    stage = final(image)
    cmd, user = stage.last("CMD"), stage.last("USER")
    assert cmd is not None, "the final stage needs a CMD"
    assert user is not None, "the final stage must switch to a non-root USER"
    name = user.args.split(":", 1)[0].strip()
    assert name not in ("root", "0", ""), f"USER {user.args} is root"
    assert stage_index(stage, user) < stage_index(stage, cmd), "USER must come before CMD"
    if name.isdigit():  # the uid must exist in /etc/passwd, or the process has no name and no HOME
        runs = " ".join(i.args for i in stage.all("RUN"))
        assert re.search(rf"useradd\s.*--uid {name}\b", runs), f"USER {name}: no `useradd --uid {name}` in this stage"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_cmd_and_entrypoint_are_exec_form(image):
    seen = 0
    for stage in dockerfile(image):
        for inst in stage.all("CMD") + stage.all("ENTRYPOINT"):
            exec_form(inst)
            seen += 1
    assert seen, f"{image}.Dockerfile has neither CMD nor ENTRYPOINT"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_healthcheck_is_exec_form_and_probes_the_exposed_port(image):
    stage = final(image)
    check = stage.last("HEALTHCHECK")
    assert check is not None, "the final stage needs a HEALTHCHECK (compose waits on service_healthy)"
    words = check.args.split()
    options = [w for w in words if w.startswith("--")]
    rest = check.args.split(None, len(options))[-1]
    assert rest.upper() != "NONE", "HEALTHCHECK NONE"
    keyword, _, array = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK {check.args!r}: expected `CMD [...]`"
    argv = exec_form(Instruction("HEALTHCHECK", array.strip(), check.line))
    assert argv[0] == "python", "slim images have no curl/wget: probe with python's urllib"
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", " ".join(argv))
    assert urls, f"HEALTHCHECK {argv}: no http://127.0.0.1:<port>/... URL"
    port, path = urls[0]
    expose = {p.split("/")[0] for inst in stage.all("EXPOSE") for p in inst.args.split()}
    assert port in expose, f"HEALTHCHECK probes port {port}, the image EXPOSEs {sorted(expose)}"
    if image in API_PORTS:
        assert path == "/health"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_only_allowed_files_are_copied_from_the_context(image):
    for stage in dockerfile(image):
        assert not stage.all("ADD"), "use COPY, not ADD (no remote URLs, no auto-extraction)"
        for inst in stage.all("COPY"):
            flags, words = split_flags(inst.args)
            if "from" in flags:
                continue  # from another stage, not from the build context
            assert len(words) >= 2, f"line {inst.line}: COPY needs a source and a destination"
            for source in words[:-1]:
                normalized = source.removeprefix("./").rstrip("/")
                assert normalized in COPYABLE, f"line {inst.line}: COPY {source}: only {sorted(COPYABLE)} may be copied"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_runtime_stage_takes_only_the_venv_from_the_builder(image):
    stage = final(image)
    copies = [split_flags(i.args) for i in stage.all("COPY")]
    assert copies, "the runtime stage must COPY the venv from the builder"
    for flags, words in copies:
        assert flags.get("from") == "builder", f"runtime COPY {words}: only `--from=builder` copies belong here"
        assert words == [VENV, VENV], f"runtime COPY {words}: copy {VENV} only"
    assert env_of(stage).get("PATH", "").startswith(f"{VENV}/bin:"), f"PATH must start with {VENV}/bin"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_builder_installs_pinned_requirements_then_the_project_without_deps(image):
    builder = dockerfile(image)[0]
    runs = [i.args for i in builder.all("RUN")]
    assert any(re.search(rf"python -m venv {VENV}\b", r) for r in runs), f"the builder must create {VENV}"
    installs = [r for r in runs if "pip install" in r]
    assert any("-r requirements.txt" in r for r in installs), "install the pinned requirements.txt"
    project = [r for r in installs if re.search(r"pip install .*(?<!\S)\.(?:\s|$)", r)]
    assert project, "install the project itself (`pip install --no-deps .`)"
    assert all("--no-deps" in r for r in project), "the project install must not resolve dependencies again"
    assert not any(re.search(r"(?<!\S)(-e|--editable)(?!\S)", r) for r in installs), "no editable installs"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_every_pip_install_skips_the_cache(image):
    for stage in dockerfile(image):
        for inst in stage.all("RUN"):
            for command in re.split(r"&&|;", inst.args):
                if "pip install" in command:
                    assert "--no-cache-dir" in command, f"line {inst.line}: pip install without --no-cache-dir"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_runtime_installs_libgomp_lean(image):
    runs = [i.args for i in final(image).all("RUN") if "apt-get install" in i.args]
    assert runs, "the runtime stage must apt-get install libgomp1 (XGBoost's OpenMP runtime)"
    for run in runs:
        assert re.search(r"apt-get install\s.*\blibgomp1\b", run), "libgomp1 is missing from apt-get install"
        assert "--no-install-recommends" in run
        assert "apt-get update" in run, "update and install in one layer (no stale package index)"
        assert "rm -rf /var/lib/apt/lists/*" in run, "clean the apt lists in the same layer"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_default_cmd_serves_the_api_and_the_command_is_overridable(image):
    stage = final(image)
    assert exec_form(stage.last("CMD")) == [
        "gunicorn",
        "-c",
        f"python:{image}.gunicorn_conf",
        f"{image}.api:create_app()",
    ]
    # With an ENTRYPOINT, `command: [python, -m, <svc>.worker]` would become its arguments.
    assert stage.last("ENTRYPOINT") is None, "no ENTRYPOINT: the worker runs by overriding the command"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_exposed_port_matches_fml_bind(image):
    stage = final(image)
    port = API_PORTS[image]
    assert env_of(stage).get("FML_BIND") == f"0.0.0.0:{port}", "bind every interface, on the API's port"
    expose = [p for inst in stage.all("EXPOSE") for p in inst.args.split()]
    assert [p.split("/")[0] for p in expose] == [str(port)]


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_runtime_environment_and_metadata(image):
    stage = final(image)
    env = env_of(stage)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1", "unbuffered: logs reach the collector at once"
    stop = stage.last("STOPSIGNAL")
    assert stop is not None and stop.args == "SIGTERM"
    workdir = stage.last("WORKDIR")
    assert workdir is not None and workdir.args.startswith("/")
    labels = " ".join(i.args for i in stage.all("LABEL"))
    for key in ("org.opencontainers.image.title", "org.opencontainers.image.description"):
        assert f"{key}=" in labels, f"OCI label {key} is missing"


def test_the_two_app_images_differ_only_by_service_name_and_port():
    trainer = [
        (i.keyword, i.args.replace("trainer", "predictor").replace("8081", "8080"))
        for stage in dockerfile("trainer")
        for i in [Instruction("FROM", f"{stage.base} {stage.name}", 0), *stage.instructions]
    ]
    predictor = [
        (i.keyword, i.args)
        for stage in dockerfile("predictor")
        for i in [Instruction("FROM", f"{stage.base} {stage.name}", 0), *stage.instructions]
    ]
    assert trainer == predictor, "docker/trainer.Dockerfile and docker/predictor.Dockerfile have drifted apart"


def test_ministack_image_pins_the_dev_requirement():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    args = [i.args for i in parse_dockerfile((DOCKER / "ministack.Dockerfile").read_text())[1][0].all("ARG")]
    assert f"MINISTACK_VERSION={pins['ministack']}" in args, (
        "ministack.Dockerfile's pin differs from requirements-dev.txt"
    )
    assert exec_form(final("ministack").last("CMD")) == ["python", "-m", "ministack"]
    assert env_of(final("ministack")).get("BIND_HOST") == "0.0.0.0", "listen beyond the container's loopback"


@pytest.mark.parametrize("image", APP_IMAGES)
def test_the_modules_the_image_runs_exist(image):
    package = ROOT / "src" / image
    assert (package / "__init__.py").is_file(), f"the {image} image runs src/{image}, which is no package"

    def module(name: str) -> Path | None:
        for path in (package / f"{name}.py", package / name / "__init__.py"):
            if path.is_file():
                return path
        return None

    for name in ("gunicorn_conf", "api", "worker"):
        assert module(name), f"the image runs {image}.{name}, which src/{image} lacks"
    assert re.search(r"^def create_app\(", module("api").read_text(), re.M), f"{image}.api has no create_app()"


# ---------------------------------------------------------------------------- .dockerignore
def dockerignore_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    assert path.is_file(), ".dockerignore is missing: the whole repository (.venv, .state, .git) would be sent"
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern (Go filepath.Match plus `**`) as a regex over a slash path."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(f"^{out}$")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context (moby's MatchesOrParentMatches)."""
    parents = path.split("/")
    matched = False
    for raw in patterns:
        exclusion = raw.startswith("!")
        pattern = raw.removeprefix("!").strip().strip("/")
        pattern = str(Path(pattern)) if pattern else pattern  # filepath.Clean: drop ./ and trailing /
        if exclusion != matched:
            continue
        regex = _pattern_regex(pattern)
        if any(regex.match("/".join(parents[: n + 1])) for n in range(len(parents))):
            matched = not exclusion
    return matched


def test_dockerignore_denies_by_default_and_reincludes_src():
    patterns = dockerignore_patterns()
    assert patterns[0] in ("*", "**"), "start with `*`: exclude everything, then re-include what the images need"
    assert "!src" in {p.rstrip("/") for p in patterns}, "re-include src/"


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "pyproject.toml",
        "src/trainer/api.py",
        "src/predictor/api.py",
        "src/fmlcore/core/settings.py",
    ],
)
def test_dockerignore_keeps_what_the_images_need(path):
    assert not ignored(path, dockerignore_patterns()), f"{path} is left out of the build context"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".state/local.env",
        ".state/terraform/local.tfstate",
        ".git/config",
        "tests/static/test_dockerfiles.py",
        "terraform/envs/aws/main.tf",
        "Makefile",
        "src/fmlcore/__pycache__/settings.cpython-311.pyc",
        "src/fargate_ml.egg-info/PKG-INFO",
        "src/trainer/.pytest_cache/README.md",
    ],
)
def test_dockerignore_drops_everything_else(path):
    assert ignored(path, dockerignore_patterns()), f"{path} would be sent to the Docker daemon"


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_every_copied_source_survives_dockerignore(image):
    patterns = dockerignore_patterns()
    for stage in dockerfile(image):
        for inst in stage.all("COPY"):
            flags, words = split_flags(inst.args)
            if "from" in flags:
                continue
            for source in words[:-1]:
                probe = source.removeprefix("./").rstrip("/")
                probe = f"{probe}/x.py" if source.endswith("/") else probe
                assert not ignored(probe, patterns), f"line {inst.line}: COPY {source}, but .dockerignore drops it"


# ---------------------------------------------------------------------------- compose
APP_SERVICES = {f"{svc}-{role}": (svc, role) for svc in APP_IMAGES for role in ("api", "worker")}


@cache
def compose() -> dict:
    assert COMPOSE.is_file(), f"{COMPOSE} is missing"
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict:
    services = compose().get("services") or {}
    assert name in services, f"compose has no service {name!r}"
    return services[name]


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def seconds(duration: str) -> float:
    """A compose duration (`1m30s`, `60s`, `90`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)?", str(duration))
    return sum(float(n) * units[u or "s"] for n, u in parts)


def test_compose_has_the_emulator_and_the_four_app_services():
    services = set(compose().get("services") or {})
    missing = ({"ministack"} | set(APP_SERVICES)) - services
    assert not missing, f"compose lacks {sorted(missing)}"


@pytest.mark.parametrize("name", ["ministack", *APP_SERVICES])
def test_compose_builds_from_the_repo_root_with_an_existing_dockerfile(name):
    build = service(name).get("build")
    assert isinstance(build, dict), f"{name}: `build` needs a context and a dockerfile"
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    assert context == ROOT, f"{name}: the build context must be the repository root (.dockerignore lives there)"
    dockerfile_path = context / build["dockerfile"]
    assert dockerfile_path.is_file(), f"{name}: {build['dockerfile']} does not exist"
    expected = "ministack" if name == "ministack" else APP_SERVICES[name][0]
    assert dockerfile_path == DOCKER / f"{expected}.Dockerfile"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_runs_the_api_by_default_and_the_worker_by_command(name):
    svc_name, role = APP_SERVICES[name]
    svc = service(name)
    assert "entrypoint" not in svc
    if role == "api":
        assert "command" not in svc, f"{name}: the image's CMD is the API"
    else:
        command = svc.get("command")
        assert isinstance(command, list), f"{name}: command must be a list (exec form), not {command!r}"
        assert command == ["python", "-m", f"{svc_name}.worker"]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_app_services_wait_for_a_healthy_emulator(name):
    depends = service(name).get("depends_on")
    assert isinstance(depends, dict) and "ministack" in depends, f"{name}: depends_on ministack (long syntax)"
    assert depends["ministack"].get("condition") == "service_healthy"


def test_compose_emulator_has_a_healthcheck():
    # service_healthy needs one: in compose, or the image's HEALTHCHECK.
    check = service("ministack").get("healthcheck")
    if check is None:
        assert final("ministack").last("HEALTHCHECK") is not None, "ministack has no healthcheck"
    else:
        assert not check.get("disable"), "ministack's healthcheck is disabled"
        assert "_ministack/health" in json.dumps(check.get("test"))


@pytest.mark.parametrize("name", ["ministack", *APP_SERVICES])
def test_compose_publishes_ports_on_loopback_only(name):
    for port in service(name).get("ports") or []:
        if isinstance(port, dict):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} is published on every interface"
        else:
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port!r} is published on every interface"


@pytest.mark.parametrize("svc_name", APP_IMAGES)
def test_compose_api_ports_match_the_image(svc_name):
    port = API_PORTS[svc_name]
    assert service(f"{svc_name}-api").get("ports") == [f"127.0.0.1:{port}:{port}"]
    assert not service(f"{svc_name}-worker").get("ports"), "workers listen on no port"


@pytest.mark.parametrize("svc_name", APP_IMAGES)
def test_compose_workers_stop_gracefully_and_skip_the_api_healthcheck(svc_name):
    worker = service(f"{svc_name}-worker")
    grace = worker.get("stop_grace_period")
    assert grace is not None, "a worker needs time to finish or release its job on SIGTERM"
    assert seconds(grace) >= 60, f"stop_grace_period {grace}: give a job 60 s to finish or be released"
    # The image's HEALTHCHECK probes the API port; a worker has none and would show unhealthy.
    assert (worker.get("healthcheck") or {}).get("disable") is True


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_app_services_target_the_emulator(name):
    svc = service(name)
    env = environment(svc)
    assert env.get("FML_TARGET") == "local"
    assert env.get("LOCALSTACK_HOST") == "ministack:4566", "reach the emulator by its service name"
    assert env.get("AWS_REGION")
    env_files = svc.get("env_file")
    env_files = [env_files] if isinstance(env_files, str | dict) else env_files or []
    paths = [(COMPOSE.parent / (f["path"] if isinstance(f, dict) else f)).resolve() for f in env_files]
    assert ROOT / ".state" / "local.env" in paths, f"{name}: env_file must be the stack's .state/local.env"
    assert svc.get("init") is True, f"{name}: init: true (an init as PID 1 forwards signals, reaps children)"
