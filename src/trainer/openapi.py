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
        "promotion": {"$ref": "#/components/schemas/Promotion"},
    },
}
PROMOTION = {
    "type": "object",
    "description": "whether the new version became `live` (it is `candidate` either way), and why",
    "properties": {
        "promoted": {"type": "boolean"},
        "alias": {"type": "string", "example": "live"},
        "reason": {"type": "string"},
        "metric": {"type": "string", "example": "auc"},
        "candidate_metric": {"type": "number", "description": "the new version on its holdout"},
        "live_metric": {"type": "number", "description": "the live version on the same rows"},
        "live_version": {"type": "string"},
        "sets": {
            "type": "array",
            "description": "each reference set judged: candidate_holdout, live_reference",
            "items": {"type": "object"},
        },
    },
}
ALIAS = path_param("alias", "1-32 of a-z, 0-9, _ and -: live, candidate, shadow or your own")
ALIAS_RECORD = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "alias": {"type": "string"},
        "version": {"type": "string"},
        "previous_version": {"type": "string", "nullable": True},
        "moved_at": {"type": "string", "format": "date-time"},
        "by": {"type": "object", "description": "the job or request that moved it"},
        "reason": {"type": "string"},
    },
}
JOB_ID = path_param("job_id", "train-<32 hex>")
VERSION = path_param("version", "S3 VersionId of the model object")

SPEC = document(
    "fargate-ml trainer",
    "Train XGBoost models into the versioned models bucket; promote versions through aliases (`live`, "
    "`candidate`, `shadow`) with a metric gate; list versions, move aliases, roll back.",
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
        "/models": {
            "get": {
                "summary": "Models with their live and latest versions and their aliases",
                "responses": ok("models"),
            }
        },
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
        "/models/{model}/aliases": {
            "get": {
                "summary": "The model's aliases: {alias: version}",
                "parameters": [MODEL],
                "responses": {**ok("aliases"), **error_responses(400, 404)},
            }
        },
        "/models/{model}/aliases/{alias}": {
            "put": {
                "summary": "Point an alias at a version (promote by hand; `live` is what the predictor serves)",
                "parameters": [MODEL, ALIAS],
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {"version": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}},
                    }
                ),
                "responses": {
                    **ok("the alias as moved", {"$ref": "#/components/schemas/Alias"}),
                    **error_responses(400, 404, 409),
                },
            },
            "delete": {
                "summary": "Remove an alias (not `live`); its history stays",
                "parameters": [MODEL, ALIAS],
                "responses": {**ok("removed"), **error_responses(400, 404, 409)},
            },
        },
        "/models/{model}/aliases/{alias}/history": {
            "get": {
                "summary": "The alias's moves, newest first (from the alias object's S3 versions)",
                "parameters": [
                    MODEL,
                    ALIAS,
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {**ok("history"), **error_responses(400, 404)},
            }
        },
        "/models/{model}/rollback": {
            "post": {
                "summary": "Move `live` back: to the version named, else to the one it pointed at before (no copy)",
                "parameters": [MODEL],
                "requestBody": request_body({"type": "object", "properties": {"version": {"type": "string"}}}),
                "responses": {
                    **ok("the live alias as moved", {"$ref": "#/components/schemas/Alias"}),
                    **error_responses(400, 404, 409),
                },
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
    {"TrainResult": TRAIN_RESULT, "Promotion": PROMOTION, "Alias": ALIAS_RECORD},
)
