from pathlib import Path

import pytest
import yaml

from streammm.config import DEFAULT_CONFIG_FILE, MASK, Settings, _mask, load_settings
from streammm.errors import ConfigError


def test_default_yaml_matches_code_defaults():
    """configs/default.yaml documents every setting; it must not drift from the code's defaults."""
    from_file = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    assert from_file == Settings().model_dump(mode="json")


def test_precedence_file_then_config_then_env_then_flags(tmp_path: Path):
    config = tmp_path / "mine.yaml"
    config.write_text("media:\n  sample_fps: 2.0\n  segment_s: 3.0\nmodels:\n  threads: 3\n")
    env = {"STREAMMM_MEDIA__SEGMENT_S": "4", "STREAMMM_MODELS__SPEECH__MODEL": "base", "OTHER": "x"}
    settings = load_settings(config, env=env, overrides={"media.sample_fps": 5.0, "models.device": None})
    assert settings.media.sample_fps == 5.0  # flag beats file
    assert settings.media.segment_s == 4.0  # env beats --config
    assert settings.models.threads == 3  # --config beats default.yaml
    assert settings.models.speech.model == "base"  # nested env key
    assert settings.models.device == "cpu"  # a flag left unset changes nothing


def test_settings_are_frozen():
    settings = load_settings(env={})
    with pytest.raises(Exception):
        settings.media.sample_fps = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"STREAMMM_MODELS__DEVICE": "gpu"}, "models.device"),
        ({"STREAMMM_MEDIA__SAMPLE_FPS": "-1"}, "media.sample_fps"),
        ({"STREAMMM_MEDIA__NO_SUCH_KEY": "1"}, "no_such_key"),
    ],
)
def test_invalid_values_name_the_setting(env, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(env=env)


def test_missing_and_malformed_config_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("media: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(scalar, env={})


def test_secrets_are_masked():
    masked = _mask({"qa": {"llm": {"api_key": "sk-123", "model": "m"}}, "auth": {"tokens": [{"token": "t"}]}})
    assert masked["qa"]["llm"] == {"api_key": MASK, "model": "m"}
    assert masked["auth"]["tokens"] == MASK
    assert "sk-123" not in str(load_settings(env={}).public_dict())


def test_model_calls_take_the_pool_size_in_a_worker_and_share_the_cores_in_up(monkeypatch):
    import os

    from streammm.config import ModelsConfig

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    worker = ModelsConfig(threads=2)
    assert worker.threads_per_call() == 2
    assert worker.sharing_cores().threads_per_call() == 4  # up: 8 cores among 2 calls at once
    assert ModelsConfig(threads=16).sharing_cores().threads_per_call() == 1  # never 0
    assert ModelsConfig(threads=2, op_threads=3).sharing_cores().threads_per_call() == 3  # set: kept


def test_serve_encodes_each_question_on_one_thread_unless_told_otherwise():
    from streammm.config import ModelsConfig

    assert ModelsConfig(threads=2).one_thread_a_call().threads_per_call() == 1
    assert ModelsConfig(threads=8).one_thread_a_call().threads == 8  # questions still encode side by side
    assert ModelsConfig(threads=2, op_threads=3).one_thread_a_call().threads_per_call() == 3  # set: kept
