"""modelyard.yaml errors name the file and the key path; ${ENV} references."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config.loader import expand_env, load_config
from modelyard.errors import ConfigError
from modelyard.yard import Yard

MODEL = """
project: t
models:
  churn:
    feature_service: driver_quality
    entity_keys: [driver_id]
    task: classification
    label: churned
"""


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        Yard.load(path)
    return err.value


def test_valid_config_loads_with_defaults(tmp_path, write_yard) -> None:
    yard = Yard.load(write_yard(tmp_path / "y", MODEL))
    assert yard.config.registry.plugin == "sqlalchemy"
    assert yard.model("churn").entity_keys == ["driver_id"]
    assert yard.home == tmp_path / "y" / ".modelyard"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (
            MODEL.replace("entity_keys", "entity_key"),
            "models.churn.entity_key",
            "did you mean 'entity_keys'?",
        ),
        (MODEL + "servng: {}\n", "servng", "did you mean 'serving'?"),  # an optional section
        (
            MODEL + "zzz: {}\n",
            "zzz",
            "unknown key (allowed here: artifacts, features, home, models, monitoring",
        ),
        (
            MODEL + "serving:\n  port: eighty\n",
            "serving.port",
            "valid integer, unable to parse string as an integer, got 'eighty'",
        ),
        (MODEL + "serving:\n  port: 70000\n", "serving.port", "less than or equal to 65535"),
        (
            MODEL.replace("classification", "clustering"),
            "models.churn.task",
            "'classification' or 'regression'",
        ),
        (MODEL.replace("    label: churned\n", ""), "models.churn.label", "Field required"),
        (MODEL + "retention:\n  keep_last: 0\n", "retention.keep_last", "greater than or equal to 1"),
        ("models: {}\n", "project", "Field required"),
    ],
)
def test_schema_errors_name_file_and_key(tmp_path, write_yard, text: str, key: str, fragment: str) -> None:
    err = _error(write_yard(tmp_path / "y", text))
    assert err.file == str(tmp_path / "y" / "modelyard.yaml")
    assert err.key == key
    assert fragment in str(err)
    assert str(err).startswith(f"{err.file}: {key}: ")


def test_every_problem_is_shown_and_optional_keys_get_did_you_mean(tmp_path, write_yard) -> None:
    text = """
project: t
serving: {prot: 8000}
models:
  churn:
    feature_service: driver_quality
    entity_keys: [driver_id]
    task: clasification
    lable: churned
    training: {function: 'a:b', entities: e.parquet, parms: {c: 1}}
"""
    err = _error(write_yard(tmp_path / "y", text))
    lines = str(err).splitlines()
    assert "more problem" not in str(err) and len(lines) == 4, str(err)
    # misspelt keys first, each with the closest allowed key (optional ones too), then the rest
    assert [line.split(": ", 1)[-1] if i == 0 else line.strip() for i, line in enumerate(lines)][:3] == [
        "serving.prot: unknown key; did you mean 'port'?",
        "also models.churn.training.parms: unknown key; did you mean 'params'?",
        "also models.churn.lable: unknown key; did you mean 'label'?",
    ]
    assert "models.churn.task:" in lines[3] and "got 'clasification'" in lines[3]
    assert "Field required" not in str(err)  # the missing 'label' is the typo's echo, folded into it


@pytest.mark.parametrize(
    ("extra", "key", "role"),
    [
        ("registry:\n  plugin: mlflw\n", "registry", "registry_backend"),
        ("serving:\n  cache: {plugin: memcache}\n", "serving.cache", "cache"),
        ("monitoring:\n  alerters: [{plugin: log}, {plugin: pager}]\n", "monitoring.alerters.1", "alerter"),
    ],
)
def test_unknown_plugin_names_key_and_known_names(
    tmp_path, write_yard, extra: str, key: str, role: str
) -> None:
    err = _error(write_yard(tmp_path / "y", MODEL + extra))
    assert err.key == key
    assert f"unknown {role} plugin" in str(err)
    assert "choose one of: " in str(err)


def test_unknown_flavor_and_router_of_a_model(tmp_path, write_yard) -> None:
    err = _error(write_yard(tmp_path / "y", MODEL + "    flavor: pytorch\n"))
    assert err.key == "models.churn.flavor" and "sklearn" in str(err)
    text = MODEL + "    deployment:\n      router: {plugin: nope}\n"
    err = _error(write_yard(tmp_path / "y2", text))
    assert err.key == "models.churn.deployment.router" and "single" in str(err)


def test_plugin_without_settings_model_refuses_settings(tmp_path, write_yard) -> None:
    text = MODEL + "registry:\n  plugin: sqlalchemy\n  settings: {urll: x}\n"
    err = _error(write_yard(tmp_path / "y", text))
    # Either the plugin's own model rejects the key, or a settings-less plugin refuses settings.
    assert err.key is not None and err.key.startswith("registry.settings")
    assert "urll" in str(err)


def test_missing_env_variable_names_key(tmp_path, write_yard, monkeypatch) -> None:
    monkeypatch.delenv("MODELYARD_TEST_UNSET_VAR", raising=False)
    text = MODEL + "artifacts:\n  url: ${MODELYARD_TEST_UNSET_VAR}/artifacts\n"
    err = _error(write_yard(tmp_path / "y", text))
    assert err.key == "artifacts.url"
    assert "environment variable MODELYARD_TEST_UNSET_VAR is not set" in str(err)
    monkeypatch.setenv("MODELYARD_TEST_UNSET_VAR", "s3://bucket")
    assert Yard.load(tmp_path / "y").config.artifacts.url == "s3://bucket/artifacts"


def test_env_defaults_and_escapes(monkeypatch) -> None:
    monkeypatch.delenv("MY_UNSET", raising=False)
    monkeypatch.setenv("MY_SET", "value")
    tree = {"a": "${MY_UNSET:-fallback}", "b": ["x${MY_SET}y", 3], "c": "$${MY_SET}", "d": "${MY_UNSET:-}"}
    assert expand_env(tree) == {"a": "fallback", "b": ["xvaluey", 3], "c": "${MY_SET}", "d": ""}
    with pytest.raises(ConfigError, match=r"f.yaml: b.1: environment variable MY_UNSET"):
        expand_env({"b": ["ok", "${MY_UNSET}"]}, file="f.yaml")


def test_env_is_expanded_before_validation(tmp_path, write_yard, monkeypatch) -> None:
    monkeypatch.setenv("MY_PORT", "not-a-port")
    err = _error(write_yard(tmp_path / "y", MODEL + "serving:\n  port: ${MY_PORT}\n"))
    assert err.key == "serving.port" and "not-a-port" in str(err)


def test_missing_file_and_bad_yaml(tmp_path, write_yard) -> None:
    with pytest.raises(ConfigError, match=r"no modelyard.yaml here; run 'modelyard init'"):
        load_config(tmp_path)
    (tmp_path / "modelyard.yaml").write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path)
    (tmp_path / "modelyard.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_config(tmp_path)


def test_yard_needs_feature_store_yaml(tmp_path, write_yard) -> None:
    path = write_yard(tmp_path / "y", MODEL)
    (path / "feature_store.yaml").unlink()
    err = _error(path)
    assert "no feature_store.yaml beside modelyard.yaml" in str(err)


def test_unknown_model_lists_declared(tmp_path, write_yard) -> None:
    from modelyard.errors import ModelNotFound

    yard = Yard.load(write_yard(tmp_path / "y", MODEL))
    with pytest.raises(ModelNotFound, match=r"unknown model 'chrun'; .* declares: churn"):
        yard.model("chrun")


def test_serving_protocols_default_names_and_choices(tmp_path, write_yard) -> None:
    from modelyard.config.schema import DEFAULT_PROTOCOLS

    yard = Yard.load(write_yard(tmp_path / "default", MODEL))
    assert [c.plugin for c in yard.config.serving.protocols] == list(DEFAULT_PROTOCOLS)
    text = MODEL + "serving:\n  protocols: [v2, {plugin: feedback}]\n"
    yard = Yard.load(write_yard(tmp_path / "chosen", text))
    assert [c.plugin for c in yard.config.serving.protocols] == ["v2", "feedback"]
    assert (
        Yard.load(
            write_yard(tmp_path / "none", MODEL + "serving:\n  protocols: []\n")
        ).config.serving.protocols
        == []
    )


@pytest.mark.parametrize(
    ("protocols", "key", "fragment"),
    [
        ("[v1, feedbak]", "serving.protocols.1", "unknown protocol plugin 'feedbak'; choose one of: "),
        ("[v1, feedbak]", "serving.protocols.1", "(did you mean 'feedback'?)"),
        ("[v1, v2, v1]", "serving.protocols", "protocol(s) ['v1'] listed more than once"),
        ("[{plugin: v1, settings: {fast: true}}]", "serving.protocols.0.settings", "takes no settings"),
    ],
)
def test_bad_serving_protocols_are_config_errors(tmp_path, write_yard, protocols, key, fragment) -> None:
    err = _error(write_yard(tmp_path / "y", MODEL + f"serving:\n  protocols: {protocols}\n"))
    assert err.key == key and fragment in str(err), (err.key, str(err))
