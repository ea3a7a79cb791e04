"""Feast's run-time argument checks (typeguard's ``@typechecked``), off in processes that only read a repo.

Feast decorates its definition classes (``FeatureView``, ``OnDemandFeatureView``,
``DataSource``, ``Field`` ...) with typeguard's ``@typechecked``. Typeguard instruments each
decorated function when its module is imported: it re-reads the source, rewrites the syntax
tree and compiles it again. That is most of what ``import feast`` costs (about 4 of its
5.8 s on a quiet machine), and every call of an instrumented method then checks its
arguments again (an on-demand view's transformation pays it on every request).

The checks catch mistakes in code that *builds* Feast objects: a feature repo's definitions.
Processes that serve, score, materialize or train from an applied registry build those
objects from the registry's protobuf, which Feast wrote after checking them, so there the
checks find nothing and cost seconds. :func:`skip_feast_typechecks` makes
``@typechecked`` leave Feast's own functions as they are, in this process and, through
``$MODELYARD_FEAST_TYPECHECKS``, in the processes it starts (serving workers, a local Dask
cluster). Anything else typeguard decorates is still checked.

The ``modelyard`` command turns the checks off for every command except ``apply`` and
``init`` (which load the user's definitions); ``import modelyard`` alone changes nothing
unless ``MODELYARD_FEAST_TYPECHECKS=0`` is set. Set ``MODELYARD_FEAST_TYPECHECKS=1`` to keep
Feast's checks everywhere.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

#: ``0`` turns Feast's checks off (set by :func:`skip_feast_typechecks` for child processes); ``1`` keeps them
ENV = "MODELYARD_FEAST_TYPECHECKS"
_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


def wanted_off() -> bool:
    """Whether ``$MODELYARD_FEAST_TYPECHECKS`` asks for Feast's checks to be off."""
    return os.environ.get(ENV, "").strip().lower() in _OFF


def _is_feast(target: Any) -> bool:
    module = getattr(target, "__module__", None) or ""
    return module == "feast" or module.startswith("feast.")


def skip_feast_typechecks() -> bool:
    """Make typeguard's ``@typechecked`` a no-op for Feast's functions; True if it took effect.

    It must run before Feast is imported (decoration happens at import); if ``feast`` is
    already in ``sys.modules`` nothing changes. Typeguard itself is not imported here: it is
    patched as soon as something (Feast) imports it. ``MODELYARD_FEAST_TYPECHECKS=1`` keeps the
    checks. The choice is passed on to child processes through the same variable.
    """
    if os.environ.get(ENV, "").strip().lower() in _ON:
        return False
    os.environ[ENV] = "0"
    if "feast" in sys.modules:
        logger.debug("feast is already imported: its type checks stay on in this process")
        return False
    typeguard = sys.modules.get("typeguard")
    if typeguard is not None:
        _patch(typeguard)
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        # importing typeguard costs 0.1-0.2 s (it imports unittest.mock...), which a command that
        # never imports Feast (score, serve with the fast paths) should not pay: patch it when
        # something first imports it
        sys.meta_path.insert(0, _PatchOnImport())
    return True


def _patch(typeguard: ModuleType) -> None:
    """Replace ``typeguard.typechecked`` (once) by the version that skips Feast."""
    current = typeguard.typechecked
    if not getattr(current, "_modelyard_skips_feast", False):
        setattr(typeguard, "typechecked", _feast_unchecked(current))  # noqa: B010 - a module typed as ModuleType


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``typeguard`` is imported, has it patched right after it loads."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "typeguard":
            return None
        sys.meta_path.remove(self)  # once; and the lookup below must not find this finder again
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            _patch(module)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def _feast_unchecked(checked: Callable[..., Any]) -> Callable[..., Any]:
    """``typechecked`` that returns Feast's functions and classes undecorated and checks the rest."""

    def typechecked(target: Any = None, **options: Any) -> Any:
        if target is None:
            return lambda inner: inner if _is_feast(inner) else checked(inner, **options)
        return target if _is_feast(target) else checked(target, **options)

    typechecked._modelyard_skips_feast = True  # type: ignore[attr-defined]
    typechecked.__doc__ = checked.__doc__
    return typechecked
