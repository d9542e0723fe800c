"""The bench model served by BentoML (`bentoml serve peers_bento_service:XGBoostService`), for bench/peers.py.

Runs in bench/.peers-venv only. Same work per request as the naive baseline: DataFrame from
the records, the booster's categories, `inplace_predict`. Two worker processes, like the
predictor's gunicorn.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
import pandas as pd
import xgboost as xgb


@bentoml.service(workers=2, traffic={"timeout": 30})
class XGBoostService:
    def __init__(self) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(os.environ["BENCH_MODEL_PATH"])
        self.names = list(self.booster.feature_names or [])
        self.categories = json.loads(self.booster.attr("fml_metadata") or "{}").get("categories", {})

    @bentoml.api
    def predict(self, records: list[dict[str, Any]]) -> list[float]:
        frame = pd.DataFrame.from_records(records, columns=self.names)
        for name, cats in self.categories.items():
            frame[name] = pd.Categorical(frame[name], categories=cats)
        return self.booster.inplace_predict(frame).tolist()
