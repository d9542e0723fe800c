"""The predictor API's OpenAPI 3 document (tests check it lists exactly the app's routes)."""

from fmlcore.web.openapi import MODEL, document, error_responses, ok, path_param, request_body

CHURN_RECORD = {
    "tenure_months": 42,
    "monthly_charges": 69.07,
    "support_calls": 0,
    "contract": "two-year",
    "payment_method": "mailed-check",
    "has_internet": "yes",
}
PREDICTION = {
    "type": "object",
    "properties": {
        "prediction": {"description": "class label (classifiers) or value (regressors)"},
        "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}
RESPONSE = {
    "type": "object",
    "properties": {
        "prediction_id": {"type": "string"},
        "model": {"type": "string"},
        "model_version": {"type": "string"},
        "alias": {"type": "string", "description": "the alias that chose the version (absent when pinned)"},
        "predictions": {"type": "array", "items": PREDICTION},
        "stored_uri": {"type": "string"},
    },
}

SHADOW_REPORT = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "since": {"type": "string"},
        "until": {"type": "string"},
        "requests_compared": {"type": "integer"},
        "predictions_compared": {"type": "integer"},
        "labels_equal_share": {"type": "number", "nullable": True, "description": "classifiers only"},
        "abs_delta": {
            "type": "object",
            "nullable": True,
            "description": "|live - shadow| per row: of the class probabilities (largest over classes) or the value",
            "properties": {
                "of": {"type": "string", "enum": ["probability", "value", "mixed"]},
                "mean": {"type": "number"},
                "p95": {"type": "number"},
                "max": {"type": "number"},
            },
        },
        "live_versions": {"type": "object"},
        "shadow_versions": {"type": "object"},
        "shadow_errors": {"type": "integer", "description": "requests the shadow version could not score"},
        "objects_read": {"type": "integer"},
        "truncated": {"type": "boolean", "description": "more objects than FML_SHADOW_REPORT_MAX_OBJECTS"},
    },
}

SPEC = document(
    "fargate-ml predictor",
    "Online predictions (returned and stored) and batch prediction job status.",
    {
        "/models/{model}/predict": {
            "post": {
                "summary": "Predict; the inputs and outputs are stored before the answer",
                "parameters": [
                    MODEL,
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "a model version (S3 VersionId); default: the version alias `live` points at",
                    },
                    {
                        "name": "alias",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "default": "live"},
                        "description": "serve the version this alias points at (not with `version`)",
                    },
                    {
                        "name": "explain",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean"},
                        "description": "add each prediction's TreeSHAP contributions (margin space, plus bias)",
                    },
                ],
                "requestBody": request_body(
                    {
                        "type": "object",
                        "properties": {
                            "instances": {"type": "array", "items": {"type": "array"}, "minItems": 1},
                            "records": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                            "version": {"type": "string"},
                            "alias": {"type": "string"},
                            "explain": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    },
                    {
                        "text/csv": {
                            "schema": {"type": "string"},
                            "example": ",".join(CHURN_RECORD) + "\n" + ",".join(map(str, CHURN_RECORD.values())) + "\n",
                        }
                    },
                    # For the churn model of the README and the demo (samples/churn.csv).
                    examples={
                        "records": {"value": {"records": [CHURN_RECORD]}},
                        "instances": {"value": {"instances": [list(CHURN_RECORD.values())]}},
                    },
                ),
                "responses": {
                    **ok("predictions", {"$ref": "#/components/schemas/PredictResponse"}),
                    **error_responses(400, 404, 413, 415),
                },
            }
        },
        "/models/{model}/shadow-report": {
            "get": {
                "summary": "Live against `shadow` over the stored online predictions since a time",
                "parameters": [
                    MODEL,
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "ISO 8601 date or time (UTC unless zoned); default 24 hours ago, at most 31 days",
                    },
                ],
                "responses": {
                    **ok("the comparison", {"$ref": "#/components/schemas/ShadowReport"}),
                    **error_responses(400),
                },
            }
        },
        "/predictions/{prediction_id}": {
            "get": {
                "summary": "A stored online prediction",
                "parameters": [path_param("prediction_id", "<yyyymmdd>-<32 hex>-<model>")],
                "responses": {**ok("the stored request and response"), **error_responses(404)},
            }
        },
        "/prediction-jobs/{job_id}": {
            "get": {
                "summary": "A batch prediction job's status record",
                "parameters": [path_param("job_id", "predict-<32 hex>")],
                "responses": {**ok("status record"), **error_responses(404)},
            }
        },
    },
    {"PredictResponse": RESPONSE, "ShadowReport": SHADOW_REPORT},
)
