"""The naive limit: Flask + `inplace_predict`, no validation, no storage, the same model file.

What a user would write in ten minutes, and what the predictor is measured against:
load the booster once from a local `.ubj`, build a DataFrame from the JSON records, give
the categorical columns the booster's categories, `inplace_predict`, return the numbers.

Served by gunicorn with the predictor's own settings (bench/baseline_gunicorn_conf.py takes
them from fmlcore.web.gunicorn.gunicorn_settings), so worker class, workers, threads, keep-alive
and worker recycling are the same on both sides:

    BENCH_MODEL_PATH=model.ubj FML_BIND=127.0.0.1:18082 \\
      gunicorn -c bench/baseline_gunicorn_conf.py --pythonpath bench 'baseline_app:create_app()'
"""

from __future__ import annotations

import json
import os

import pandas as pd
import xgboost as xgb
from flask import Flask, jsonify, request


def create_app(model_path: str | None = None) -> Flask:
    booster = xgb.Booster()
    booster.load_model(model_path or os.environ["BENCH_MODEL_PATH"])
    names = list(booster.feature_names or [])
    categories = json.loads(booster.attr("fml_metadata") or "{}").get("categories", {})
    app = Flask("baseline")

    @app.post("/models/<model>/predict")
    def predict(model: str):
        frame = pd.DataFrame.from_records(request.get_json()["records"], columns=names)
        for name, cats in categories.items():
            frame[name] = pd.Categorical(frame[name], categories=cats)
        return jsonify({"predictions": booster.inplace_predict(frame).tolist()})

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
