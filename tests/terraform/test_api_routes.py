"""The HTTP API's routes in Terraform are the routes the Flask apps serve.

API Gateway learns its routes from `local.services` in terraform/envs/aws/services.tf (each
service's `routes`, "METHOD /path/{param}"); the apps declare theirs with Flask. This test
reads the first with python-hcl2 and compares them with each app's url_map, so a route added,
renamed or removed on one side only fails here instead of answering 404 behind API Gateway.
The apps are built by tests/apps.py, on stub AWS clients: no AWS call is made.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.apps import build_app
from tests.terraform.test_module_wiring import CALLS, TERRAFORM, blocks

API_GATEWAY = TERRAFORM / "modules" / "api_gateway"
# Served by every app but not through API Gateway: the load balancer's health checks and the
# OpenAPI document (fmlcore.web.http.register_common), and Flask's static files.
UNROUTED_BLUEPRINTS = frozenset({"probes"})
UNROUTED_ENDPOINTS = frozenset({"static"})
# Methods Flask adds to every rule by itself; API Gateway routes name the ones the app implements.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})


def terraform_routes() -> dict[str, set[str]]:
    """Route keys by service, as the API Gateway call in the tree gets them.

    The call builds its `integrations` from `local.services` (one per service, `routes =
    svc.routes`); this reads that local in the calling directory.
    """
    gateways = [c for c in CALLS if c.target == API_GATEWAY]
    assert len(gateways) == 1, f"expected one call of modules/api_gateway, found {[str(c) for c in gateways]}"
    call = gateways[0]
    integrations = call.body["integrations"]
    assert re.search(r"for\s+(\w+)\s*,\s*(\w+)\s+in\s+local\.services\b", integrations), integrations
    assert re.search(r"routes\s*=\s*\w+\.routes\b", integrations), integrations
    services: dict[str, Any] = next(value for name, value in blocks(call.caller, "locals") if name == "services")
    return {name: set(service["routes"]) for name, service in services.items()}


def api_gateway_path(rule: str) -> str:
    """A Flask rule as an API Gateway path: `<var>` and `<int:var>` -> `{var}`, `<path:var>` -> `{var+}`."""

    def param(match: re.Match[str]) -> str:
        converter, name = match["converter"], match["name"]
        return f"{{{name}+}}" if converter == "path" else f"{{{name}}}"

    return re.sub(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>", param, rule)


def flask_routes(app: Flask) -> set[str]:
    """Route keys ("METHOD /path/{param}") of what `app` serves to API clients."""
    routes = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.endpoint in UNROUTED_ENDPOINTS or blueprint in UNROUTED_BLUEPRINTS:
            continue
        routes |= {f"{method} {api_gateway_path(rule.rule)}" for method in rule.methods - IMPLICIT_METHODS}
    return routes


def route_differences(terraform: set[str], flask: set[str]) -> dict[str, list[str]]:
    """What one side has and the other lacks; empty when they agree."""
    differences = {
        "served by Flask, missing from Terraform": sorted(flask - terraform),
        "in Terraform, served by no Flask route": sorted(terraform - flask),
    }
    return {what: routes for what, routes in differences.items() if routes}


TERRAFORM_ROUTES = terraform_routes()


def test_terraform_routes_are_read():
    """Guards against a vacuous pass: both services, each with routes in API Gateway's form."""
    assert set(TERRAFORM_ROUTES) == {"trainer", "predictor"}
    for routes in TERRAFORM_ROUTES.values():
        assert routes and all(re.fullmatch(r"[A-Z]+ /\S*", route) for route in routes), routes


@pytest.mark.parametrize("service", sorted(TERRAFORM_ROUTES))
def test_api_gateway_routes_are_the_routes_the_app_serves(service):
    app = build_app(service)
    differences = route_differences(TERRAFORM_ROUTES[service], flask_routes(app))
    assert not differences, f"{service}: terraform/envs/aws/services.tf and {service}.api disagree: {differences}"


# ---------------------------------------------------------------------------- the comparison itself
def test_a_route_missing_from_terraform_and_an_extra_one_are_flagged():
    """Positive control: the comparison is not blind to a difference on either side."""
    flask = flask_routes(build_app("predictor"))
    dropped = sorted(flask)[0]
    terraform = (flask - {dropped}) | {"DELETE /models/{model}"}
    assert route_differences(terraform, flask) == {
        "served by Flask, missing from Terraform": [dropped],
        "in Terraform, served by no Flask route": ["DELETE /models/{model}"],
    }
    assert route_differences(flask, flask) == {}


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ("/models", "/models"),
        ("/models/<model>/versions/<version>", "/models/{model}/versions/{version}"),
        ("/items/<int:item_id>", "/items/{item_id}"),
        ("/files/<path:key>", "/files/{key+}"),
        ("/x/<string(length=2):code>", "/x/{code}"),
    ],
)
def test_flask_rules_become_api_gateway_paths(rule, path):
    assert api_gateway_path(rule) == path


def test_probes_and_static_files_are_not_routes():
    app = Flask("probe")
    app.add_url_rule("/health", "probes.health", lambda: "ok")
    app.add_url_rule("/models/<model>/train", "trainer.train_model", lambda model: "", methods=["POST"])
    assert flask_routes(app) == {"POST /models/{model}/train"}
