import pytest

from fmlcore.core.errors import ConfigError
from fmlcore.core.settings import Settings
from fmldev.stack import env_from_outputs


def test_settings_come_from_the_environment_with_defaults():
    s = Settings.from_env({"FML_TARGET": "local", "AWS_DEFAULT_REGION": "eu-west-1", "FML_MODELS_BUCKET": "m"})
    assert (s.target, s.region, s.models_bucket, s.datasets_bucket) == ("local", "eu-west-1", "m", None)


def test_missing_setting_names_its_variable():
    with pytest.raises(ConfigError, match="FML_TRAIN_QUEUE_URL"):
        Settings.from_env({}).require("train_queue_url")


def test_bad_target_is_rejected():
    with pytest.raises(ConfigError, match="FML_TARGET"):
        Settings.from_env({"FML_TARGET": "prod"})


def test_terraform_outputs_map_to_settings():
    outputs = {
        "buckets": {"value": {"datasets": "d", "models": "m", "inference": "i", "predictions": "p"}},
        "queues": {"value": {"train": "qt", "predict": "qp", "train_dlq": "qtd", "predict_dlq": "qpd"}},
    }
    s = Settings.from_env(env_from_outputs(outputs))
    assert (s.datasets_bucket, s.predictions_bucket, s.train_dlq_url, s.target) == ("d", "p", "qtd", "local")
    with pytest.raises(ConfigError):
        env_from_outputs({"buckets": {"value": {}}, "queues": {"value": {}}})


def test_the_settings_page_is_exactly_what_its_generator_writes():
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == generator.render(), "docs/settings.md is stale: run .venv/bin/python scripts/settings_doc.py"
    assert all(f"`{env}`" in page for env, _, _ in Settings.documented())
