"""Reading a feature repo's Feast definitions without applying them, and checking models against them.

``feast apply`` imports the repo's Python files by module name, relative to the working
directory, and Python caches those modules: two repos holding a ``features.py`` in one process
would see the first one's objects. :func:`parse_definitions` imports them fresh every time and
leaves no trace in ``sys.modules``, ``sys.path`` or the working directory.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import DefinitionError, EntityKeyMismatch, FeatureServiceNotFound

if TYPE_CHECKING:
    from feast import FeatureService, FeatureView
    from feast.repo_contents import RepoContents

    from modelyard.config.schema import ModelConfig


@contextlib.contextmanager
def _inside(repo: Path, module_names: list[str]) -> Iterator[None]:
    cwd = os.getcwd()
    saved = {name: sys.modules.pop(name) for name in module_names if name in sys.modules}
    sys.path.insert(0, str(repo))
    os.chdir(repo)
    try:
        yield
    finally:
        os.chdir(cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(repo))
        for name in module_names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def definition_files(repo: Path) -> list[Path]:
    """The repo's Python files Feast reads definitions from: ``.feastignore`` honoured, and
    nothing under a hidden directory (``.modelyard/`` holds python-flavor model code, which is
    not a definition and must not be imported as one)."""
    from feast import repo_operations

    files = repo_operations.get_repo_files(repo)
    return [f for f in files if not any(part.startswith(".") for part in f.relative_to(repo).parts[:-1])]


def parse_definitions(repo_path: str | os.PathLike[str]) -> RepoContents:
    """Every Feast object the repo's definition files (:func:`definition_files`) define, nothing applied."""
    from feast import repo_operations

    repo = Path(repo_path).resolve()
    files = definition_files(repo)
    names = [".".join(f.relative_to(repo).with_suffix("").parts) for f in files]
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    feast_files = repo_operations.get_repo_files

    # parse_repo lists the files itself: hand it ours for the duration of the call
    def repo_files(repo_root: Path) -> list[Path]:
        return list(files) if Path(repo_root).resolve() == repo else feast_files(repo_root)

    repo_operations.get_repo_files = repo_files
    try:
        with _inside(repo, names):
            return repo_operations.parse_repo(repo)
    except Exception as exc:  # the user's definitions can raise anything
        raise DefinitionError(_definition_problem(repo, exc)) from exc
    finally:
        repo_operations.get_repo_files = feast_files
        sys.dont_write_bytecode = dont_write


def _definition_problem(repo: Path, exc: BaseException) -> str:
    """One line: the repo file and line that failed, and what Feast or Python said.

    A FeatureService naming a feature its view lacks fails inside Feast's ``view[[...]]``;
    that frame's view names the view, so the line says which feature of which view.
    """
    import traceback

    location = str(repo)
    view = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(repo):
            location = f"{path}:{lineno}"
        this = frame.f_locals.get("self")
        if frame.f_code.co_name == "__getitem__" and hasattr(this, "features") and hasattr(this, "name"):
            view = this
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    if view is not None and "does not exist" in message:
        known = ", ".join(f.name for f in view.features)
        message = f"{message.rstrip('.')} (feature view {view.name!r} has: {known})"
    return f"{location}: {message}"


def service_join_keys(
    service: FeatureService, views: Mapping[str, FeatureView], on_demand: Mapping[str, Any] | None = None
) -> set[str]:
    """The entity columns a FeatureService joins on: its views' join keys, as its projections map them
    (an on-demand view joins on the keys of the views it reads)."""
    keys: set[str] = set()
    for projection in service.feature_view_projections:
        odfv = (on_demand or {}).get(projection.name)
        if odfv is not None:
            for source in odfv.source_feature_view_projections.values():
                view = views.get(source.name)
                keys.update(c.name for c in (view.entity_columns if view is not None else []))
            continue
        view = views.get(projection.name)
        if view is None:
            continue
        for column in view.entity_columns:
            keys.add(
                projection.join_key_map.get(column.name, column.name)
                if projection.join_key_map
                else column.name
            )
    return keys


def check_models(
    models: Mapping[str, ModelConfig],
    services: Mapping[str, FeatureService],
    views: Mapping[str, FeatureView],
    *,
    source: str,
    on_demand: Mapping[str, Any] | None = None,
) -> None:
    """Every model's FeatureService exists in ``services`` and joins on exactly the model's entity keys.

    ``source`` names where the definitions came from (the repo or registry), for the message.
    """
    for name, model in models.items():
        service = services.get(model.feature_service)
        if service is None:
            known = ", ".join(sorted(services)) or "(none)"
            raise FeatureServiceNotFound(
                f"model {name!r} reads FeatureService {model.feature_service!r}, which {source} does not define; "
                f"defined: {known}"
            )
        missing_views = [
            p.name
            for p in service.feature_view_projections
            if p.name not in views and p.name not in (on_demand or {})
        ]
        if missing_views:
            raise FeatureServiceNotFound(
                f"FeatureService {service.name!r} of model {name!r} uses feature view(s) "
                f"{', '.join(missing_views)} that {source} does not define"
            )
        keys = service_join_keys(service, views, on_demand)
        if keys != set(model.entity_keys):
            raise EntityKeyMismatch(
                f"model {name!r} declares entity_keys {sorted(model.entity_keys)} but its FeatureService "
                f"{service.name!r} joins on {sorted(keys)}; fix models.{name}.entity_keys in modelyard.yaml "
                "or the feature views' entities"
            )
