"""What a generated container and its Kubernetes objects are made from: the yard's config plus options."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.deploy.distributions import (
    FIRST_PARTY,
    Requirements,
    plugin_distributions,
    resolve_distribution,
)
from modelyard.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

#: where the yard lives inside the image
YARD_DIR = "/srv/yard"
UID = 10001

_NAME = re.compile(r"[^a-z0-9-]+")


def k8s_name(value: str) -> str:
    """A DNS-1123 label from a project name (lowercase letters, digits, dashes; at most 63)."""
    name = _NAME.sub("-", value.lower()).strip("-")[:63].strip("-")
    if not name:
        raise ConfigError(f"cannot make a Kubernetes name from {value!r}; pass --name")
    return name


@dataclass(frozen=True)
class ContainerSettings:
    """Everything the Dockerfile and manifests depend on."""

    name: str
    image: str
    port: int
    workers: int = 2
    python_version: str = field(default_factory=lambda: "{}.{}".format(*sys.version_info[:2]))
    requirements: tuple[str, ...] = ("modelyard[serve]",)
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    target_cpu_percent: int = 70
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "1Gi"
    memory_limit: str = "2Gi"
    namespace: str | None = None
    feature_store_yaml: str | None = None
    env_secret: str | None = None
    #: the Secret holding the API's bearer tokens (keys predict, feedback, admin; comma-separated tokens)
    tokens_secret: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def token_secret_name(self) -> str:
        return self.tokens_secret or f"{self.name}-tokens"

    @property
    def health_live(self) -> str:
        return "/v2/health/live"

    @property
    def health_ready(self) -> str:
        return "/v2/health/ready"

    @property
    def serve_args(self) -> list[str]:
        """The ``modelyard`` arguments the container runs: the same in the Dockerfile and the Deployment."""
        return [
            "--repo",
            YARD_DIR,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]


def image_requirements(
    yard: Yard,
    wheels: Path,
    *,
    modelyard_requirement: str | None = None,
    extra_requirements: tuple[str, ...] = (),
) -> Requirements:
    """The image's requirement list; wheels of locally installed distributions are written to ``wheels``.

    modelyard itself (with the ``serve`` extra, and ``postgres`` when the config uses PostgreSQL),
    every distribution providing a plugin the config names, what each used flavor declares it needs
    to load artifacts (:attr:`~modelyard.plugins.specs.FlavorSpec.requires`), then ``extra_requirements``.
    """
    config = yard.config
    uses_postgres = any(
        "postgresql" in str(choice.settings) for choice in (config.registry, config.serving.log)
    )
    extras = "serve,postgres" if uses_postgres else "serve"
    providers = plugin_distributions(yard)
    result = Requirements()
    first_party_reasons = tuple(providers.pop(FIRST_PARTY, []))
    if modelyard_requirement:
        result.extra.append(modelyard_requirement)
    else:
        result.distributions.append(
            resolve_distribution(FIRST_PARTY, wheels, extras=extras, reasons=first_party_reasons)
        )
    for dist_name, keys in sorted(providers.items()):
        result.distributions.append(resolve_distribution(dist_name, wheels, reasons=tuple(keys)))
    for flavor in sorted({model.flavor for model in config.models.values()}):
        result.extra += [r for r in getattr(yard.host.spec("flavor", flavor), "requires", ()) if r]
    for note, lines in artifact_requirements(yard):
        result.extra += lines
        result.notes.append(note)
    result.extra += list(extra_requirements)
    return result


def artifact_requirements(yard: Yard) -> list[tuple[str, list[str]]]:
    """(note, requirement lines) of every version an alias or deployment names, of each model whose
    configured flavor declares requirements per artifact (``flavor: mlflow``: the model's own
    ``requirements.txt``; see :meth:`~modelyard.artifacts.flavor.Flavor.requirements`). Other
    models' artifacts are not fetched, nor their registry read.

    Raises :class:`ContainerizeError` when such a model's versions cannot be read: the image
    would miss what they need.
    """
    from modelyard.artifacts.flavor import Flavor, build_flavor
    from modelyard.errors import ContainerizeError, ModelNotFound, ModelyardError

    def declares(flavor_name: str) -> bool:
        return type(build_flavor(yard.host, flavor_name)).requirements is not Flavor.requirements

    out: list[tuple[str, list[str]]] = []
    for name, model in yard.config.models.items():
        if not declares(model.flavor):
            continue
        try:
            for use in yard.registry.versions_in_use(name):
                version = yard.registry.get_version(name, use.version)
                lines = yard.registry.artifact_requirements(version) if declares(version.flavor) else []
                if lines:
                    out.append((f"{version.label} ({version.flavor}) needs: {', '.join(lines)}", lines))
        except ModelNotFound:  # declared, never registered: nothing to serve yet
            continue
        except ModelyardError as exc:
            raise ContainerizeError(
                f"cannot read what the {model.flavor} model {name!r} needs to load from the registry "
                f"({exc}); the image must install it: run containerize where the registry is reachable"
            ) from None
    return out


def settings_for(
    yard: Yard,
    *,
    requirements: Sequence[str] = (),
    name: str | None = None,
    image: str | None = None,
    **options: Any,
) -> ContainerSettings:
    """Container settings from the yard's config (port, registry, log sink), ``requirements`` and ``options``.

    ``options`` are the other :class:`ContainerSettings` fields (replicas, cpu_limit...).
    """
    config = yard.config
    name = k8s_name(name or config.project)
    warnings: list[str] = []
    if "postgresql" not in str(config.registry.settings):
        warnings.append(
            "the registry is not on PostgreSQL: each pod would read its own copy. Point the registry at "
            "PostgreSQL and artifacts.url at shared storage before scaling out (docs/scaling.md)"
        )
    if config.serving.log.plugin == "parquet":
        warnings.append(
            "the prediction log is the parquet sink on the pod's disk (an emptyDir, lost with the pod); "
            "use the postgres log sink in Kubernetes (docs/scaling.md)"
        )
    if options.get("python_version") is None:
        options.pop("python_version", None)
    if not config.serving.auth.tokens:
        secret = options.get("tokens_secret") or f"{name}-tokens"
        warnings.append(
            f"the server binds 0.0.0.0 in the pod, so it needs bearer tokens: create the Secret {secret!r} "
            f"before applying (kubectl create secret generic {secret} --from-literal=predict=$(modelyard token "
            "--scope predict 2>/dev/null) ...; keys predict, feedback, admin); without it the pods do not start"
        )
    return ContainerSettings(
        name=name,
        image=image or f"{name}:latest",
        port=config.serving.port,
        requirements=tuple(requirements),
        warnings=warnings,
        **options,
    )
