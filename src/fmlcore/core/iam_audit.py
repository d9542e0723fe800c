"""Which IAM actions a process's AWS calls need: a botocore hook that records them, and the
mapping from API operation to IAM action that `make iam-report` sets beside the policies.

With FML_IAM_AUDIT_DIR set, every client of a process appends one JSON line per answered
call to `<dir>/<pid>.jsonl`: the caller (the role's session ARN), the operation, the
parameters that decide the IAM action (bucket, key, version) and the HTTP status. A call that
IAM refused (403) is recorded too, so the report can tell used from refused.

Standard library and botocore only: the enqueue Lambda imports it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

# Operations whose IAM action is not "<service>:<operation>". S3 object reads name the
# version action when they address a version; copies also read their source.
_S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "DeleteObject": "s3:DeleteObject",
}
_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}
# Calls any authenticated principal may make, whatever its policies.
UNCONDITIONAL = frozenset({"sts:GetCallerIdentity"})


def iam_actions(call: dict[str, Any]) -> list[str]:
    """The IAM actions one recorded call needed (empty for calls no policy governs)."""
    service, operation = call["service"], call["operation"]
    if service == "s3":
        action = _S3_ACTIONS.get(operation, f"s3:{operation}")
        if call.get("version"):
            action = _VERSIONED.get(action, action)
        actions = [action]
        if operation == "CopyObject":
            actions.append("s3:GetObjectVersion" if call.get("source_version") else "s3:GetObject")
        return actions
    action = f"{service}:{operation}"
    return [] if action in UNCONDITIONAL else [action]


def role_of(caller: str) -> str:
    """The role name of a session ARN (arn:aws:sts::<acct>:assumed-role/<role>/<session>) or of
    a role ARN (arn:aws:iam::<acct>:role/<role>, what a process knows before it asks STS)."""
    for marker in (":assumed-role/", ":role/"):
        if marker in caller:
            return caller.split(marker, 1)[1].split("/", 1)[0]
    return caller


class Recorder:
    """Appends the calls of every client it is attached to, one JSON line each."""

    def __init__(self, path: Path, caller: str) -> None:
        self.path = path
        self.caller = caller
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> Recorder | None:
        if not settings.iam_audit_dir:
            return None
        folder = Path(settings.iam_audit_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / f"{os.getpid()}.jsonl", settings.role_arn or "unknown")

    def attach(self, client: Any) -> None:
        # before-parameter-build sees the call's own parameters (before-call sees the wire form).
        client.meta.events.register("before-parameter-build", self._before)
        client.meta.events.register("after-call", self._after)

    @staticmethod
    def _before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        source = params.get("CopySource")
        context["fml_audit"] = {
            "bucket": params.get("Bucket"),
            "key": params.get("Key"),
            "version": bool(params.get("VersionId")),
            "source_version": isinstance(source, dict) and bool(source.get("VersionId")),
            "queue": params.get("QueueUrl"),
        }

    def _after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        call = {
            "caller": self.caller,
            "service": model.service_model.endpoint_prefix,
            "operation": model.name,
            "status": getattr(http_response, "status_code", None),
            **context.get("fml_audit", {}),
        }
        line = json.dumps(call) + "\n"
        with self._lock, self.path.open("a") as out:
            out.write(line)


def read_calls(folder: Path) -> list[dict[str, Any]]:
    """Every call recorded under `folder`."""
    calls = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                calls.append(json.loads(line))
    return calls


def coverage(calls: list[dict[str, Any]], granted: dict[str, list[str]], role_names: dict[str, str]) -> dict:
    """Per workload: actions used (allowed calls), refused (403), granted, and granted-but-unused."""
    by_role: dict[str, dict[str, Any]] = {}
    name_to_workload = {name: workload for workload, name in role_names.items()}
    for call in calls:
        workload = name_to_workload.get(role_of(call["caller"]))
        if workload is None:
            continue
        entry = by_role.setdefault(workload, {"used": {}, "refused": {}})
        bucket = "refused" if call.get("status") == 403 else "used"
        for action in iam_actions(call):
            entry[bucket][action] = entry[bucket].get(action, 0) + 1
    report = {}
    for workload, actions in granted.items():
        entry = by_role.get(workload, {"used": {}, "refused": {}})
        report[workload] = {
            "granted": sorted(actions),
            "used": dict(sorted(entry["used"].items())),
            "refused": dict(sorted(entry["refused"].items())),
            "unused": sorted(set(actions) - set(entry["used"])),
            "used_not_granted": sorted(set(entry["used"]) - set(actions)),
        }
    return report


def render(report: dict[str, dict[str, Any]]) -> str:
    """The coverage report as a Markdown table (docs/aws.md carries one)."""
    rows = [
        "| role | used by the code (calls) | granted, not used: candidates to remove | refused (403) |",
        "|---|---|---|---|",
    ]
    for workload, entry in report.items():
        used = ", ".join(f"{a} ({n})" for a, n in entry["used"].items()) or "no calls recorded"
        refused = ", ".join(f"{a} ({n})" for a, n in entry["refused"].items()) or "-"
        rows.append(f"| {workload} | {used} | {', '.join(entry['unused']) or '-'} | {refused} |")
    notes = [
        f"- {workload}: used but not granted (allowed by another route?): {', '.join(entry['used_not_granted'])}"
        for workload, entry in report.items()
        if entry["used_not_granted"]
    ]
    return "\n".join(rows + (["", *notes] if notes else [])) + "\n"


def main(argv: list[str]) -> int:
    """`python -m fmlcore.core.iam_audit OUTPUTS_JSON AUDIT_DIR`: print the coverage report."""
    outputs = json.loads(Path(argv[1]).read_text())
    value = {name: out["value"] for name, out in outputs.items()}
    role_arns = {**value["roles"], "user": value["user_role_arn"]}
    names = {workload: arn.rsplit("/", 1)[-1] for workload, arn in role_arns.items()}
    folder = Path(argv[2])
    calls = read_calls(folder) if folder.is_dir() else []
    sys.stdout.write(f"IAM coverage: {len(calls)} AWS calls recorded under {folder}\n\n")
    sys.stdout.write(render(coverage(calls, value["role_actions"], names)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
