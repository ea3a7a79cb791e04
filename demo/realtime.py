"""The quickstart's real-time act: request data, an on-demand view, a push, and a freshness alert.

Called by ``quickstart.py`` after its main server stopped, with its helpers passed in. The
example repo already defines the pieces (``feature_repo/features.py``: the ``trip_request``
RequestSource, the ``trip_context`` on-demand view, the ``driver_live`` view fed by the
``driver_live_push`` PushSource, the ``trip_acceptance_live_v1`` FeatureService); here a user
declares a model on them, trains and serves it, and watches a push change its answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LIVE = "trip_acceptance_live"

MODEL_YAML = f"""
  {LIVE}:
    description: trip_acceptance plus the trip's distance (request data) and the driver's live acceptance rate (pushed)
    feature_service: trip_acceptance_live_v1
    entity_keys: [driver_id, customer_id]
    task: classification
    label: accepted
    flavor: sklearn
    training:
      function: train:train_trip_acceptance
      entities: data/trip_acceptance_live_entities.parquet
      test_size: 0.2
      random_state: 0
      params: {{C: 1.0}}
    monitors:
      - name: freshness
        detector: {{plugin: freshness, settings: {{max_lag_seconds: 10}}}}
"""


def realtime_act(
    *,
    repo: Path,
    modelyard: Callable[..., Any],
    act: Callable[[str], None],
    console: Any,
    server_factory: Callable[[], Any],
) -> None:
    act("7. Real-time features: request data, an on-demand transformation, a push, freshness")
    config = repo / "modelyard.yaml"
    text = config.read_text()
    head, sep, tail = text.partition("\nmodels:\n")
    if not sep:
        raise SystemExit(f"demo step failed: no 'models:' section in {config}")
    config.write_text(head + sep + MODEL_YAML.lstrip("\n") + tail)
    console.print(f"declared model {LIVE} in modelyard.yaml (FeatureService trip_acceptance_live_v1)")
    modelyard("apply", quiet=True)
    modelyard("materialize", "--no-progress", quiet=True)
    modelyard("train", LIVE, quiet=True)
    modelyard("promote", LIVE, "1", "--reason", "first release of the live model", quiet=True)
    modelyard(
        "features", LIVE, "-e", "driver_id=1001", "-e", "customer_id=50001", "-r", "trip_distance_km=12.5"
    )
    server = server_factory()
    try:
        body = {
            "entities": {"driver_id": [1001], "customer_id": [50001]},
            "request": {"trip_distance_km": [12.5]},
        }
        console.print(f"[bold cyan]POST /v1/models/{LIVE}/predict[/] {json.dumps(body)}")
        before = server.client.post(f"/v1/models/{LIVE}/predict", json=body).json()["predictions"][0]
        console.print(f"score {before['score']:.4f} with the materialized live acceptance rate")
        now = datetime.now(timezone.utc).isoformat()
        push = {"df": {"driver_id": [1001], "live_acceptance_rate": [0.02], "event_timestamp": [now]}}
        console.print(f"[bold cyan]POST /v1/push/driver_live_push[/] {json.dumps(push)}")
        pushed = server.client.post("/v1/push/driver_live_push", json=push)
        pushed.raise_for_status()
        after = server.client.post(f"/v1/models/{LIVE}/predict", json=body).json()["predictions"][0]
        console.print(
            f"score {after['score']:.4f} on the next request: the driver now accepts 2% of rides "
            f"(changed: {after['score'] != before['score']})"
        )
        missing = server.client.post(f"/v1/models/{LIVE}/predict", json={"entities": body["entities"]})
        console.print(
            f"without the trip's distance: {missing.status_code} {missing.json().get('error')}", markup=False
        )
        console.print("materialization stops here; the freshness monitor allows 10 s of lag")
        time.sleep(12)
    finally:
        server.stop()
    modelyard("features", "status")
    proc = modelyard("monitor", "run", LIVE, "--window", "10m", check=False)
    console.print(f"monitor exit code {proc.returncode} (2 = the freshness monitor failed and alerted)")
