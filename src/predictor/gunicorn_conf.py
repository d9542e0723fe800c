"""gunicorn config of the predictor API: `gunicorn -c python:predictor.gunicorn_conf 'predictor.api:create_app()'`."""

from fmlcore.web.gunicorn import gunicorn_settings

globals().update(gunicorn_settings(default_bind="127.0.0.1:8080"))
