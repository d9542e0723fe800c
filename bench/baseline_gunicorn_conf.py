"""gunicorn config of the naive baseline: exactly the predictor's settings (fmlcore.web.gunicorn)."""

from fmlcore.web.gunicorn import gunicorn_settings

globals().update(gunicorn_settings(default_bind="127.0.0.1:18082"))
