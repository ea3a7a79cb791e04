"""Python-mode views without the Arrow round trip give exactly what Feast's ``transform_arrow`` gives.

The oracle is Feast's own call on the Arrow input table (``OnDemandFeatureView.transform_arrow``
then ``to_pylist``); the values are generated over every scalar input type, with the edge values
Arrow might change (float32 rounding, -0.0, NaN, huge ints, lone surrogates, bools among ints,
numpy scalars) and transformations answering in every shape (plain lists, mixed int/float,
numpy values, ``view__feature`` names, wrong lengths, raising).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from feast import Entity, FeatureView, Field, FileSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.errors import BadRequest, FeatureError
from modelyard.features.ondemand import OnDemandViews, RequestField

TYPES = {
    "f64": ("DOUBLE", Float64),
    "f32": ("FLOAT", Float32),
    "i64": ("INT64", Int64),
    "i32": ("INT32", Int32),
    "s": ("STRING", String),
    "b": ("BOOL", Bool),
    "raw": ("BYTES", Bytes),
}

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name=name, dtype=dtype) for name, (_, dtype) in TYPES.items() if name != "f64"],
    source=FileSource(path="unused.parquet", timestamp_field="ts"),
)
request_source = RequestSource(name="req", schema=[Field(name="f64", dtype=Float64)])
SOURCES = [stats, request_source]


# Each transformation returns one shape of answer; `out` is what its schema declares.
def _echo(inputs: dict) -> dict:
    return {
        "out_f": [None if v is None else v * 2.0 for v in inputs["f64"]],
        "out_s": [None if s is None else f"{s}|{b}" for s, b in zip(inputs["s"], inputs["b"], strict=True)],
        "out_i": inputs["i64"],
        "out_full": inputs["stats__f32"],
    }


def _mixed(inputs: dict) -> dict:
    # ints and floats in one column: Arrow makes them all floats
    return {"out_f": [1 if i % 2 else 0.5 for i in range(len(inputs["f64"]))]}


def _numpy(inputs: dict) -> dict:
    return {"out_f": list(np.asarray([0.0 if v is None else v for v in inputs["f32"]], dtype=np.float32))}


def _long_names(inputs: dict) -> dict:
    return {"numpy_or_long__out_f": [float(len(inputs["raw"]))] * len(inputs["raw"])}


def _wrong_length(inputs: dict) -> dict:
    return {"out_f": [1.0] * (len(inputs["f64"]) + 1)}


def _raises(inputs: dict) -> dict:
    if any(v is not None and v > 0 for v in inputs["i32"]):
        raise ValueError("positive i32")
    return {"out_f": [0.0] * len(inputs["i32"])}


def _view(udf: Any, name: str, schema: list[Field]) -> Any:
    udf.__name__ = name
    return on_demand_feature_view(sources=SOURCES, schema=schema, mode="python")(udf)


VIEWS = {
    "echo": _view(
        _echo,
        "echo",
        [
            Field(name="out_f", dtype=Float64),
            Field(name="out_s", dtype=String),
            Field(name="out_i", dtype=Int64),
            Field(name="out_full", dtype=Float32),
        ],
    ),
    "mixed": _view(_mixed, "mixed", [Field(name="out_f", dtype=Float64)]),
    "numpy": _view(_numpy, "numpy", [Field(name="out_f", dtype=Float64)]),
    "long": _view(_long_names, "numpy_or_long", [Field(name="out_f", dtype=Float64)]),
    "wrong_length": _view(_wrong_length, "wrong_length", [Field(name="out_f", dtype=Float64)]),
    "raises": _view(_raises, "raises", [Field(name="out_f", dtype=Float64)]),
}


def views_of(odfv: Any) -> OnDemandViews:
    input_types = {name: vt for name, (vt, _) in TYPES.items()}
    return OnDemandViews(
        [(odfv, [f.name for f in odfv.features])],
        [RequestField("f64", "DOUBLE", "req")],
        {"stats": [n for n in TYPES if n != "f64"]},
        input_types,
    )


def oracle(views: OnDemandViews, columns: dict, request: dict, n: int) -> dict[str, list[Any]]:
    """Feast's own call on the Arrow input table."""
    table = views.table(columns, request)
    ((odfv, names),) = views.views
    result = odfv.transform_arrow(table, False)
    if result.num_rows != n:
        raise FeatureError(f"{result.num_rows} rows for {n}")
    return {name: result.column(name).to_pylist() for name in names}


def identical(a: list[Any], b: list[Any]) -> bool:
    """Same values, same Python types, floats bit for bit (NaN and -0.0 included)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if np.float64(x).tobytes() != np.float64(y).tobytes() and not (math.isnan(x) and math.isnan(y)):
                return False
        elif x != y:
            return False
    return True


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.1, 3.4e38, 3.5e38, 1e-46, float("nan")]),
)
VALUES = {
    "f64": st.one_of(st.none(), FLOATS),
    "f32": st.one_of(st.none(), FLOATS, st.floats(width=32)),
    "i64": st.one_of(
        st.none(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**63, -(2**63) - 1, True])
    ),
    "i32": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1), st.sampled_from([2**31, False])),
    "s": st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["\ud800", "é", ""])),
    "b": st.one_of(st.none(), st.booleans(), st.sampled_from([1, 0])),
    "raw": st.one_of(st.none(), st.binary(max_size=3)),
}


@st.composite
def inputs(draw: Any) -> tuple[dict, dict, int]:
    n = draw(st.integers(1, 4))
    columns = {name: draw(st.lists(strategy, min_size=n, max_size=n)) for name, strategy in VALUES.items()}
    request = {"f64": columns.pop("f64")}
    return columns, request, n


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except BadRequest as exc:
        return "BadRequest", str(exc).split(":")[0]
    except FeatureError:
        return "FeatureError", None
    except Exception as exc:  # noqa: BLE001 - any other error must be the same kind both ways
        return type(exc).__name__, None


@pytest.mark.parametrize("view", sorted(VIEWS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=inputs())
def test_python_mode_without_arrow_equals_feasts_transform_arrow(
    view: str, case: tuple[dict, dict, int]
) -> None:
    columns, request, n = case
    views = views_of(VIEWS[view])
    kind, ours = outcome(lambda: views.compute(columns, request, n))
    oracle_kind, theirs = outcome(lambda: oracle(views, columns, request, n))
    if oracle_kind not in ("ok", "FeatureError"):
        # Feast's table refused an input (modelyard turns that into a 400 naming the field) or the
        # transformation raised (a 400 naming the view and row): the same refusal both ways
        assert kind == "BadRequest", (kind, oracle_kind)
        return
    assert kind == oracle_kind, (kind, oracle_kind, ours, theirs)
    if kind == "ok":
        assert set(ours) == set(theirs)
        for name in theirs:
            assert identical(ours[name], theirs[name]), (name, ours[name], theirs[name])


def test_the_fast_way_is_taken_for_plain_values() -> None:
    views = views_of(VIEWS["echo"])
    columns = {"f32": [0.5], "i64": [7], "i32": [1], "s": ["a"], "b": [True], "raw": [b"x"]}
    ((odfv, _),) = views.views
    from modelyard.features.ondemand_python import inputs_dict, plain_outputs

    given_inputs = inputs_dict(odfv, views.input_types, columns, {"f64": [1.5]})
    assert given_inputs is not None and given_inputs["stats__f32"] == [0.5]
    assert plain_outputs(odfv, _echo(given_inputs), 1) == {
        "out_f": [3.0],
        "out_s": ["a|True"],
        "out_i": [7],
        "out_full": [0.5],
    }
    # a float32 input that 32 bits cannot hold exactly is left to Arrow
    assert inputs_dict(odfv, views.input_types, {**columns, "f32": [0.1]}, {"f64": [1.5]}) is None
