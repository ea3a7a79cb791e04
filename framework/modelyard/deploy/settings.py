"""What a generated container and its Kubernetes objects are made from: the yard's config plus options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

#: Python packages a serving image needs to *load* each flavor's artifacts (on top of modelyard[serve]).
FLAVOR_RUNTIME: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn>=1.4", "skops>=0.10"),
    "onnx": (),  # onnxruntime is in modelyard[serve]
    "python": (),
}

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
    python_version: str = "3.11"
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
    warnings: list[str] = field(default_factory=list)

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


def settings_for(
    yard: Yard,
    *,
    name: str | None = None,
    image: str | None = None,
    modelyard_requirement: str | None = None,
    extra_requirements: tuple[str, ...] = (),
    **options: Any,
) -> ContainerSettings:
    """Container settings from the yard's config (port, flavors, PostgreSQL use) and ``options``.

    ``options`` are the other :class:`ContainerSettings` fields (replicas, cpu_limit...).
    """
    from modelyard import __version__

    config = yard.config
    name = k8s_name(name or config.project)
    uses_postgres = any(
        "postgresql" in str(choice.settings) for choice in (config.registry, config.serving.log)
    )
    extras = "serve,postgres" if uses_postgres else "serve"
    requirements = [modelyard_requirement or f"modelyard[{extras}]=={__version__}"]
    warnings: list[str] = []
    for model_name, model in sorted(config.models.items()):
        if model.flavor not in FLAVOR_RUNTIME:
            warnings.append(
                f"model {model_name!r} uses the flavor {model.flavor!r}: add what it needs to load with --requirement"
            )
        requirements += [r for r in FLAVOR_RUNTIME.get(model.flavor, ()) if r not in requirements]
    requirements += [r for r in extra_requirements if r not in requirements]
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
    return ContainerSettings(
        name=name,
        image=image or f"{name}:latest",
        port=config.serving.port,
        requirements=tuple(requirements),
        warnings=warnings,
        **options,
    )
