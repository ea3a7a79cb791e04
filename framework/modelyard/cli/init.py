"""``modelyard init``: a new yard from the template, with a little example data."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import click

from modelyard.errors import ConfigError

#: template file -> name in the new yard
TEMPLATE_FILES = {
    "feature_store.yaml": "feature_store.yaml",
    "features.py": "features.py",
    "modelyard.yaml": "modelyard.yaml",
    "gitignore": ".gitignore",
}
#: files whose presence means a yard (or a Feast repo) is already there
YARD_MARKERS = ("modelyard.yaml", "feature_store.yaml")
EXAMPLE_DATA = Path("data") / "driver_stats.parquet"


def project_name(directory: Path) -> str:
    """A Feast-compatible project name (letters, digits, underscores) from a directory name."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", directory.name).strip("_").lower()
    if not name or not name[0].isalpha():
        name = f"yard_{name}" if name else "yard"
    return name


def create_yard(target: Path, *, project: str | None = None, now: datetime | None = None) -> list[Path]:
    """Write a new yard into ``target`` and return the files written.

    Refuses (ConfigError) when ``target`` already holds a ``modelyard.yaml`` or a
    ``feature_store.yaml``: nothing is overwritten.
    """
    target = target.resolve()
    existing = [target / marker for marker in YARD_MARKERS if (target / marker).exists()]
    if existing:
        raise ConfigError(
            "a yard (or Feast repo) is already here; refusing to overwrite it. "
            "Pick an empty or new directory for `modelyard init PATH`",
            file=str(existing[0]),
        )
    if target.exists() and not target.is_dir():
        raise ConfigError("exists and is not a directory", file=str(target))
    clashes = [
        str(target / name)
        for name in [*TEMPLATE_FILES.values(), str(EXAMPLE_DATA)]
        if (target / name).exists()
    ]
    if clashes:
        raise ConfigError(
            f"refusing to overwrite {', '.join(clashes)}; move them away or pick another directory",
            file=str(target),
        )
    project = project or project_name(target)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", project):
        raise ConfigError(
            f"project name {project!r} must start with a letter and hold only letters, digits and underscores",
            key="project",
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    template = resources.files("modelyard.templates") / "yard"
    for source_name, dest_name in TEMPLATE_FILES.items():
        text = (template / source_name).read_text(encoding="utf-8").replace("{{project}}", project)
        dest = target / dest_name
        dest.write_text(text, encoding="utf-8")
        written.append(dest)
    written.append(write_example_data(target / EXAMPLE_DATA, now=now))
    return written


def write_example_data(path: Path, *, now: datetime | None = None, seed: int = 0) -> Path:
    """Seeded driver statistics every 6 hours over the 14 days before ``now`` (some values missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    now = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    cities = ["lisbon", "porto", "braga"]
    columns: dict[str, list] = {
        k: []
        for k in (
            "driver_id",
            "event_timestamp",
            "created",
            "conv_rate",
            "acc_rate",
            "avg_daily_trips",
            "city",
        )
    }
    for driver_id in range(1001, 1011):
        base = rng.uniform(0.2, 0.9)
        for step in range(14 * 4, 0, -1):
            ts = now - timedelta(hours=6 * step)
            columns["driver_id"].append(driver_id)
            columns["event_timestamp"].append(ts)
            columns["created"].append(ts)
            columns["conv_rate"].append(None if rng.random() < 0.05 else round(base + rng.gauss(0, 0.05), 4))
            columns["acc_rate"].append(round(rng.uniform(0.5, 1.0), 4))
            columns["avg_daily_trips"].append(rng.randint(0, 40))
            columns["city"].append(rng.choice(cities))
    schema = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("created", pa.timestamp("us", tz="UTC")),
            ("conv_rate", pa.float32()),
            ("acc_rate", pa.float32()),
            ("avg_daily_trips", pa.int64()),
            ("city", pa.string()),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


@click.command("init")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--project", help="Feast project name (default: from the directory name).")
@click.pass_context
def init(ctx: click.Context, path: Path | None, project: str | None) -> None:
    """Create a new yard from the template.

    Writes feature_store.yaml (Feast, SQLite online store), features.py (an entity, a
    feature view and a feature service), modelyard.yaml (one model) and example data into
    PATH (default: --repo, else the current directory). Refuses to overwrite an existing
    yard or Feast repo.

    \b
    Examples:
      modelyard init my_yard
      cd my_yard && modelyard apply && modelyard materialize
    """
    from modelyard.cli.main import repo_path

    target = path if path is not None else Path(repo_path(ctx))
    written = create_yard(target, project=project)
    click.echo(f"Created a yard in {target.resolve()}:")
    for file in written:
        click.echo(f"  {file.relative_to(target.resolve())}")
    click.echo("Next: modelyard apply && modelyard materialize")
