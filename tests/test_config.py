"""Settings precedence: option > environment > config file > default; RRR_HOME relocates storage."""

import pytest

from rrr_cli import config
from rrr_cli.errors import RrrError


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    monkeypatch.delenv("RRR_CONFIG", raising=False)
    monkeypatch.delenv("RRR_SAMPLE_TEMPERATURE", raising=False)
    return tmp_path


def write_config(home, text):
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_default_when_nothing_set(home):
    assert config.lookup("sample.temperature") == config.Setting(0.8, "default")


def test_config_file_beats_default(home):
    write_config(home, "[sample]\ntemperature = 0.3\n")
    assert config.lookup("sample.temperature") == config.Setting(0.3, "config")


def test_environment_beats_config_file(home, monkeypatch):
    write_config(home, "[sample]\ntemperature = 0.3\n")
    monkeypatch.setenv("RRR_SAMPLE_TEMPERATURE", "0.5")
    assert config.lookup("sample.temperature") == config.Setting(0.5, "env")


def test_option_beats_everything(home, monkeypatch):
    write_config(home, "[sample]\ntemperature = 0.3\n")
    monkeypatch.setenv("RRR_SAMPLE_TEMPERATURE", "0.5")
    assert config.lookup("sample.temperature", 0.0) == config.Setting(0.0, "option")


def test_environment_values_are_typed_and_checked(home, monkeypatch):
    monkeypatch.setenv("RRR_SAMPLE_N", "7")
    assert config.get("sample.n") == 7
    monkeypatch.setenv("RRR_EXECUTION_ALLOW_UNSANDBOXED", "yes")
    assert config.get("execution.allow_unsandboxed") is True
    monkeypatch.setenv("RRR_SAMPLE_N", "many")
    with pytest.raises(RrrError, match="RRR_SAMPLE_N"):
        config.get("sample.n")


def test_invalid_toml_is_one_clear_error(home):
    path = write_config(home, "[sample\n")
    with pytest.raises(RrrError, match="invalid TOML"):
        config.get("sample.n")
    assert str(path) in str(pytest.raises(RrrError, config.get, "sample.n").value)


def test_rrr_home_holds_cache_and_config(home):
    assert config.cache_dir() == home / "cache"
    assert config.config_file() == home / "config" / "config.toml"
    assert config.data_path("runs") == home / "cache" / "runs"
    assert (home / "cache" / "runs").is_dir()


def test_platformdirs_without_rrr_home(monkeypatch):
    monkeypatch.delenv("RRR_HOME", raising=False)
    assert config.cache_dir().name == "rrr"
