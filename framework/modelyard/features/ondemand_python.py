"""Python-mode on-demand views computed on Python lists, equal to Feast's Arrow round trip.

For a ``mode="python"`` view Feast's ``OnDemandFeatureView.transform_arrow`` adds, for every
source feature, its ``view__feature`` name next to the short one, converts the table with
``to_pydict()``, calls the transformation on that dict, converts its answer with
``pyarrow.Table.from_pydict`` and renames ``view__feature`` outputs back to short names.
For one row that round trip (an Arrow table in, another out, and back to Python values)
costs several times the transformation itself.

It is the identity whenever every value is already what Arrow would give back: ``None``, a
``bool``, an ``int`` in its type's range, a ``float`` (for ``FLOAT``, one a 32-bit float holds
exactly), a ``str`` that is valid UTF-8, ``bytes``, and every output a list of ``n`` values of
one such type. :func:`inputs_dict` and :func:`plain_outputs` check exactly that and answer
``None`` otherwise, and the caller then takes Feast's own call; so the values a transformation
sees and returns are the ones training saw. ``tests/features/test_ondemand_python.py`` compares
both ways on generated values of every type, edge values included.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from feast.on_demand_feature_view import OnDemandFeatureView

_INT_RANGES = {"INT64": (-(2**63), 2**63 - 1), "INT32": (-(2**31), 2**31 - 1)}
_FLOAT32 = struct.Struct("f")


def python_udf(odfv: OnDemandFeatureView) -> Callable[[dict[str, list[Any]]], Any] | None:
    """The transformation of a python-mode view, or ``None`` for other modes."""
    from feast.transformation.python_transformation import PythonTransformation

    transformation = odfv.feature_transformation
    if getattr(odfv, "mode", None) != "python" or type(transformation) is not PythonTransformation:
        return None
    udf: Callable[[dict[str, list[Any]]], Any] = transformation.udf
    return udf


def _same_in_arrow(value: Any, value_type: str) -> bool:
    """Whether Arrow's column of ``value_type`` gives ``value`` back unchanged from ``to_pydict``."""
    if value is None:
        return True
    kind = type(value)
    if value_type in _INT_RANGES:
        low, high = _INT_RANGES[value_type]
        return kind is int and low <= value <= high
    if value_type == "DOUBLE":
        return kind is float
    if value_type == "FLOAT":
        if kind is not float:
            return False
        try:
            back: float = _FLOAT32.unpack(_FLOAT32.pack(value))[0]
        except OverflowError:
            return False
        return back == value or value != value  # NaN stays NaN
    if value_type == "STRING":
        return kind is str and _utf8(value)
    if value_type == "BOOL":
        return kind is bool
    if value_type == "BYTES":
        return kind is bytes
    return False  # timestamps, lists: Arrow's conversion decides


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Arrow refuses it
        return False
    return True


def inputs_dict(
    odfv: OnDemandFeatureView,
    input_types: Mapping[str, str],
    columns: Mapping[str, Sequence[Any]],
    request: Mapping[str, Sequence[Any]],
) -> dict[str, list[Any]] | None:
    """The dict Feast's ``to_pydict()`` would hand the transformation, or ``None`` if it might differ.

    Keys in the order Feast's table has them: every input column (``input_types`` order), then
    the ``view__feature`` name of each source feature.
    """
    out: dict[str, list[Any]] = {}
    for name, value_type in input_types.items():
        values = request[name] if name in request else columns[name]
        if not all(_same_in_arrow(v, value_type) for v in values):
            return None
        out[name] = list(values)
    for projection in odfv.source_feature_view_projections.values():
        for feature in projection.features:
            full = f"{projection.name}__{feature.name}"
            if full in out:  # a short name to add (not a case modelyard's inputs produce)
                return None
            if feature.name in out:
                out[full] = list(out[feature.name])
    return out


def _plain_column(values: Any, n: int) -> bool:
    if type(values) is not list or len(values) != n:
        return False
    kinds = {type(v) for v in values} - {type(None)}
    if not kinds:
        return True
    if len(kinds) > 1:
        return False
    kind = kinds.pop()
    if kind is int:
        return all(v is None or -(2**63) <= v <= 2**63 - 1 for v in values)
    if kind is str:
        return all(v is None or _utf8(v) for v in values)
    return kind in (bool, float, bytes)


def plain_outputs(odfv: OnDemandFeatureView, output: Any, n: int) -> dict[str, list[Any]] | None:
    """The transformation's answer as Feast's Arrow round trip returns it, or ``None`` if it might differ.

    Every output column must be a list of ``n`` values of one plain type (so ``from_pydict``
    and ``to_pylist`` give them back unchanged). As Feast's post-processing does, the
    ``view__feature`` names :func:`inputs_dict` added are dropped and ``view__feature`` outputs
    are renamed to the short names (an answer with both names for one feature is left to Feast).
    """
    if type(output) is not dict or not output:
        return None
    if not all(type(key) is str and _plain_column(values, n) for key, values in output.items()):
        return None
    added = {
        f"{projection.name}__{feature.name}"
        for projection in odfv.source_feature_view_projections.values()
        for feature in projection.features
    }
    prefix = f"{odfv.projection.name_to_use()}__"
    rename: dict[str, str] = {}
    for feature in odfv.features:
        if prefix + feature.name in output:
            if feature.name in output:
                return None
            rename[prefix + feature.name] = feature.name
    named: dict[str, list[Any]] = output
    return {rename.get(key, key): values for key, values in named.items() if key not in added}
