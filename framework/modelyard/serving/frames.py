"""Feature columns (Python lists) -> the DataFrame a predictor takes, cheaply.

:func:`modelyard.features.schema.conform_frame` is the reference for how each Feast value
type looks in pandas; on the request path it costs about 80 us per column, so this builds
the same values straight from numpy arrays: floats as float64/float32 with NaN for missing,
integers and booleans as plain numpy arrays when nothing is missing (pandas nullable
arrays when something is), text as object with NaN for missing (what scikit-learn's
imputers recognise), timestamps as UTC datetimes. Models see the same numbers either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from modelyard.features.schema import FeatureSchema

_NAN = float("nan")


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA and NaT are all "missing"."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return value.__class__.__name__ in ("NAType", "NaTType")


def _column(values: list[Any], value_type: str) -> Any:
    import numpy as np

    has_missing = any(is_missing(v) for v in values)
    if value_type in ("DOUBLE", "FLOAT"):
        dtype = np.float64 if value_type == "DOUBLE" else np.float32
        if has_missing:
            values = [_NAN if is_missing(v) else v for v in values]
        return np.array(values, dtype=dtype)
    if value_type in ("INT64", "INT32"):
        if not has_missing:
            return np.array(values, dtype=np.int64 if value_type == "INT64" else np.int32)
        import pandas as pd

        return pd.array(
            [None if is_missing(v) else v for v in values],
            dtype="Int64" if value_type == "INT64" else "Int32",
        )
    if value_type == "BOOL":
        if not has_missing:
            return np.array(values, dtype=bool)
        import pandas as pd

        return pd.array([None if is_missing(v) else bool(v) for v in values], dtype="boolean")
    if value_type == "UNIX_TIMESTAMP":
        import pandas as pd

        return pd.to_datetime(values, utc=True)
    out = np.empty(len(values), dtype=object)
    out[:] = [_NAN if is_missing(v) else v for v in values] if has_missing else values
    return out


def build_frame(
    columns: Mapping[str, Sequence[Any]],
    schema: FeatureSchema,
    rows: Sequence[int] | None = None,
    *,
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A frame of the schema's features (in schema order), for ``rows`` (default: all).

    ``only`` (a model's ``feature_names``): just those columns, in that order, when the schema
    has every one of them. A service's features the model does not read (an on-demand view's
    string or boolean outputs, say) then cost nothing, and the predictor's column selection
    finds the frame already in its order. If one is missing the whole frame is built, so the
    predictor's own check names what is missing.
    """
    import pandas as pd

    fields: Sequence[tuple[str, str]] = schema.fields
    if only is not None:
        types = dict(schema.fields)
        if all(name in types for name in only):
            fields = [(name, types[name]) for name in only]
    data = {}
    for name, value_type in fields:
        col = columns[name]
        values = list(col) if rows is None else [col[i] for i in rows]
        data[name] = _column(values, value_type)
    return pd.DataFrame(data, copy=False)
