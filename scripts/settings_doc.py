"""Write docs/settings.md from fmlcore.core.settings (run after adding a setting; a unit test checks it)."""

import sys
from pathlib import Path

from fmlcore.core.settings import Settings

HEADER = """# Settings

Every environment variable fargate-ml reads (`src/fmlcore/core/settings.py` is the one place they are
mapped; `tests/unit/fmlcore/core/test_settings.py` keeps this page complete; regenerate it with
`.venv/bin/python scripts/settings_doc.py`). Locally `make` sets the bucket, queue and role names
from the Terraform outputs (`.state/local.env`), and each process's `FML_ROLE_ARN` from its
workload's `FML_ROLE_ARN_<WORKLOAD>` there. Credentials are read as by any AWS SDK
(`AWS_ACCESS_KEY_ID`, ..., the ECS task role); locally they are the emulator's account root,
used only to assume roles.

| variable | meaning | default |
|---|---|---|
"""


def render() -> str:
    rows = [
        f"| `{env}` | {help} | {'' if default is None else f'`{default}`'} |"
        for env, help, default in Settings.documented()
    ]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1] if len(sys.argv) > 1 else "docs/settings.md").write_text(render())
