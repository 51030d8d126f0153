from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from ragtune.llm import LLMClient, LLMError, LLMSettings

CONF = Path(__file__).resolve().parents[2] / "conf" / "llm"


@pytest.mark.parametrize("name", ["offline", "solar", "openai", "local"])
def test_every_provider_config_validates(name):
    cfg = OmegaConf.create(yaml.safe_load((CONF / f"{name}.yaml").read_text()))
    settings = LLMSettings.from_config(cfg, environ={"UPSTAGE_API_KEY": "k1", "OPENAI_API_KEY": "k2"})
    assert settings.provider == name
    assert (settings.api_key is None) == (name == "offline")


def test_all_provider_configs_have_the_same_keys():
    keys = {
        name: set(yaml.safe_load((CONF / f"{name}.yaml").read_text()))
        for name in ("offline", "solar", "openai", "local")
    }
    assert len({frozenset(k) for k in keys.values()}) == 1


def test_missing_key_names_the_environment_variable(config):
    with pytest.raises(LLMError, match="RAGTUNE_TEST_LLM_KEY"):
        LLMSettings.from_config(config(), environ={})
    with pytest.raises(LLMError, match="UPSTAGE_API_KEY"):
        LLMSettings.from_config(yaml.safe_load((CONF / "solar.yaml").read_text()), environ={"UPSTAGE_API_KEY": " "})


def test_offline_needs_no_key_and_refuses_a_client():
    settings = LLMSettings.from_config(yaml.safe_load((CONF / "offline.yaml").read_text()), environ={})
    assert settings.offline
    with pytest.raises(LLMError, match="offline"):
        LLMClient(settings)


def test_local_server_may_run_without_a_key(config):
    settings = LLMSettings.from_config(config(api_key_env=None), environ={})
    assert settings.api_key.reveal() == "EMPTY"
    with pytest.raises(LLMError, match="api_key_env is required"):
        LLMSettings.from_config(config(provider="openai", api_key_env=None), environ={})


@pytest.mark.parametrize(
    "override, message",
    [
        ({"provider": "anthropic"}, "llm.provider"),
        ({"concurrency": 0}, "llm.concurrency"),
        ({"concurrency": 2.5}, "llm.concurrency"),
        ({"max_retries": -1}, "llm.max_retries"),
        ({"timeout": "60"}, "llm.timeout"),
        ({"model": None}, "llm.model"),
        ({"temprature": 0.3}, "unknown setting"),
    ],
)
def test_bad_settings_are_rejected_with_the_setting_named(config, override, message):
    with pytest.raises(LLMError, match=message):
        LLMSettings.from_config(config(**override), environ={"RAGTUNE_TEST_LLM_KEY": "k"})


def test_the_key_is_not_in_repr_or_str(config, fake_key):
    settings = LLMSettings.from_config(config(), environ={"RAGTUNE_TEST_LLM_KEY": fake_key})
    assert settings.api_key.reveal() == fake_key
    for text in (repr(settings), str(settings), repr(settings.api_key), str(LLMClient(settings, progress=False))):
        assert fake_key not in text
