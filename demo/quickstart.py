"""The end-to-end quickstart that ``make demo`` runs, on the embedded default (no server needed).

Every step is a ``modelyard`` command a user would type (shown as ``$ modelyard ...``), plus a
few lines of Python where a user would write Python (a training frame, a client, a custom
model). It works in a fresh copy of ``feature_repo/`` under ``build/demo/`` each run.

Acts: features (apply, materialize, training frame, online vectors) -> registry (train two
versions, promote, roll back, diff) -> serving (HTTP JSON and Open Inference Protocol v2) ->
rollout (a canary of v2 ramps and is promoted; a slow v3 is rolled back automatically) ->
monitoring (drift injected, monitors alert, a canary guarded by the drift monitor rolls back,
HTML report) -> clean shutdown -> safety (a promotion gate refuses a worse model, a version is
reproduced from its snapshot and verified bit for bit, gc says why it keeps what it keeps) ->
real-time features (a model with request data and an on-demand view, a push changes its answer,
a freshness alert when materialization stops; demo/realtime.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from rich.console import Console
from rich.rule import Rule

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "demo"
REPO = WORK / "rideshare"
MODELYARD = str(Path(sys.executable).with_name("modelyard"))
MODEL = "trip_acceptance"
console = Console()


def act(title: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}"))


def modelyard(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run one CLI command against the demo yard, echoing it like a terminal would."""
    console.print(f"[bold cyan]$ modelyard {' '.join(args)}")
    proc = subprocess.run(
        [MODELYARD, "--repo", str(REPO), *args],
        text=True,
        capture_output=True,
        env={**os.environ, "COLUMNS": os.environ.get("COLUMNS", "120")},
    )
    if not quiet and proc.stdout.strip():
        print(proc.stdout.rstrip())
    if proc.stderr.strip() and (proc.returncode or not quiet):
        print(proc.stderr.rstrip(), file=sys.stderr)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo step failed: modelyard {' '.join(args)} (exit {proc.returncode})")
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def features_act(end: datetime) -> pd.DataFrame:
    from modelyard.examples.repo import copy_example_repo
    from modelyard.examples.rideshare import generate

    act("1. Features: one Feast repo, the same FeatureService for training and serving")
    shutil.rmtree(WORK, ignore_errors=True)
    copy_example_repo(REPO)
    data = generate(REPO, end=end)
    console.print(f"generated the rideshare example under {REPO.relative_to(ROOT)}: {data}")
    modelyard("apply")
    modelyard("materialize", "--no-progress")

    from modelyard.yard import Yard

    yard = Yard.load(REPO)
    entities = pd.read_parquet(REPO / "data" / f"{MODEL}_entities.parquet")
    frame = yard.features.training_frame(MODEL, entities)
    console.print(
        f"training frame of {MODEL} (point-in-time join): {frame.shape[0]} rows x {frame.shape[1]} columns, "
        f"one row per entity row: {len(frame) == len(entities)}"
    )
    row = entities.iloc[-1]
    for model in ("trip_acceptance", "tip_amount"):
        modelyard(
            "features", model, "-e", f"driver_id={row.driver_id}", "-e", f"customer_id={row.customer_id}"
        )
    freshness_rules(yard)
    return entities


def freshness_rules(yard: Any) -> None:
    """driver_status (ttl 1 h, a timestamp feature): serving returns exactly the training-frame row."""
    from modelyard.features.expiry import CLOCK_ENV
    from modelyard.features.online.reader import online_reader

    now = pd.Timestamp.now(tz="UTC").floor("s")
    drivers = sorted(pd.read_parquet(REPO / "data" / "driver_status.parquet")["driver_id"].unique().tolist())
    store = yard.feature_store
    offline = store.get_historical_features(
        entity_df=pd.DataFrame({"driver_id": drivers, "event_timestamp": now}),
        features=store.get_feature_service("driver_status_v1"),
    ).to_df()
    os.environ[CLOCK_ENV] = now.isoformat()  # judge freshness online at the same instant
    try:
        online = online_reader(store, "driver_status_v1").read({"driver_id": drivers})
    finally:
        os.environ.pop(CLOCK_ENV, None)
    fresh = [v is not None for v in online["online_minutes"]]
    offline_minutes = [None if pd.isna(v) else int(v) for v in offline["online_minutes"]]
    offline_trip = [None if pd.isna(v) else pd.Timestamp(v).floor("s") for v in offline["last_trip_at"]]
    online_trip = [None if v is None else pd.Timestamp(v) for v in online["last_trip_at"]]
    same = online["online_minutes"] == offline_minutes and online_trip == offline_trip
    console.print(
        f"driver_status (ttl 1 h): {sum(fresh)} of {len(drivers)} drivers have a fresh status at {now}; "
        f"online equals the training frame: {same}; last_trip_at is served in whole seconds, "
        "as training frames carry it"
    )
    if not same:
        raise SystemExit("demo step failed: serving and the training frame disagree on driver_status")


def registry_act() -> None:
    act("2. Registry: immutable versions with lineage, aliases with a history, rollback, diff")
    modelyard("train", MODEL)
    modelyard("train", MODEL, "--param", "C=0.05", "--description", "stronger regularisation")
    modelyard("train", "tip_amount")
    modelyard("promote", MODEL, "1", "--reason", "first release")
    modelyard("promote", "tip_amount", "1", "--reason", "first release")
    modelyard("promote", MODEL, "2", "--reason", "better validation AUC?")
    modelyard("rollback", MODEL, "--reason", "v2 looked worse on the dashboard")
    modelyard("models", "history", MODEL)
    modelyard("models", "diff", MODEL, "1", "2")


class Server:
    """``modelyard serve`` in a child process, stopped with Ctrl-C (SIGINT) like a user would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        console.print(f"[bold cyan]$ modelyard serve --port {self.port}")
        self.log = open(WORK / "server.log", "w")  # noqa: SIM115 - closed in stop()
        # Feast's metrics module, once this process read features online, points these at a temp
        # dir of this process; a server of its own must not inherit them
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC")}
        self.proc = subprocess.Popen(
            [MODELYARD, "--repo", str(REPO), "serve", "--port", str(self.port), "--log-level", "warning"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited early; see {WORK / 'server.log'}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit("the server did not become ready in 120 s")
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def predict(self, entities: pd.DataFrame, tag: str) -> list[dict]:
        answers = []
        for i, row in enumerate(entities.itertuples()):
            body = {
                "entities": {"driver_id": [int(row.driver_id)], "customer_id": [int(row.customer_id)]},
                "request_id": f"{tag}-{i}",
                "routing_key": f"customer-{row.customer_id}",
            }
            response = self.client.post(f"/v1/models/{MODEL}/predict", json=body)
            response.raise_for_status()
            answers.extend(response.json()["predictions"])
        return answers

    def feedback(self, entities: pd.DataFrame, tag: str) -> None:
        rows = [
            {"request_id": f"{tag}-{i}", "label": int(row.accepted)}
            for i, row in enumerate(entities.itertuples())
        ]
        self.client.post(f"/v1/models/{MODEL}/feedback", json={"feedback": rows}).raise_for_status()

    def stop(self) -> None:
        console.print("[bold cyan]^C  (SIGINT: graceful shutdown, the prediction log is flushed)")
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.log.close()
        console.print(f"server stopped, exit code {code}")


def serving_act(server: Server, entities: pd.DataFrame) -> None:
    act("3. Serving: entity keys in, features from the online store, prediction out")
    row = entities.iloc[0]
    body = {"entities": {"driver_id": [int(row.driver_id)], "customer_id": [int(row.customer_id)]}}
    console.print(f"[bold cyan]POST /v1/models/{MODEL}/predict[/] {json.dumps(body)}")
    answer = server.client.post(f"/v1/models/{MODEL}/predict", json=body).json()
    console.print_json(data=answer)
    again = server.client.post(f"/v1/models/{MODEL}/predict", json=body).json()
    console.print(f"same input again -> cached: {again['predictions'][0].get('cached')}")

    import tritonclient.http as triton

    console.print("[bold cyan]Open Inference Protocol v2[/] with tritonclient's HTTP client")
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    inputs = []
    for name in ("driver_id", "customer_id"):
        tensor = triton.InferInput(name, [2], "INT64")
        tensor.set_data_from_numpy(entities[name].head(2).to_numpy(dtype="int64"), binary_data=False)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("prediction", binary_data=False)]
    result = client.infer("tip_amount", inputs, outputs=outputs)
    console.print(
        f"server live: {client.is_server_live()}, tip_amount predictions: {result.as_numpy('prediction')}"
    )


def ramp(server: Server, entities: pd.DataFrame, tag: str, n: int) -> None:
    sample = entities.sample(n, random_state=abs(hash(tag)) % 2**31)
    answers = server.predict(sample, tag)
    server.feedback(sample, tag)
    counts = pd.Series([a["variant"] for a in answers]).value_counts().to_dict()
    console.print(f"sent {n} requests ({tag}): answered by {counts}")


def wait_reload(server: Server) -> None:
    time.sleep(2.5)  # serving.reload_interval is 2 s: every worker has polled the new state by then


def rollout_act(server: Server, entities: pd.DataFrame) -> None:
    from demo_models import SlowAcceptance

    from modelyard.yard import Yard

    act("4. Rollout: a canary of v2 ramps and is promoted; a slow v3 is rolled back automatically")
    # guards decide with 95% confidence: ~60 candidate requests can show a p90 under 250 ms and
    # an error rate under 10%; a p99 would take 299 requests to clear
    guards = [
        '{"type": "latency", "quantile": 0.9, "max_ms": 250, "min_samples": 10}',
        '{"type": "error_rate", "max": 0.1, "min_samples": 10}',
    ]
    canary = ["--set", "steps=[50,100]", "--set", "min_dwell_seconds=0", "--set", "min_samples=10"]
    guard_args = [arg for g in guards for arg in ("--guard", g)]
    modelyard(
        "deploy",
        MODEL,
        "--router",
        "canary",
        "--variant",
        "2",
        *canary,
        *guard_args,
        "--salt",
        "demo-v2",
        "--reason",
        "canary of v2",
    )
    wait_reload(server)
    ramp(server, entities, "canary-v2-a", 120)
    modelyard("rollout", "tick", MODEL)
    wait_reload(server)
    ramp(server, entities, "canary-v2-b", 30)
    modelyard("rollout", "tick", MODEL)

    yard = Yard.load(REPO)
    v3 = yard.registry.register(MODEL, SlowAcceptance(), flavor="python", description="deliberately slow")
    yard.registry.close()
    console.print(f"registered v{v3.version} (python flavor): a version 350 ms too slow")
    modelyard(
        "deploy",
        MODEL,
        "--router",
        "canary",
        "--variant",
        str(v3.version),
        *canary,
        *guard_args,
        "--salt",
        "demo-v3",
        "--reason",
        f"canary of v{v3.version}",
    )
    wait_reload(server)
    ramp(server, entities, "canary-v3", 40)
    modelyard("rollout", "tick", MODEL)
    modelyard("rollout", "status", MODEL)
    modelyard("experiment", "report", MODEL)


def monitoring_act(server: Server, entities: pd.DataFrame, end: datetime) -> None:
    from modelyard.examples.rideshare import generate

    act("5. Monitoring: drift injected upstream; monitors alert; a drift-guarded canary rolls back")
    drift_from = end - timedelta(days=3)
    generate(REPO, end=end, drift_from=drift_from)
    console.print(
        f"the generator shifted conv_rate, added an unseen vehicle type and raised rating's missing rate "
        f"from {drift_from:%Y-%m-%d %H:%M}"
    )
    modelyard("materialize", "--start", drift_from.isoformat(), "--end", end.isoformat(), "--no-progress")
    modelyard("train", MODEL, "--param", "C=0.5", "--description", "retrained candidate", quiet=True)
    v4 = json.loads(modelyard("models", "show", MODEL, "--json", quiet=True).stdout)["version"]
    modelyard(
        "deploy",
        MODEL,
        "--router",
        "canary",
        "--variant",
        str(v4),
        "--set",
        "steps=[50,100]",
        "--set",
        "min_dwell_seconds=0",
        "--set",
        "min_samples=10",
        "--guard",
        '{"type": "monitor", "monitor": "drift"}',
        "--salt",
        "demo-v4",
        "--reason",
        f"canary of v{v4}, guarded by the drift monitor",
    )
    wait_reload(server)
    ramp(server, entities, "drifted", 120)
    time.sleep(2.5)  # the prediction log flushes every second or so
    proc = modelyard("monitor", "run", MODEL, "--window", "10m", check=False, quiet=True)
    console.print(f"monitor exit code {proc.returncode} (2 = a monitor failed and alerted)")
    modelyard("rollout", "tick", MODEL)
    modelyard("models", "history", MODEL)
    report = WORK / "report.html"
    modelyard("report", MODEL, "--out", str(report))
    console.print(f"open {report.relative_to(ROOT)} in a browser")
    for page in ("/ui", f"/ui/models/{MODEL}", f"/ui/models/{MODEL}/monitoring?window=all"):
        answer = server.client.get(page)
        if answer.status_code != 200:
            raise SystemExit(f"the web UI page {page} answered {answer.status_code}: {answer.text[:500]}")
    console.print(f"the web UI answers at {server.url}/ui (models, versions, alias history, monitoring)")


def safety_act() -> None:
    act("6. Safety: a promotion gate refuses a worse model; v1 is reproduced bit for bit")
    config = REPO / "modelyard.yaml"
    gates = (
        "    promotion:\n      gates:\n        - roc_auc >= 0.6\n        - log_loss <= production * 1.02\n"
    )
    anchor = "    training:\n      function: train:train_trip_acceptance"
    text = config.read_text()
    if anchor not in text:
        raise SystemExit(f"demo step failed: cannot find the {MODEL} training section in {config}")
    config.write_text(text.replace(anchor, gates + anchor, 1))
    console.print(f"added to models.{MODEL} in modelyard.yaml:\n{gates.rstrip()}")
    worse = json.loads(
        modelyard(
            "train",
            MODEL,
            "--param",
            "C=0.0001",
            "--description",
            "regularised to nothing",
            "--json",
            quiet=True,
        ).stdout
    )
    console.print(f"trained v{worse['version']}: log_loss {worse['metrics']['log_loss']:.4f}")
    refused = modelyard("promote", MODEL, str(worse["version"]), "--reason", "try it", check=False)
    if refused.returncode == 0:
        raise SystemExit("demo step failed: the gate let a worse model through")
    again = json.loads(modelyard("train", MODEL, "--from-version", "1", "--json", quiet=True).stdout)
    console.print(f"v{again['version']} retrained from v1's snapshot and recipe (Feast not read)")
    modelyard("models", "verify", MODEL, "1", "--against", str(again["version"]))
    modelyard("gc", "--dry-run")


def main() -> int:
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    entities = features_act(end)
    registry_act()
    server = Server()
    try:
        serving_act(server, entities)
        rollout_act(server, entities)
        monitoring_act(server, entities, end)
    finally:
        server.stop()
    safety_act()
    from realtime import realtime_act

    realtime_act(repo=REPO, modelyard=modelyard, act=act, console=console, server_factory=Server)
    act("8. Storage")
    modelyard("usage")
    console.print("\n[bold green]demo finished[/]: everything ran on local files and SQLite.")
    port = 8765
    console.print(
        "\n[bold]Look at the yard in a browser[/] (read-only; nothing is loaded from the network):\n"
        f"  {Path(MODELYARD).relative_to(ROOT) if Path(MODELYARD).is_relative_to(ROOT) else MODELYARD} "
        f"--repo {REPO.relative_to(ROOT)} ui --port {port}\n"
        f"  then open [bold]http://127.0.0.1:{port}/ui[/] and look at:\n"
        f"  - {MODEL}: the failed drift check on rating, from the drifted traffic of act 5\n"
        f"  - /ui/models/{MODEL}: the alias history timeline (the promotions, the rollback of v2, the\n"
        "    automatic rollback of the slow v3), the deployment changes of the canaries, and the\n"
        "    freshness of each feature view it reads (lag against its ttl, expired share)\n"
        f"  - /ui/models/{MODEL}/monitoring?window=all: rating's distribution against its training\n"
        "    snapshot, and every drift statistic over time with its threshold\n"
        f"  - /ui/models/{MODEL}/diff?a=1&b=2: what changed between v1 and v2 (params, metrics, data)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
