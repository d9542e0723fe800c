"""The trainer API's OpenAPI 3 document (tests check it lists exactly the app's routes)."""

from fmlcore.jobs.options import openapi_properties
from fmlcore.web.openapi import MODEL, document, error_responses, ok, path_param, request_body

TRAIN_OPTIONS = openapi_properties("train")  # declared in fmlcore.jobs.options
QUERY_OPTIONS = [
    {"name": k, "in": "query", "required": False, "schema": {"type": "string"}, "description": f"as JSON field {k!r}"}
    for k in TRAIN_OPTIONS
]
TRAIN_RESULT = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "version": {"type": "string", "description": "S3 VersionId of the new model.ubj"},
        "objective": {"type": "string"},
        "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
        "rows": {"type": "integer"},
        "job_id": {"type": "string"},
    },
}
JOB_ID = path_param("job_id", "train-<32 hex>")
VERSION = path_param("version", "S3 VersionId of the model object")

SPEC = document(
    "fargate-ml trainer",
    "Train XGBoost models into the versioned models bucket, list and roll back versions.",
    {
        "/models/{model}/train": {
            "post": {
                "summary": "Train a new model version (synchronously within a budget, else 202 + job)",
                "parameters": [MODEL, *QUERY_OPTIONS],
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["dataset"],
                        "properties": {
                            "dataset": {"type": "string", "example": "s3://bucket/churn/data.csv"},
                            "dataset_version": {"type": "string"},
                            **TRAIN_OPTIONS,
                        },
                        "additionalProperties": False,
                    },
                    {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    },
                ),
                "responses": {
                    **ok("trained", {"$ref": "#/components/schemas/TrainResult"}, 201),
                    **ok("over the synchronous budget: queued", {"type": "object"}, 202),
                    **error_responses(400, 413, 415),
                },
            }
        },
        "/models": {"get": {"summary": "Models with their latest version", "responses": ok("models")}},
        "/models/{model}/versions": {
            "get": {
                "summary": "Versions, newest first, with metrics",
                "parameters": [
                    MODEL,
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {**ok("versions"), **error_responses(400, 404)},
            }
        },
        "/models/{model}/versions/{version}": {
            "get": {
                "summary": "One version's full metadata",
                "parameters": [MODEL, VERSION],
                "responses": {**ok("metadata"), **error_responses(400, 404)},
            }
        },
        "/models/{model}/rollback": {
            "post": {
                "summary": "Copy an old version on top (a new, traceable version)",
                "parameters": [MODEL],
                "requestBody": request_body(
                    {"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}
                ),
                "responses": {**ok("rolled back", code=201), **error_responses(400, 404)},
            }
        },
        "/training-jobs/{job_id}": {
            "get": {
                "summary": "A training job's status record",
                "parameters": [JOB_ID],
                "responses": {**ok("status record"), **error_responses(404)},
            }
        },
    },
    {"TrainResult": TRAIN_RESULT},
)
