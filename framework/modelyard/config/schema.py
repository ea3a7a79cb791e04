"""The schema of ``modelyard.yaml``, as pydantic models.

Every section forbids unknown keys, so a typo fails at load time with the key's path
instead of being ignored. Plugin choices (``{plugin: NAME, settings: {...}}``) are checked
against the installed plugins by :func:`modelyard.config.loader.validate_plugins`, where
each plugin validates its own ``settings`` with its own model.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.config.names import NAME_PATTERN

#: the protocols a server mounts when ``serving.protocols`` is not set (all of modelyard's own)
DEFAULT_PROTOCOLS = ("v1", "v2", "feedback", "push", "ui")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginChoice(_Strict):
    """One plugin chosen by name, with the settings its own config model validates."""

    plugin: str
    settings: dict[str, Any] = Field(default_factory=dict)


class TrainingConfig(_Strict):
    """How ``modelyard train MODEL`` builds a new version."""

    function: str = Field(description="'module:function' taking the training frame, returning an estimator")
    entities: str = Field(
        description="Parquet file (relative to the repo) with entity keys, event_timestamp and the label"
    )
    test_size: float = Field(0.2, gt=0, lt=1)
    random_state: int = 0
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("function")
    @classmethod
    def _module_function(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("expected 'module:function'")
        return value


class MissingValuePolicy(_Strict):
    """What serving does when Feast has no value for a feature of an entity."""

    policy: Literal["pass", "default", "reject"] = "pass"
    defaults: dict[str, Any] = Field(default_factory=dict)


class DeploymentConfig(_Strict):
    """Which variants of a model answer, and how traffic is split between them."""

    alias: str = Field("production", pattern=NAME_PATTERN)
    router: PluginChoice = Field(default_factory=lambda: PluginChoice(plugin="single"))
    guards: list[dict[str, Any]] = Field(default_factory=list)


class MonitorConfig(_Strict):
    """One monitor of a model: a detector run over a window of the prediction log."""

    name: str
    detector: PluginChoice
    features: list[str] | None = None
    window: str = "1h"
    per_variant: bool = False


class PromotionConfig(_Strict):
    """Gates a version must pass to be promoted to ``alias`` (see ``modelyard.registry.gates``)."""

    alias: str = "production"
    gates: list[str] = Field(
        default_factory=list,
        description="conditions on the candidate's metrics: 'roc_auc >= 0.75', 'log_loss <= production * 1.02'",
    )
    require: list[Literal["shadow", "experiment"]] = Field(
        default_factory=list, description="checks the candidate must have passed: 'shadow', 'experiment'"
    )
    min_shadow_samples: int = Field(100, ge=1)
    max_shadow_error_rate: float = Field(0.0, ge=0, le=1)
    min_experiment_samples: int = Field(100, ge=1)

    @field_validator("gates")
    @classmethod
    def _parse_gates(cls, value: list[str]) -> list[str]:
        from modelyard.config.gates import parse_condition

        for text in value:
            parse_condition(text)  # ValueError names the bad gate and the expected form
        return value

    def conditions(self) -> list[Any]:
        """The parsed :class:`modelyard.config.gates.Condition` of every gate."""
        from modelyard.config.gates import parse_condition

        return [parse_condition(text) for text in self.gates]


class ModelConfig(_Strict):
    """A model as the yard declares it; its versions live in the registry."""

    feature_service: str
    entity_keys: list[str] = Field(min_length=1)
    task: Literal["classification", "regression"]
    label: str
    flavor: str = "sklearn"
    description: str = ""
    training: TrainingConfig | None = None
    missing_values: MissingValuePolicy = Field(default_factory=MissingValuePolicy)
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)
    monitors: list[MonitorConfig] = Field(default_factory=list)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)


class ArtifactsConfig(_Strict):
    """Where artifacts and snapshots are stored: a local path (relative to the repo) or an fsspec URL."""

    url: str = ".modelyard/artifacts"


class RetentionConfig(_Strict):
    """What ``modelyard gc`` keeps."""

    keep_last: int = Field(10, ge=1)
    keep_alias_days: int = Field(30, ge=0)


class LimitsConfig(_Strict):
    """Bounds on what one request may be: anything beyond them is a 4xx, never work for the server."""

    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="largest request body; a larger one is a 413, refused before it is read whole",
    )
    max_json_depth: int = Field(
        32, ge=2, le=1000, description="deepest nesting of objects and arrays in a JSON body"
    )
    max_request_id: int = Field(
        256, ge=8, description="longest request id (v1 request_id, v2 id, feedback request_id)"
    )


Scope = Literal["predict", "feedback", "admin"]


class TokenConfig(_Strict):
    """One bearer token, stored as the SHA-256 of its text (``modelyard token`` makes both)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    scopes: list[Scope] = Field(
        min_length=1, description="predict, feedback and/or admin (admin may do everything)"
    )
    name: str = Field("", max_length=100, description="who holds it (for rotation; never sent anywhere)")


class AuthConfig(_Strict):
    """Bearer-token authentication of the HTTP API (docs/serving.md, "Authentication").

    Tokens come from here (hashed) and from ``MODELYARD_TOKENS_PREDICT`` /
    ``MODELYARD_TOKENS_FEEDBACK`` / ``MODELYARD_TOKENS_ADMIN`` (comma-separated tokens, e.g. from a
    Kubernetes Secret). With no token at all authentication is off, which ``modelyard serve``
    allows only on a loopback address (or with ``--insecure``).
    """

    tokens: list[TokenConfig] = Field(default_factory=list)
    open_metrics: bool = Field(True, description="/metrics answers without a token (Prometheus scrapes)")


class ServingConfig(_Strict):
    """Settings of the HTTP server and batch scoring."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cache: PluginChoice | None = Field(default_factory=lambda: PluginChoice(plugin="lru"))
    log: PluginChoice = Field(default_factory=lambda: PluginChoice(plugin="parquet"))
    max_batch: int = Field(1000, ge=1)
    model_threads: int = Field(
        1,
        ge=0,
        description="threads a model may use per prediction call in a serving worker (onnxruntime's "
        "intra-op pool); 0 = the runtime's default, one per core",
    )
    adaptive_batching: bool = Field(
        True,
        description="stack the model calls of requests in flight together into one call (never waits for more)",
    )
    reload_interval: float = Field(2.0, gt=0)
    shadow_workers: int = Field(
        2, ge=1, description="threads scoring shadow variants (one job per shadow at a time)"
    )
    shadow_queue: int = Field(
        100, ge=1, description="jobs waiting per shadow variant; beyond it jobs are dropped and counted"
    )
    shadow_drain_seconds: float = Field(
        10.0, ge=0, description="at shutdown, how long queued shadow jobs may still run before being dropped"
    )
    online_store_fallback: Literal["error", "cache", "default"] = Field(
        "error",
        description="answer while the online store is unreachable: 503, the cached answer, or the declared defaults",
    )
    online_store_fallback_entities: int = Field(
        100_000, ge=1, description="entity rows whose last feature vector the 'cache' fallback remembers"
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    protocols: list[PluginChoice] = Field(
        default_factory=lambda: [PluginChoice(plugin=name) for name in DEFAULT_PROTOCOLS],
        description="the HTTP protocol plugins a server mounts, by name ('v1') or as {plugin, settings}; "
        "default: modelyard's own " + ", ".join(DEFAULT_PROTOCOLS),
    )

    @field_validator("protocols", mode="before")
    @classmethod
    def _protocol_names(cls, value: Any) -> Any:
        """``[v1, v2]`` is short for ``[{plugin: v1}, {plugin: v2}]``."""
        if isinstance(value, list):
            return [{"plugin": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("protocols")
    @classmethod
    def _protocols_once(cls, value: list[PluginChoice]) -> list[PluginChoice]:
        names = [choice.plugin for choice in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"protocol(s) {twice} listed more than once")
        return value


class MonitoringConfig(_Strict):
    """Where alerts go, and how often a condition that keeps failing is announced again."""

    alerters: list[PluginChoice] = Field(default_factory=lambda: [PluginChoice(plugin="log")])
    renotify_every: str = Field(
        "6h",
        pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$",
        description="a failing monitor that keeps failing the same way notifies again after this (30m, 6h, 1d)",
    )


class MaterializeConfig(_Strict):
    """How ``modelyard materialize`` finds rows that arrived after the previous run (docs/features.md)."""

    lookback: str = Field(
        "1d",
        pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$",
        description="a view without a created-timestamp column re-reads rows whose event time is this far "
        "before the previous run's end, so rows appended late are served (30m, 6h, 1d; 0s: none)",
    )

    @property
    def lookback_delta(self) -> timedelta:
        """``lookback`` as a timedelta."""
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", self.lookback)
        assert match is not None  # the pattern above
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return timedelta(**{unit: float(match.group(1))})


class FeaturesConfig(_Strict):
    """What modelyard does with the Feast repo beside ``feature_store.yaml``."""

    materialize: MaterializeConfig = Field(default_factory=MaterializeConfig)


class YardConfig(_Strict):
    """The whole of ``modelyard.yaml``."""

    project: str
    home: str = Field(
        ".modelyard", description="state directory (relative to the repo) for the embedded default"
    )
    registry: PluginChoice = Field(default_factory=lambda: PluginChoice(plugin="sqlalchemy"))
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        from modelyard.config.names import name_problem

        for name in value:
            problem = name_problem(name, "model")
            if problem:
                raise ValueError(problem)
        return value

    def plugin_choices(self) -> list[tuple[str, str, PluginChoice]]:
        """Every plugin choice in the file as ``(role, key path, choice)``."""
        choices: list[tuple[str, str, PluginChoice]] = [("registry_backend", "registry", self.registry)]
        if self.serving.cache is not None:
            choices.append(("cache", "serving.cache", self.serving.cache))
        choices.append(("log_sink", "serving.log", self.serving.log))
        for i, protocol in enumerate(self.serving.protocols):
            choices.append(("protocol", f"serving.protocols.{i}", protocol))
        for i, alerter in enumerate(self.monitoring.alerters):
            choices.append(("alerter", f"monitoring.alerters.{i}", alerter))
        for name, model in self.models.items():
            choices.append(("flavor", f"models.{name}.flavor", PluginChoice(plugin=model.flavor)))
            choices.append(("router", f"models.{name}.deployment.router", model.deployment.router))
            for i, monitor in enumerate(model.monitors):
                choices.append(("detector", f"models.{name}.monitors.{i}.detector", monitor.detector))
        return choices
