"""What a function builds once per container and reuses while it is warm: settings, JSON logs,
clients under the function's execution role, and the objects its handler needs."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fmlcore.core.aws import AwsClients
from fmlcore.core.logs import configure_logging
from fmlcore.core.settings import Settings


def warm(cache: dict[str, Any], build: Callable[[Settings, AwsClients], dict[str, Any]]) -> dict[str, Any]:
    """`cache`, filled by `build(settings, clients)` on the container's first invocation."""
    if not cache:
        settings = Settings.from_env(os.environ)
        configure_logging(settings.log_level)
        clients = AwsClients(settings)
        clients.log_identity()  # the function's execution role, as Lambda hands it over
        cache.update(build(settings, clients))
    return cache
