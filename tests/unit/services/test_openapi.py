"""The OpenAPI documents list exactly the routes each app serves (no AWS call is made)."""

import re

import pytest

from tests.apps import SERVICES, build_app


@pytest.mark.parametrize("service", SERVICES)
def test_spec_and_routes_agree(service):
    app = build_app(service)
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    spec = app.test_client().get("/openapi.json").get_json()
    documented = {path: set(ops) for path, ops in spec["paths"].items()}
    assert documented == routes
    assert spec["openapi"].startswith("3.")
    for path, ops in spec["paths"].items():
        for op in ops.values():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), path


def test_errors_are_json_with_the_shared_shape():
    client = build_app("trainer", stub_clients=False).test_client()
    resp = client.get("/no/such/route")
    assert resp.status_code == 404 and resp.get_json()["error"]["type"] == "NotFound"
    resp = client.post("/models/Bad Name/train", data=b"a,b\n1,2\n", content_type="text/csv")
    assert resp.status_code == 400 and "invalid model name" in resp.get_json()["error"]["message"]
    resp = client.delete("/models")
    assert resp.status_code == 405 and resp.get_json()["error"]["type"] == "MethodNotAllowed"
    assert resp.headers["X-Request-Id"]


def test_predictor_rejects_impossible_ids_and_odd_versions_without_a_500():
    client = build_app("predictor", stub_clients=False).test_client()
    resp = client.get(f"/predictions/20261399-{'0' * 32}-churn")
    assert resp.status_code == 404 and resp.get_json()["error"]["type"] == "NotFound"
    resp = client.post("/models/churn/predict", json={"records": [{"a": 1}], "version": [1, 2]})
    assert resp.status_code == 400 and "version" in resp.get_json()["error"]["message"]
