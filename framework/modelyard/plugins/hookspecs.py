"""Hook specifications: every extension point modelyard offers.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match
the specs below, published in the ``modelyard`` entry-point group of its distribution::

    # pyproject.toml of the plugin's distribution
    [project.entry-points.modelyard]
    hello = "modelyard_hello"

Contribution hooks (one per role) return or yield typed spec objects from
:mod:`modelyard.plugins.specs`; the host collects every plugin's specs by name and the
config chooses one by that name. Event hooks are called with a record and return
nothing. An implementation may accept fewer arguments than its spec (pluggy passes only
what it asks for), so arguments are added over time and never removed.

Sections follow the lifecycle: roles first (what can be built), then events (what happens).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - only for annotations
    import click

    from modelyard.monitoring.alerts import Alert
    from modelyard.plugins.specs import (
        AlerterSpec,
        CacheSpec,
        DetectorSpec,
        FlavorSpec,
        LogSinkSpec,
        ProtocolSpec,
        RegistryBackendSpec,
        RouterSpec,
    )
    from modelyard.predictions.records import PredictionRecord
    from modelyard.registry.gates import PromotionRequest
    from modelyard.registry.types import AliasEvent

PROJECT = "modelyard"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------
# Roles: contribution hooks. Called whenever the host (re)collects plugins; must be cheap.
# ---------------------------------------------------------------------------------------


@hookspec
def modelyard_detectors() -> Iterable[DetectorSpec]:
    """Contribute monitoring detectors.

    Called when the host collects detectors (``modelyard plugins``, loading a yard with
    monitors). Return an iterable of :class:`~modelyard.plugins.specs.DetectorSpec`; the
    factory builds a :class:`modelyard.monitoring.detector.Detector` from its validated
    config. Import heavy libraries inside the detector, not at module level.

    Example::

        from modelyard.plugins import hookimpl
        from modelyard.plugins.specs import DetectorSpec

        @hookimpl
        def modelyard_detectors():
            yield DetectorSpec(
                name="mean-shift",
                summary="Flags a numeric feature whose mean moved by more than k sigma.",
                factory="my_plugin.detector:MeanShift",
                config="my_plugin.detector:MeanShiftConfig",
                kind="drift",
            )
    """


@hookspec
def modelyard_registry_backends() -> Iterable[RegistryBackendSpec]:
    """Contribute model-registry backends.

    Called when a yard builds its registry. Return an iterable of
    :class:`~modelyard.plugins.specs.RegistryBackendSpec` whose factory builds a
    :class:`modelyard.registry.backend.RegistryBackend`. ``modelyard.yaml`` picks one with
    ``registry: {plugin: NAME, settings: {...}}``.

    Example::

        @hookimpl
        def modelyard_registry_backends():
            yield RegistryBackendSpec(
                name="mlflow",
                summary="Keeps versions and aliases in an MLflow tracking server.",
                factory="modelyard_mlflow.backend:MlflowBackend",
                config="modelyard_mlflow.backend:MlflowBackendConfig",
            )
    """


@hookspec
def modelyard_routers() -> Iterable[RouterSpec]:
    """Contribute traffic routers.

    Called when a deployment is built. Return an iterable of
    :class:`~modelyard.plugins.specs.RouterSpec` whose factory builds a
    :class:`modelyard.routing.router.Router`: given a request's routing key and the
    deployment's variants it picks the answering variant and the shadows.

    Example::

        @hookimpl
        def modelyard_routers():
            yield RouterSpec(
                name="bandit",
                summary="Thompson-sampling bandit over the deployment's variants.",
                factory="my_bandit:BanditRouter",
                config="my_bandit:BanditConfig",
            )
    """


@hookspec
def modelyard_flavors() -> Iterable[FlavorSpec]:
    """Contribute model flavors (serving role): how artifacts are saved and loaded.

    Called when a version is registered or loaded. Return an iterable of
    :class:`~modelyard.plugins.specs.FlavorSpec`; the factory builds a
    :class:`modelyard.artifacts.flavor.Flavor` with ``save(obj, directory)`` and
    ``load(directory) -> Predictor``.

    Example::

        @hookimpl
        def modelyard_flavors():
            yield FlavorSpec(
                name="onnx",
                summary="ONNX graphs run with onnxruntime.",
                factory="modelyard_plugins.flavors.onnx:OnnxFlavor",
            )
    """


@hookspec
def modelyard_log_sinks() -> Iterable[LogSinkSpec]:
    """Contribute prediction-log sinks (serving role).

    Called when a server or batch job starts its prediction log. Return an iterable of
    :class:`~modelyard.plugins.specs.LogSinkSpec` whose factory builds a
    :class:`modelyard.predictions.log.LogSink` that writes batches of PredictionRecords.

    Example::

        @hookimpl
        def modelyard_log_sinks():
            yield LogSinkSpec(
                name="kafka",
                summary="Sends each record to a Kafka topic.",
                factory="my_sinks.kafka:KafkaSink",
                config="my_sinks.kafka:KafkaSinkConfig",
            )
    """


@hookspec
def modelyard_caches() -> Iterable[CacheSpec]:
    """Contribute prediction-cache backends (serving role).

    Called when a server starts. Return an iterable of
    :class:`~modelyard.plugins.specs.CacheSpec` whose factory builds a
    :class:`modelyard.predictions.cache.PredictionCache`.

    Example::

        @hookimpl
        def modelyard_caches():
            yield CacheSpec(name="memcached", summary="Memcached cache.", factory="my_cache:Memcached")
    """


@hookspec
def modelyard_alerters() -> Iterable[AlerterSpec]:
    """Contribute alert channels (events role): where monitoring Alerts are delivered.

    Called when monitors run. Return an iterable of
    :class:`~modelyard.plugins.specs.AlerterSpec` whose factory builds an object with
    ``send(alert) -> None``.

    Example::

        @hookimpl
        def modelyard_alerters():
            yield AlerterSpec(name="slack", summary="Posts alerts to Slack.", factory="my_slack:Slack")
    """


@hookspec
def modelyard_protocols() -> Iterable[ProtocolSpec]:
    """Contribute HTTP protocol front ends (serving role): the routes a serving worker answers.

    Called when a serving app is built (and by ``modelyard plugins``). Return an iterable of
    :class:`~modelyard.plugins.specs.ProtocolSpec`; the server mounts the ones
    ``serving.protocols`` in ``modelyard.yaml`` names (default: modelyard's own ``v1``, ``v2``,
    ``feedback``, ``push`` and ``ui``). The factory is called as ``factory(yard=yard)`` when the
    app is built and returns a :class:`modelyard.serving.protocol.ProtocolRoutes`: a FastAPI
    ``APIRouter`` (or a list of Starlette routes), the bearer-token scope each of its paths needs
    (``predict``, ``feedback``, ``admin`` or ``open``; an unlisted path needs ``admin``), and
    optionally POST endpoints answered ahead of FastAPI's middleware. A handler reaches the
    worker's loaded models with :func:`modelyard.serving.protocol.serving_state`. Two protocols
    answering the same method and path refuse to start, naming both.

    Example (a whole plugin; ``plugins/examples/modelyard-kserve`` is a complete distribution)::

        # my_protocol/__init__.py: listed cheaply, FastAPI imported only when mounted
        from modelyard.plugins import hookimpl
        from modelyard.plugins.specs import ProtocolSpec

        @hookimpl
        def modelyard_protocols():
            yield ProtocolSpec(
                name="hello",
                summary="GET /hello/{model}: the model's loaded versions.",
                factory="my_protocol.routes:build",
            )

        # my_protocol/routes.py
        from fastapi import APIRouter, Request
        from modelyard.serving.protocol import ProtocolRoutes, serving_state

        def build(yard):
            router = APIRouter()

            @router.get("/hello/{model}")
            async def hello(model: str, request: Request) -> dict:
                return {"versions": sorted(serving_state(request).table.get(model).versions)}

            return ProtocolRoutes(router, scopes={"/hello/{model}": "predict"})
    """


# ---------------------------------------------------------------------------------------
# Surfaces: what a plugin adds to the command line.
# ---------------------------------------------------------------------------------------


@hookspec
def modelyard_register_commands(cli: click.Group) -> None:
    """Add commands to the ``modelyard`` command line (datasette's and llm's ``register_commands``).

    Called when the CLI lists its commands (``modelyard --help``) or is asked for one it does
    not have itself. ``cli`` is a click group: add commands with ``@cli.command()`` or
    ``cli.add_command(...)``. A command named like one of modelyard's own, or like another
    plugin's, is refused (``modelyard plugins`` shows why); the others still load. The command
    reaches the yard through ``ctx.obj["repo"]`` (the ``--repo`` directory). Import heavy
    libraries inside the command, not at module level: the hook runs for every ``--help``.

    Example::

        import click
        from modelyard.plugins import hookimpl

        @hookimpl
        def modelyard_register_commands(cli):
            @cli.command()
            @click.argument("model")
            @click.pass_context
            def hello(ctx, model):
                \"\"\"Say hello to MODEL.\"\"\"
                from modelyard.yard import Yard

                yard = Yard.load(ctx.obj["repo"])
                click.echo(f"hello {yard.model(model).feature_service}")
    """


# ---------------------------------------------------------------------------------------
# Events: called with a record when something happens. Return values are ignored.
# ---------------------------------------------------------------------------------------


@hookspec
def modelyard_on_prediction(record: PredictionRecord) -> None:
    """Called once per logged prediction (live and shadow), off the request path.

    ``record`` is a :class:`modelyard.predictions.records.PredictionRecord`. Keep it fast:
    it runs in the log writer's thread, so a slow hook delays logging, never answers.

    Example::

        @hookimpl
        def modelyard_on_prediction(record):
            if record.prediction > 0.99:
                logging.getLogger("audit").info("high score %s", record.request_id)
    """


@hookspec
def modelyard_on_alert(alert: Alert) -> None:
    """Called when a monitor raises an alert.

    ``alert`` is a :class:`modelyard.monitoring.alerts.Alert`. Rollout guards listen
    here too; a plugin may page someone or open a ticket.

    Example::

        @hookimpl
        def modelyard_on_alert(alert):
            print("ALERT", alert.model, alert.summary)
    """


@hookspec
def modelyard_on_promote(event: AliasEvent) -> None:
    """Called after an alias moves to a version by promotion.

    ``event`` is a :class:`modelyard.registry.types.AliasEvent` (model, alias, from and to
    version, who, when, why).

    Example::

        @hookimpl
        def modelyard_on_promote(event):
            notify(f"{event.model}@{event.alias} is now v{event.to_version}")
    """


@hookspec
def modelyard_veto_promotion(request: PromotionRequest) -> str | None:
    """Called before an alias moves by promotion; return a reason to veto it, or ``None``.

    ``request`` is a :class:`modelyard.registry.gates.PromotionRequest`: the model, the
    alias, the candidate version and the one it replaces (or ``None``), the results of the
    model's promotion gates, whether the promotion is ``forced`` past failing gates, who
    and why. Nothing has moved yet: any plugin returning a reason (or raising) stops the
    promotion with :class:`~modelyard.errors.PromotionRefused` naming the plugin and its
    reason; ``--force`` does not override a veto (the plugin sees ``request.forced`` and
    may allow it).

    Example::

        @hookimpl
        def modelyard_veto_promotion(request):
            if request.alias == "production" and change_freeze_active():
                return "change freeze until Monday"
            return None
    """


@hookspec
def modelyard_on_rollback(event: AliasEvent) -> None:
    """Called after an alias moves back to its previous holder (by hand or automatically).

    ``event`` is a :class:`modelyard.registry.types.AliasEvent`; ``event.reason`` says why.

    Example::

        @hookimpl
        def modelyard_on_rollback(event):
            notify(f"rolled back {event.model}: {event.reason}")
    """
