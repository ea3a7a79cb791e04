"""``modelyard containerize``: a Docker build context and Kubernetes manifests for serving the yard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelyard.cli.output import emit, json_option


@click.command("containerize")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write."
)
@click.option("--name", default=None, help="Kubernetes name (default: the project name).")
@click.option("--image", default=None, help="Image reference in the manifests (default: NAME:latest).")
@click.option("--namespace", default=None, help="Kubernetes namespace of the objects.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Server worker processes per pod.",
)
@click.option("--replicas", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--min-replicas", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--max-replicas", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--target-cpu",
    "target_cpu_percent",
    type=click.IntRange(1, 100),
    default=70,
    show_default=True,
    help="Autoscaler target, percent of the CPU request.",
)
@click.option("--cpu-request", default="500m", show_default=True)
@click.option("--cpu-limit", default="2", show_default=True)
@click.option("--memory-request", default="1Gi", show_default=True)
@click.option("--memory-limit", default="2Gi", show_default=True)
@click.option(
    "--python-version",
    default=None,
    help="Base image python:VERSION-slim (default: this Python's, which compiled the wheels built here).",
)
@click.option(
    "--modelyard-requirement",
    default=None,
    help="pip requirement for modelyard instead of a wheel of the copy installed here (e.g. a published release).",
)
@click.option(
    "--requirement", "extra_requirements", multiple=True, help="Another pip requirement (repeatable)."
)
@click.option(
    "--feature-store-yaml",
    default=None,
    help="Feast config file the pods use (e.g. feature_store.redis.yaml).",
)
@click.option(
    "--env-secret", default=None, help="Secret whose keys become environment variables (URLs, passwords)."
)
@click.option(
    "--tokens-secret",
    default=None,
    help="Secret with the API's bearer tokens (keys predict, feedback, admin). Default: <name>-tokens.",
)
@click.option(
    "--no-copy", is_flag=True, help="Write only the generated files (use when --out is the yard itself)."
)
@json_option
@click.pass_context
def containerize(ctx: click.Context, out: Path, no_copy: bool, as_json: bool, **options: Any) -> None:
    """Write a Docker build context and Kubernetes manifests for serving this yard.

    image/requirements.txt lists exactly what the image installs: a wheel of the modelyard
    installed here (with the serve extra), every distribution that provides a plugin the config
    names (a wheel when installed from a local tree, name==version when from an index), and what
    the models' flavors need to load artifacts. It fails, naming the config key, when a plugin
    comes from no installed distribution. The image runs as a non-root user and health-checks
    /v2/health/live.
    k8s/ holds a ConfigMap (modelyard.yaml), a Deployment (resources, probes on the v2 health
    endpoints), a Service and a HorizontalPodAutoscaler.

    \b
    Example:
      modelyard --repo feature_repo containerize --out build/ --image registry.example.com/rides:1.0
      docker build -t registry.example.com/rides:1.0 build/ && kubectl apply -f build/k8s/
    """
    from modelyard.cli.main import load_yard
    from modelyard.deploy.context import write_build_context

    yard = load_yard(ctx)
    if options["min_replicas"] > options["max_replicas"]:
        raise click.BadParameter("--min-replicas is above --max-replicas", param_hint="--min-replicas")
    options["extra_requirements"] = tuple(options["extra_requirements"])
    result = write_build_context(yard, out, copy_repo=not no_copy, **options)
    summary = {
        "directory": str(result.directory),
        "files": [str(p.relative_to(result.directory)) for p in result.files],
        "image": result.settings.image,
        "python": result.settings.python_version,
        "requirements": result.requirements.lines,
        "port": result.settings.port,
        "warnings": result.settings.warnings,
    }
    emit(summary, as_json=as_json, title="build context written")
