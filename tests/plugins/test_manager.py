"""The plugin host against real entry points of throwaway distributions."""

from __future__ import annotations

import logging
import types

import pytest

from modelyard.errors import (
    DuplicatePluginError,
    PluginError,
    PluginValidationError,
    UnknownPluginError,
)
from modelyard.plugins import hookimpl
from modelyard.plugins.manager import PluginHost
from modelyard.plugins.specs import DetectorSpec, RouterSpec, resolve
from modelyard.plugins.testing import make_host

FIRST_PARTY = {"alerters", "caches", "detectors", "flavors", "log_sinks", "routers", "sqlalchemy_registry"}


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def test_first_party_plugins_load_through_entry_points() -> None:
    host = PluginHost.from_entry_points()
    infos = {info.name: info for info in host.plugins()}
    assert set(infos) >= FIRST_PARTY
    for name in FIRST_PARTY:
        assert infos[name].distribution == "modelyard"
        assert infos[name].version
        assert infos[name].error is None
        assert infos[name].module.startswith("modelyard_plugins.")
    assert infos["routers"].contributes["router"][0] == "single"
    assert {"sqlalchemy"} <= set(host.registry_backends())


def test_third_party_dist_is_listed_with_distribution_and_version(make_dist, detector_plugin) -> None:
    module = make_dist("acme-drift", "acme", detector_plugin("acme-psi"), version="3.1.4")
    host = PluginHost.from_entry_points()
    info = next(i for i in host.plugins() if i.name == "acme")
    assert (info.distribution, info.version, info.module) == ("acme-drift", "3.1.4", module)
    assert info.contributes == {"detector": ["acme-psi"]}
    assert host.provider("detector", "acme-psi").distribution == "acme-drift"


def test_two_plugins_claiming_one_name_names_both(make_dist, detector_plugin) -> None:
    make_dist("acme-one", "acme_one", detector_plugin("acme-psi-test"))
    make_dist("acme-two", "acme_two", detector_plugin("acme-psi-test"))
    host = PluginHost.from_entry_points()
    with pytest.raises(DuplicatePluginError) as err:
        host.detectors()
    message = str(err.value)
    assert "detector 'acme-psi-test'" in message
    assert "plugin 'acme_one' (distribution acme-one)" in message
    assert "plugin 'acme_two' (distribution acme-two)" in message


def test_duplicate_of_a_builtin_name_is_refused(make_dist, detector_plugin) -> None:
    make_dist("sneaky", "sneaky", detector_plugin("ks"))
    with pytest.raises(DuplicatePluginError, match=r"distribution modelyard\).*distribution sneaky"):
        PluginHost.from_entry_points().spec("detector", "ks")


def test_same_entry_point_name_in_two_distributions_is_reported(make_dist, detector_plugin) -> None:
    make_dist("acme-one", "acme", detector_plugin("one"))
    make_dist("acme-two", "acme", detector_plugin("two"))
    host = PluginHost.from_entry_points()
    # The first keeps its name and works; the second is reported, not silently dropped.
    assert "one" in host.detectors()
    failed = [i for i in host.plugins() if i.error]
    assert len(failed) == 1
    assert failed[0].distribution == "acme-two"
    assert "already taken by plugin 'acme' (distribution acme-one)" in failed[0].error


def test_misspelled_hook_name_is_an_error_naming_plugin_and_distribution(make_dist) -> None:
    make_dist(
        "typo-dist",
        "typo",
        """
        from modelyard.plugins import hookimpl

        @hookimpl
        def modelyard_detector():  # should be modelyard_detectors
            return []
        """,
    )
    host = PluginHost.from_entry_points()
    failure = host.failures["typo"]
    assert failure.distribution == "typo-dist"
    assert "unknown hook 'modelyard_detector'" in str(failure)
    assert "modelyard_detectors" in str(failure)  # the known hooks are listed
    assert host.pm.get_plugin("typo") is None
    assert {i.name for i in host.plugins() if i.error is None} >= FIRST_PARTY


def test_misspelled_prefix_is_caught_too() -> None:
    @hookimpl
    def modelyrad_detectors():  # a typo in the project prefix
        return []

    with pytest.raises(PluginValidationError, match="unknown hook 'modelyrad_detectors'"):
        make_host(_module("typo_prefix", modelyrad_detectors=modelyrad_detectors), builtins=False)


def test_wrong_signature_names_plugin_and_distribution(make_dist) -> None:
    make_dist(
        "sig-dist",
        "sig",
        """
        from modelyard.plugins import hookimpl

        @hookimpl
        def modelyard_on_alert(alert, severity):  # 'severity' is not in the spec
            pass
        """,
    )
    host = PluginHost.from_entry_points()
    failure = str(host.failures["sig"])
    assert "plugin 'sig' (distribution sig-dist)" in failure
    assert "severity" in failure
    # and registering it by hand raises at once
    with pytest.raises(PluginValidationError, match="severity"):
        make_host(_module("sig_by_hand", modelyard_on_alert=host_failure_impl()), builtins=False)


def host_failure_impl():  # a hookimpl with an argument the spec lacks
    @hookimpl
    def modelyard_on_alert(alert, severity):
        return None

    return modelyard_on_alert


def test_fewer_arguments_than_the_spec_is_fine() -> None:
    seen = []

    @hookimpl
    def modelyard_on_alert():
        seen.append("called")

    host = make_host(_module("few_args", modelyard_on_alert=modelyard_on_alert), builtins=False)
    host.on_alert(object())
    assert seen == ["called"]


def test_plugin_failing_to_import_is_reported_and_others_load(
    make_dist, detector_plugin, write_yard, tmp_path
) -> None:
    from modelyard.errors import ConfigError
    from modelyard.yard import Yard

    make_dist("broken-dist", "broken", "import this_module_does_not_exist_xyz\n", version="0.0.1")
    make_dist("fine-dist", "fine", detector_plugin("fine-detector"))
    host = PluginHost.from_entry_points()
    failure = host.failures["broken"]
    assert (failure.name, failure.distribution) == ("broken", "broken-dist")
    assert "ModuleNotFoundError" in str(failure) and "this_module_does_not_exist_xyz" in str(failure)
    info = next(i for i in host.plugins() if i.name == "broken")
    assert info.version == "0.0.1" and "this_module_does_not_exist_xyz" in info.error
    assert "fine-detector" in host.detectors()
    assert {i.name for i in host.plugins() if i.error is None} >= FIRST_PARTY

    # A config selecting what the broken plugin would have provided fails clearly.
    yard = write_yard(
        tmp_path / "yard",
        """
        project: t
        models:
          m:
            feature_service: fs
            entity_keys: [driver_id]
            task: regression
            label: y
            monitors:
              - name: drift
                detector: {plugin: broken-detector}
        """,
    )
    with pytest.raises(ConfigError) as err:
        Yard.load(yard)
    message = str(err.value)
    assert "modelyard.yaml: models.m.monitors.0.detector:" in message
    assert "unknown detector plugin 'broken-detector'" in message
    assert "fine-detector" in message and "ks" in message  # the known names
    assert "plugin 'broken' (distribution broken-dist) failed to load" in message


def test_contribution_hook_raising_is_reported_and_others_still_work(make_dist, detector_plugin) -> None:
    make_dist(
        "raising-dist",
        "raising",
        """
        from modelyard.plugins import hookimpl

        @hookimpl
        def modelyard_detectors():
            raise RuntimeError("boom in the hook")
        """,
    )
    make_dist("ok-dist", "ok", detector_plugin("ok-detector"))
    host = PluginHost.from_entry_points()
    assert "ok-detector" in host.detectors()
    assert "boom in the hook" in str(host.failures["raising"])
    with pytest.raises(UnknownPluginError, match="raising-dist"):
        host.spec("detector", "missing")


def test_wrong_spec_type_is_reported(make_dist) -> None:
    make_dist(
        "wrongtype-dist",
        "wrongtype",
        """
        from modelyard.plugins import hookimpl
        from modelyard.plugins.specs import RouterSpec

        @hookimpl
        def modelyard_detectors():
            yield RouterSpec(name="r", summary="a router in the wrong hook", factory="x:y")
        """,
    )
    host = PluginHost.from_entry_points()
    assert "r" not in host.detectors()
    assert "returned RouterSpec; expected DetectorSpec" in str(host.failures["wrongtype"])


def test_disable_autoload_keeps_only_first_party(make_dist, detector_plugin, monkeypatch) -> None:
    make_dist("third-dist", "third", detector_plugin("third-detector"))
    monkeypatch.setenv("MODELYARD_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost.from_entry_points()
    names = {i.name for i in host.plugins()}
    assert "third" not in names
    assert names >= FIRST_PARTY
    monkeypatch.setenv("MODELYARD_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert "third" in {i.name for i in PluginHost.from_entry_points().plugins()}


def test_load_plugins_allow_list(make_dist, detector_plugin, monkeypatch) -> None:
    make_dist("third-dist", "third", detector_plugin("third-detector"))
    monkeypatch.setenv("MODELYARD_LOAD_PLUGINS", "third, routers")
    assert {i.name for i in PluginHost.from_entry_points().plugins()} == {"third", "routers"}
    monkeypatch.setenv("MODELYARD_LOAD_PLUGINS", "")
    assert PluginHost.from_entry_points().plugins() == []


def test_trace_plugins_logs_hook_calls(make_dist, detector_plugin, monkeypatch, caplog) -> None:
    make_dist("third-dist", "third", detector_plugin("third-detector"))
    monkeypatch.setenv("MODELYARD_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="modelyard.plugins.trace"):
        host = PluginHost.from_entry_points()
        host.detectors()
        host.on_alert("an alert")
    traced = [r.getMessage() for r in caplog.records if r.name == "modelyard.plugins.trace"]
    assert any("modelyard_detectors [plugin third] -> ['third-detector']" in m for m in traced)
    # pluggy's own call monitoring: the call it made, of which plugin, and what came back
    assert "call modelyard_detectors [plugin third] {}" in traced
    assert any(m.startswith("modelyard_detectors [plugin third] returned [<generator") for m in traced)
    caplog.clear()
    monkeypatch.delenv("MODELYARD_TRACE_PLUGINS")
    with caplog.at_level(logging.INFO, logger="modelyard.plugins.trace"):
        PluginHost.from_entry_points().detectors()
    assert not [r for r in caplog.records if r.name == "modelyard.plugins.trace"]


def test_make_host_is_isolated(make_dist, detector_plugin, monkeypatch) -> None:
    make_dist("installed-dist", "installed", detector_plugin("installed-detector"))

    @hookimpl
    def modelyard_detectors():
        yield DetectorSpec(name="mine", summary="under test", factory="collections:OrderedDict")

    mine = _module("my_plugin_under_test", modelyard_detectors=modelyard_detectors)
    host = make_host(mine)
    builtin = set(make_host().detectors())
    assert "ks" in builtin
    assert set(host.detectors()) == builtin | {"mine"}  # built-ins + given, not what is installed
    assert host.provider("detector", "mine").module == "my_plugin_under_test"
    monkeypatch.setenv("MODELYARD_LOAD_PLUGINS", "nothing")  # the environment does not leak in
    assert set(make_host(mine).detectors()) == builtin | {"mine"}
    bare = make_host(mine, builtins=False)
    assert set(bare.detectors()) == {"mine"}
    assert bare.routers() == {}


def test_unknown_name_lists_known_names() -> None:
    host = make_host()
    with pytest.raises(UnknownPluginError) as err:
        host.spec("router", "canary-typo")
    known = ", ".join(sorted(host.routers()))
    assert "single" in known
    assert f"unknown router plugin 'canary-typo'; choose one of: {known}" in str(err.value)
    with pytest.raises(UnknownPluginError, match="choose one of: alerter, cache, detector"):
        host.specs("detectors")  # a role name typo


def test_event_hooks_survive_a_failing_listener(caplog) -> None:
    calls = []

    @hookimpl
    def modelyard_on_promote(event):
        raise RuntimeError("listener broke")

    bad = _module("bad_listener", modelyard_on_promote=modelyard_on_promote)
    good = _module("good_listener", modelyard_on_promote=hookimpl(lambda event: calls.append(event)))
    host = make_host(bad, good, builtins=False)
    with caplog.at_level(logging.ERROR):
        host.on_promote("event-1")
    assert calls == ["event-1"]
    assert "bad_listener" in caplog.text and "listener broke" in caplog.text
    events = {i.name: i.contributes.get("events") for i in host.plugins()}
    assert events == {"bad_listener": ["on_promote"], "good_listener": ["on_promote"]}


def test_registering_two_plugins_under_one_name_fails() -> None:
    host = make_host(builtins=False)
    host.register(_module("one"), name="same")
    with pytest.raises(PluginValidationError, match="'same'"):
        host.register(_module("two"), name="same")


def test_spec_settings_are_validated_by_the_plugins_model() -> None:
    from pydantic import BaseModel, ConfigDict

    from modelyard.errors import ConfigError

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        k: float = 1.0

    spec = RouterSpec(name="r", summary="s", factory=lambda config, **kw: (config, kw), config=Settings)
    config, context = spec.build({"k": "2.5"}, deployment="d")
    assert config.k == 2.5 and context == {"deployment": "d"}
    with pytest.raises(ConfigError, match=r"f.yaml: models.m.deployment.router.settings.kk: Extra inputs"):
        spec.validate_settings({"kk": 1}, file="f.yaml", key="models.m.deployment.router.settings")
    bare = RouterSpec(name="plain", summary="s", factory=lambda: "built")
    assert bare.build() == "built"
    with pytest.raises(ConfigError, match="takes no settings, got \\['x'\\]"):
        bare.build({"x": 1})


def test_resolve_references() -> None:
    assert resolve("collections:OrderedDict.fromkeys").__name__ == "fromkeys"
    with pytest.raises(PluginError, match="expected 'module:attribute'"):
        resolve("collections.OrderedDict")
    with pytest.raises(PluginError, match="cannot import 'no_such_module_q'"):
        resolve("no_such_module_q:X")
    with pytest.raises(PluginError, match="has no attribute 'Nope'"):
        resolve("collections:Nope")


def test_plugins_command_lists_a_broken_plugin_with_its_error(make_dist, detector_plugin) -> None:
    import json

    from click.testing import CliRunner

    from modelyard.cli.main import main

    make_dist("broken-dist", "broken", "raise RuntimeError('cannot start')\n", version="0.0.9")
    make_dist("fine-dist", "fine", detector_plugin("fine-detector"), version="2.0")
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["broken"]["distribution"] == "broken-dist" and rows["broken"]["version"] == "0.0.9"
    assert rows["broken"]["error"] == "RuntimeError: cannot start" and rows["broken"]["contributes"] == {}
    assert rows["fine"]["contributes"] == {"detector": ["fine-detector"]} and rows["fine"]["error"] is None
    table = CliRunner().invoke(main, ["plugins"])
    assert table.exit_code == 0
    assert "FAILED broken (distribution broken-dist 0.0.9): RuntimeError: cannot start" in table.output


def test_plugins_command_reports_duplicates_as_an_error(make_dist, detector_plugin) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    make_dist("acme-one", "acme_one", detector_plugin("dup-name"))
    make_dist("acme-two", "acme_two", detector_plugin("dup-name"))
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: two plugins provide the detector 'dup-name'")
    assert "distribution acme-one" in result.output and "distribution acme-two" in result.output


def test_plugin_failing_in_one_role_is_dropped_from_all(make_dist) -> None:
    make_dist(
        "half-dist",
        "half",
        """
        from modelyard.plugins import hookimpl
        from modelyard.plugins.specs import DetectorSpec

        @hookimpl
        def modelyard_detectors():
            yield DetectorSpec(name="half-detector", summary="fine", factory="collections:OrderedDict")

        @hookimpl
        def modelyard_routers():
            raise ValueError("router hook broke")
        """,
    )
    host = PluginHost.from_entry_points()
    info = next(i for i in host.plugins() if i.name == "half")
    assert info.contributes == {} and "router hook broke" in info.error
    assert "half-detector" not in host.detectors()


@pytest.mark.parametrize("option", ["wrapper", "hookwrapper", "tryfirst", "trylast"])
def test_wrappers_and_ordering_options_are_refused_at_load(option) -> None:
    def modelyard_on_alert(alert):
        yield

    plugin = _module("wrapping", modelyard_on_alert=hookimpl(**{option: True})(modelyard_on_alert))
    with pytest.raises(PluginValidationError, match=rf"plugin 'wrapping'.*modelyard_on_alert.*{option}=True"):
        make_host(plugin, builtins=False)


def test_hooks_are_called_in_registration_order(make_dist, detector_plugin) -> None:
    calls: list[str] = []
    plugins = [
        _module(name, modelyard_on_alert=hookimpl(lambda alert, name=name: calls.append(name)))
        for name in ("first", "second", "third")
    ]
    host = make_host(*plugins, builtins=False)
    host.on_alert("an alert")
    assert calls == ["first", "second", "third"]
    make_dist("acme-one", "acme_one", detector_plugin("acme-dup"))
    make_dist("acme-two", "acme_two", detector_plugin("acme-dup"))
    host = PluginHost.from_entry_points()
    order = [host.pm.get_name(impl.plugin) for impl in host.pm.hook.modelyard_detectors.get_hookimpls()]
    with pytest.raises(DuplicatePluginError) as err:
        host.detectors()
    first, second = (n for n in order if n in {"acme_one", "acme_two"})
    assert str(err.value).index(first) < str(err.value).index(second)


def test_trace_shows_each_call_pluggy_makes_and_its_outcome(monkeypatch, caplog) -> None:
    def fails(alert):
        raise ValueError("listener broke")

    seen: list[str] = []
    calm = _module("calm", modelyard_on_alert=hookimpl(lambda alert: seen.append(alert)))
    broken = _module("broken_listener", modelyard_on_alert=hookimpl(fails))
    monkeypatch.setenv("MODELYARD_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="modelyard.plugins.trace"):
        make_host(broken, calm, builtins=False).on_alert("an alert")
    traced = [r.getMessage() for r in caplog.records if r.name == "modelyard.plugins.trace"]
    assert traced == [
        "call modelyard_on_alert [plugin broken_listener] {'alert': 'an alert'}",
        "modelyard_on_alert [plugin broken_listener] raised ValueError: listener broke",
        "call modelyard_on_alert [plugin calm] {'alert': 'an alert'}",
        "modelyard_on_alert [plugin calm] returned []",
    ]
    assert seen == ["an alert"]  # the broken listener did not stop the next one


def test_a_plugin_object_must_be_hashable() -> None:
    unhashable = types.SimpleNamespace(modelyard_on_alert=hookimpl(lambda alert: None))
    with pytest.raises(PluginValidationError, match=r"SimpleNamespace cannot be a plugin .*not hashable"):
        make_host(unhashable, builtins=False)


COMMAND_PLUGIN = """
import click
from modelyard.plugins import hookimpl

@hookimpl
def modelyard_register_commands(cli):
    @cli.command({name!r})
    @click.argument("who")
    def hello(who):
        \"\"\"Greet WHO.\"\"\"
        click.echo(f"hello {{who}} from {name}")
"""


def test_plugins_add_commands_and_may_not_take_anothers(make_dist, monkeypatch, caplog) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import COMMANDS, main

    make_dist("greet-dist", "greet", COMMAND_PLUGIN.format(name="greet"))
    make_dist("clash-dist", "clash", COMMAND_PLUGIN.format(name="serve"))  # modelyard's own
    make_dist("copy-dist", "copy", COMMAND_PLUGIN.format(name="ui"))  # the built-in plugin's
    make_dist(
        "raising-dist",
        "raising",
        "from modelyard.plugins import hookimpl\n"
        "@hookimpl\ndef modelyard_register_commands(cli):\n    raise RuntimeError('no commands today')\n",
    )
    host = PluginHost.from_entry_points()
    with caplog.at_level(logging.WARNING, logger="modelyard.plugins.manager"):
        commands = host.commands(taken=COMMANDS)
    assert {name: plugin for name, (_, plugin) in commands.items()} == {"greet": "greet", "ui": "ui_command"}
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert (
        "the command 'serve' of plugin 'clash' (distribution clash-dist) is refused: modelyard itself has one"
        in warnings
    )
    assert (
        "the command 'ui' of plugin 'copy' (distribution copy-dist) is refused: plugin 'ui_command'"
        in warnings
    )
    infos = {i.name: i for i in host.plugins()}
    assert infos["greet"].contributes == {"command": ["greet"]} and infos["ui_command"].contributes == {
        "command": ["ui"]
    }
    assert "modelyard_register_commands raised RuntimeError: no commands today" in infos["raising"].error

    monkeypatch.setattr(main, "_plugin_commands", None)  # the group collects them once per process
    result = CliRunner().invoke(main, ["greet", "you"])
    assert result.exit_code == 0 and result.output == "hello you from greet\n"
    assert "Greet WHO." in CliRunner().invoke(main, ["--help"]).output
    assert (
        "Serve online predictions over HTTP" in CliRunner().invoke(main, ["serve", "--help"]).output
    )  # still ours
