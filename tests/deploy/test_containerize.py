"""containerize: the Dockerfile and manifests parse, and point at the real endpoints and the yard's settings."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.config.loader import load_config
from modelyard.deploy.context import write_build_context
from modelyard.deploy.settings import k8s_name
from modelyard.errors import ConfigError
from modelyard.yard import Yard

PORT = 9123


def _yard(path: Path, *, postgres: bool = False) -> Yard:
    path.mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text("project: rides\n")
    (path / "data").mkdir()
    (path / "data" / "registry.db").write_bytes(b"feast registry")
    (path / "data" / "driver_stats.parquet").write_bytes(b"offline data")
    (path / ".modelyard").mkdir()
    (path / ".modelyard" / "registry.db").write_bytes(b"local state")
    log = (
        "  log: {plugin: postgres, settings: {url: '${LOG_URL:-postgresql+psycopg://u@db/x}'}}\n"
        if postgres
        else ""
    )
    (path / "modelyard.yaml").write_text(
        "project: Rides_Prod\n"
        f"serving:\n  port: {PORT}\n{log}"
        "models:\n"
        "  trip_acceptance: {feature_service: fs, entity_keys: [driver_id], task: classification, label: y}\n"
        "  fare: {feature_service: fs2, entity_keys: [driver_id], task: regression, label: f, flavor: onnx}\n"
    )
    return Yard.load(path)


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.strip().partition(" ")
        out.append((keyword, args.strip()))
    assert not pending, "dangling line continuation"
    return out


def test_dockerfile_is_serving_only_non_root_and_health_checked(tmp_path: Path) -> None:
    yard = _yard(tmp_path / "yard")
    ctx = write_build_context(yard, tmp_path / "build", image="reg.example.com/rides:1.0")
    text = (ctx.directory / "Dockerfile").read_text()
    steps = _instructions(text)
    keywords = [k for k, _ in steps]
    assert keywords[0] == "FROM" and set(keywords) <= {
        "FROM",
        "ENV",
        "RUN",
        "WORKDIR",
        "COPY",
        "USER",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    }
    assert keywords.index("USER") > keywords.index("COPY")  # the server never runs as root
    user = dict(steps)["USER"]
    assert user.split(":")[0] not in {"0", "root"}
    # two stages: wheels built with a compiler, then a serving image without one
    stages = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    assert len(stages) == 2 and steps[stages[0]][1].endswith(" AS wheels")
    build, serve = steps[stages[0] : stages[1]], steps[stages[1] :]
    assert any(k == "RUN" and "gcc" in a for k, a in build)
    assert not any("gcc" in a or "apt-get" in a for _, a in serve)
    assert ("COPY", "--from=wheels /wheels /wheels") in serve
    # both stages run pip over the same requirements.txt: stage 1 makes wheels, stage 2 installs them offline
    assert ("RUN", "pip wheel --wheel-dir /wheels -r requirements.txt") in build
    pip = next(a for k, a in serve if k == "RUN" and a.startswith("pip install"))
    assert pip.startswith("pip install --no-index --find-links /wheels -r /wheels/requirements.txt")
    assert ("COPY", "--from=wheels /build/requirements.txt /wheels/requirements.txt") in serve
    assert ("WORKDIR", "/") in serve  # where ./wheels/NAME.whl means /wheels/NAME.whl
    packages = [
        line for line in ctx.requirements_file.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert packages == ctx.requirements.lines
    # modelyard is a wheel of the copy installed here, not a release from an index
    assert re.fullmatch(r"\./wheels/modelyard-[^/]+\.whl\[serve\]", packages[0]), packages[0]
    wheel = ctx.requirements_file.parent / packages[0][2:].removesuffix("[serve]")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "modelyard/yard.py" in names and "modelyard_plugins/flavors/__init__.py" in names
    assert "scikit-learn>=1.4" in packages and "skops>=0.10" in packages  # the sklearn flavor loads with them
    assert not any(p.startswith(("skl2onnx", "modelyard[train", "modelyard[dev")) for p in packages)
    # the serving image gets the yard's files, not the build inputs (wheels, requirements.txt)
    assert ("COPY", "--from=wheels --chown=10001:10001 /yard /srv/yard") in serve
    assert ("RUN", "rm -rf /yard/image") in build
    assert dict(steps)["EXPOSE"] == str(PORT)
    cmd = json.loads(dict(steps)["ENTRYPOINT"]) + json.loads(dict(steps)["CMD"])
    assert cmd[:4] == ["modelyard", "--repo", "/srv/yard", "serve"]
    assert cmd[cmd.index("--port") + 1] == str(PORT) and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    health = dict(steps)["HEALTHCHECK"]
    assert "CMD" in health and f"http://127.0.0.1:{PORT}/v2/health/live" in health
    probe = json.loads(health.split("CMD", 1)[1])
    compile(probe[2], "<healthcheck>", "exec")  # the probe is valid Python


def test_build_context_copies_the_repo_without_local_state(tmp_path: Path) -> None:
    ctx = write_build_context(_yard(tmp_path / "yard"), tmp_path / "build")
    d = ctx.directory
    assert (d / "modelyard.yaml").exists() and (d / "feature_store.yaml").exists()
    assert (d / "data" / "registry.db").exists()  # Feast's registry: serving needs the definitions
    assert not (d / ".modelyard").exists() and not (d / "data" / "driver_stats.parquet").exists()
    ignore = (d / ".dockerignore").read_text().splitlines()
    assert ".modelyard" in ignore and "data/*.parquet" in ignore
    with pytest.raises(ConfigError, match="not empty"):
        write_build_context(_yard(tmp_path / "yard2"), tmp_path / "yard")


def test_manifests_parse_and_wire_probes_resources_hpa_and_service(tmp_path: Path) -> None:
    yard = _yard(tmp_path / "yard", postgres=True)
    ctx = write_build_context(
        yard, tmp_path / "build", image="reg/rides:2", namespace="ml", cpu_limit="3", max_replicas=7
    )
    objects = []
    for path in sorted((ctx.directory / "k8s").glob("*.yaml")):
        objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    by_kind = {o["kind"]: o for o in objects}
    assert set(by_kind) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"}
    assert all(o["metadata"]["namespace"] == "ml" for o in objects)
    dep = by_kind["Deployment"]
    name = dep["metadata"]["name"]
    assert name == "rides-prod"
    pod = dep["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "reg/rides:2"
    # args replace the image's CMD and go to its ENTRYPOINT (modelyard): same server, same port
    assert "command" not in container
    assert container["args"][:3] == ["--repo", "/srv/yard", "serve"]
    assert container["args"][container["args"].index("--port") + 1] == str(PORT)
    assert 'ENTRYPOINT ["modelyard"]' in (ctx.directory / "Dockerfile").read_text()
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    res = container["resources"]
    assert (
        res["limits"]["cpu"] == "3"
        and res["requests"]["cpu"]
        and res["requests"]["memory"]
        and res["limits"]["memory"]
    )
    assert (
        container["securityContext"]["runAsNonRoot"] is True
        and container["securityContext"]["runAsUser"] != 0
    )
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    svc = by_kind["Service"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    hpa = by_kind["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["maxReplicas"] == 7 and hpa["spec"]["minReplicas"] <= 7
    # the ConfigMap holds the yard's modelyard.yaml, mounted where the server reads it
    cm = by_kind["ConfigMap"]
    (tmp_path / "from_cm.yaml").write_text(cm["data"]["modelyard.yaml"])
    assert load_config(tmp_path / "from_cm.yaml") == yard.config
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "config")
    assert (
        volume["configMap"]["name"] == cm["metadata"]["name"]
        and mount["mountPath"] == "/srv/yard/modelyard.yaml"
    )
    # PostgreSQL in config -> the driver is installed in the image
    assert ctx.requirements.lines[0].endswith(".whl[serve,postgres]")


def test_probe_paths_are_routes_the_server_serves(tmp_path: Path) -> None:
    from modelyard.serving import routes_v2

    ctx = write_build_context(_yard(tmp_path / "yard"), tmp_path / "build")
    served = {route.path for route in routes_v2.router.routes}
    dep = yaml.safe_load((ctx.directory / "k8s" / "deployment.yaml").read_text())
    probes = [
        dep["spec"]["template"]["spec"]["containers"][0][p]["httpGet"]["path"]
        for p in ("readinessProbe", "livenessProbe", "startupProbe")
    ]
    assert set(probes) <= served


def test_names_are_made_kubernetes_safe() -> None:
    assert k8s_name("My Project_2026!") == "my-project-2026"
    with pytest.raises(ConfigError):
        k8s_name("___")


def test_cli_writes_the_context_and_reports_warnings(tmp_path: Path) -> None:
    _yard(tmp_path / "yard")
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "--repo",
            str(tmp_path / "yard"),
            "containerize",
            "--out",
            str(tmp_path / "b"),
            "--replicas",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert "Dockerfile" in summary["files"] and "k8s/hpa.yaml" in summary["files"]
    assert summary["port"] == PORT
    assert any("registry" in w for w in summary["warnings"]) and any(
        "parquet sink" in w for w in summary["warnings"]
    )
    dep = yaml.safe_load((tmp_path / "b" / "k8s" / "deployment.yaml").read_text())
    assert dep["spec"]["replicas"] == 3
    bad = runner.invoke(
        main,
        [
            "--repo",
            str(tmp_path / "yard"),
            "containerize",
            "--out",
            str(tmp_path / "c"),
            "--min-replicas",
            "9",
            "--max-replicas",
            "3",
        ],
    )
    assert bad.exit_code == 2


def test_pods_get_the_api_tokens_from_a_secret_and_the_server_accepts_them(
    tmp_path: Path, monkeypatch
) -> None:
    """The pod binds 0.0.0.0, so it must have tokens: each scope's comes from the tokens Secret."""
    from modelyard.serving.auth import Tokens, check_bind

    yard = _yard(tmp_path / "yard")
    ctx = write_build_context(yard, tmp_path / "build", tokens_secret="rides-api")
    objects = []
    for path in sorted((ctx.directory / "k8s").glob("*.yaml")):
        objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    (dep,) = [o for o in objects if o["kind"] == "Deployment"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    for scope in ("predict", "feedback", "admin"):
        ref = env[f"MODELYARD_TOKENS_{scope.upper()}"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "rides-api", "key": scope, "optional": True}
    assert any("rides-api" in w for w in ctx.settings.warnings)
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    host = args[args.index("--host") + 1]
    with pytest.raises(ConfigError, match="without authentication"):
        check_bind(host, Tokens.load(yard.config.serving.auth, {}))
    check_bind(host, Tokens.load(yard.config.serving.auth, {"MODELYARD_TOKENS_PREDICT": "t" * 32}))
