"""gunicorn config of the trainer API: `gunicorn -c python:trainer.gunicorn_conf 'trainer.api:create_app()'`."""

from fmlcore.web.gunicorn import gunicorn_settings

globals().update(gunicorn_settings(default_bind="127.0.0.1:8081"))
