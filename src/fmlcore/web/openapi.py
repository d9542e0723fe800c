"""Small builders for the services' OpenAPI 3 documents (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "details"],
            "properties": {
                "type": {"type": "string", "example": "InvalidInput"},
                "message": {"type": "string"},
                "details": {"type": "object"},
                "request_id": {"type": "string"},
            },
        }
    },
}


def error_responses(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: the message names the problem",
        404: "No such model, version, alias, job or prediction",
        409: "Clashes with the current state (an alias moved meanwhile, removing `live`, nothing to roll back to)",
        413: "Body over the size limit",
        415: "Unsupported content type",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def ok(description: str, schema: dict[str, Any] | None = None, code: int = 200) -> dict[str, Any]:
    return {
        str(code): {
            "description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}},
        }
    }


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


MODEL = path_param("model", "model name: [a-z0-9][a-z0-9_-]{0,63}")
MODEL["schema"] = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}

PROBES = {
    "/health": {"get": {"summary": "The process is up", "responses": ok("up")}},
    "/ready": {
        "get": {
            "summary": "The service's buckets are reachable",
            "responses": {**ok("ready"), **ok("not ready: the failing check is named", code=503)},
        }
    },
    "/openapi.json": {"get": {"summary": "This document", "responses": ok("the OpenAPI document")}},
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics, summed over the service's worker processes (scraped inside the VPC)",
            "responses": {
                "200": {
                    "description": "the Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
}


def request_body(
    json_schema: dict[str, Any], others: dict[str, Any] | None = None, **json_extra: Any
) -> dict[str, Any]:
    """A required request body: JSON of `json_schema` (with `json_extra` such as examples), and
    `others` (media type → its entry, e.g. text/csv)."""
    return {"required": True, "content": {"application/json": {"schema": json_schema, **json_extra}, **(others or {})}}


def document(title: str, description: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1", "description": description},
        "paths": {**paths, **PROBES},
        "components": {"schemas": {"Error": ERROR, **schemas}},
    }
