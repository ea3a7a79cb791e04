"""On-demand feature views: request data and transformations, computed one way offline and online.

A FeatureService may include Feast ``OnDemandFeatureView``s. Their inputs are features of
ordinary views and *request data*: values known only when the prediction is asked for (a
trip's distance), declared by a ``RequestSource``'s schema. Offline, the request data are the
entity frame's columns of the same names and Feast's retrieval job computes every on-demand
view with ``OnDemandFeatureView.transform_arrow`` on the joined Arrow table. Online,
:class:`OnDemandViews` computes them with that same call on an Arrow table built, with the
same Arrow types, from the vectors the reader already read and the request's values, so a
transformation cannot differ between training, batch scoring, replay and serving, and serving
needs no second feature read. A python-mode view whose inputs and outputs Arrow would give
back unchanged skips the Arrow round trip (:mod:`.ondemand_python`): same values, a fraction
of the cost per request.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest, FeatureError
from modelyard.features.ondemand_python import inputs_dict, plain_outputs, python_udf
from modelyard.features.schema import json_value_problem

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from feast import FeatureService, FeatureStore
    from feast.on_demand_feature_view import OnDemandFeatureView

logger = logging.getLogger(__name__)


def arrow_type(value_type: str) -> pa.DataType:
    """The Arrow type a column of Feast value type ``value_type`` has in a joined training table."""
    import pyarrow as pa

    scalar = {
        "DOUBLE": pa.float64(),
        "FLOAT": pa.float32(),
        "INT64": pa.int64(),
        "INT32": pa.int32(),
        "BOOL": pa.bool_(),
        "STRING": pa.string(),
        "BYTES": pa.binary(),
        "UNIX_TIMESTAMP": pa.timestamp("us", tz="UTC"),
    }
    if value_type in scalar:
        return scalar[value_type]
    if value_type.endswith("_LIST") and value_type[: -len("_LIST")] in scalar:
        return pa.list_(scalar[value_type[: -len("_LIST")]])
    raise FeatureError(f"on-demand views cannot take inputs of Feast type {value_type}")


@dataclass(frozen=True)
class RequestField:
    """One value a predict request must carry for the model's on-demand views."""

    name: str
    value_type: str  # Feast ValueType name, e.g. "DOUBLE"
    source: str  # the RequestSource declaring it

    def check(self, values: Any, n: int) -> list[Any]:
        """``values`` as a list of ``n`` values of this field's type (BadRequest naming it otherwise)."""
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise BadRequest(
                f"request field {self.name!r} must be a list with one value per row, got {type(values).__name__}"
            )
        if len(values) != n:
            raise BadRequest(f"request field {self.name!r} has {len(values)} value(s) for {n} row(s)")
        for i, v in enumerate(values):
            problem = json_value_problem(v, self.value_type)
            if problem is not None:
                raise BadRequest(
                    f"request field {self.name!r} (RequestSource {self.source!r}, Feast type "
                    f"{self.value_type}) {problem}; row {i} is {type(v).__name__} {v!r}"
                )
        return list(values)


class OnDemandViews:
    """The on-demand views of one FeatureService: what they need, and computing them on read vectors."""

    def __init__(
        self,
        views: Sequence[tuple[OnDemandFeatureView, list[str]]],
        request_fields: Sequence[RequestField],
        inputs: Mapping[str, Sequence[str]],
        input_types: Mapping[str, str],
    ) -> None:
        #: (view, the output names the service takes from it), in service order
        self.views = list(views)
        #: request values a predict call must carry
        self.request_fields = {f.name: f for f in request_fields}
        #: plain view name -> the features the transformations read from it
        self.inputs = {k: list(v) for k, v in inputs.items()}
        #: input column name (feature or request field) -> Feast value type name
        self.input_types = dict(input_types)
        #: view name -> its python-mode transformation (None: another mode), found on first use
        self._udfs: dict[str, Callable[[dict[str, list[Any]]], Any] | None] = {}

    @property
    def names(self) -> list[str]:
        """The features the service takes from its on-demand views."""
        return [name for _, names in self.views for name in names]

    @classmethod
    def of(cls, store: FeatureStore, service: FeatureService) -> OnDemandViews | None:
        """The on-demand views of ``service`` (None when it has none)."""
        from feast.on_demand_feature_view import OnDemandFeatureView

        odfvs = {v.name: v for v in store.list_on_demand_feature_views(allow_cache=True)}
        views: list[tuple[OnDemandFeatureView, list[str]]] = []
        fields: dict[str, RequestField] = {}
        inputs: dict[str, list[str]] = {}
        types: dict[str, str] = {}
        for projection in service.feature_view_projections:
            odfv = odfvs.get(projection.name)
            if odfv is None:
                continue
            if not isinstance(odfv, OnDemandFeatureView) or odfv.feature_transformation is None:
                raise FeatureError(f"on-demand view {projection.name!r} has no transformation")
            views.append((odfv, [f.name for f in projection.features]))
            for source in odfv.source_request_sources.values():
                for field in source.schema:
                    vt = field.dtype.to_value_type().name
                    known = fields.get(field.name)
                    if known is not None and known.value_type != vt:
                        raise FeatureError(
                            f"request field {field.name!r} is {known.value_type} in RequestSource "
                            f"{known.source!r} and {vt} in {source.name!r}; give it one type"
                        )
                    fields[field.name] = RequestField(field.name, vt, source.name)
                    types[field.name] = vt
            for src in odfv.source_feature_view_projections.values():
                wanted = inputs.setdefault(src.name, [])
                for feature in src.features:
                    if feature.name not in wanted:
                        wanted.append(feature.name)
                    types[feature.name] = feature.dtype.to_value_type().name
        if not views:
            return None
        return cls(views, list(fields.values()), inputs, types)

    def check_request(self, request: Mapping[str, Any] | None, n: int) -> dict[str, list[Any]]:
        """The request values for ``n`` rows, every field present and of its type (BadRequest otherwise)."""
        request = request or {}
        if not isinstance(request, Mapping):
            raise BadRequest("'request' must be an object: {request field: [one value per row]}")
        unknown = sorted(set(request) - set(self.request_fields))
        if unknown:
            raise BadRequest(
                f"unknown request field(s) {unknown}; this model takes: {sorted(self.request_fields)}"
            )
        missing = sorted(set(self.request_fields) - set(request))
        if missing:
            expected = ", ".join(f"{m} ({self.request_fields[m].value_type})" for m in missing)
            raise BadRequest(
                f'missing request field(s): {expected}; send them as "request": {{name: [values]}}'
            )
        return {name: field.check(request[name], n) for name, field in self.request_fields.items()}

    def table(self, columns: Mapping[str, Sequence[Any]], request: Mapping[str, Sequence[Any]]) -> pa.Table:
        """The transformations' input table: every input column typed as in a joined training table."""
        import pyarrow as pa

        arrays = {}
        for name, vt in self.input_types.items():
            values = request[name] if name in request else columns[name]
            try:
                arrays[name] = pa.array(list(values), type=arrow_type(vt))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError) as exc:
                raise BadRequest(f"{name!r} cannot be read as Feast type {vt}: {exc}") from None
        return pa.table(arrays)

    def compute(
        self, columns: Mapping[str, Sequence[Any]], request: Mapping[str, Sequence[Any]], n: int
    ) -> dict[str, list[Any]]:
        """Every on-demand output the service takes, computed on the read vectors and the request."""
        # the Arrow input table, built only if a view needs it, and then once
        table = functools.cache(lambda: self.table(columns, request))
        out: dict[str, list[Any]] = {}
        for odfv, names in self.views:
            result = self._python_mode(odfv, columns, request, n, table)
            if result is None:
                arrow = self._transform(odfv, table(), n)
                result = {
                    name: arrow.column(name).to_pylist() for name in names if name in arrow.column_names
                }
            for name in names:
                if name not in result:
                    raise FeatureError(f"on-demand view {odfv.name!r} did not produce feature {name!r}")
                out[name] = result[name]
        return out

    def _python_mode(
        self,
        odfv: OnDemandFeatureView,
        columns: Mapping[str, Sequence[Any]],
        request: Mapping[str, Sequence[Any]],
        n: int,
        table: Callable[[], pa.Table],
    ) -> dict[str, list[Any]] | None:
        """A python-mode view computed without the Arrow round trip, or ``None`` (see :mod:`.ondemand_python`)."""
        if odfv.name not in self._udfs:
            self._udfs[odfv.name] = python_udf(odfv)
        udf = self._udfs[odfv.name]
        if udf is None:
            return None
        inputs = inputs_dict(odfv, self.input_types, columns, request)
        if inputs is None:
            return None
        try:
            output = udf(inputs)
        except Exception as exc:  # noqa: BLE001 - user code raises anything; find the row
            raise self._raised(odfv, table(), n, exc) from None
        return plain_outputs(odfv, output, n)

    @classmethod
    def _transform(cls, odfv: OnDemandFeatureView, table: pa.Table, n: int) -> pa.Table:
        """``odfv.transform_arrow`` (Feast's own offline call); a raising row is named in a 400."""
        try:
            result = odfv.transform_arrow(table, False)
        except Exception as exc:  # noqa: BLE001 - user code raises anything; find the row
            raise cls._raised(odfv, table, n, exc) from None
        if result.num_rows != n:
            raise FeatureError(f"on-demand view {odfv.name!r} returned {result.num_rows} rows for {n}")
        return result

    @staticmethod
    def _raised(odfv: OnDemandFeatureView, table: pa.Table, n: int, exc: Exception) -> BadRequest:
        bad = _first_failing_row(odfv, table) if n > 1 else 0
        return BadRequest(f"on-demand view {odfv.name!r} raised on row {bad}: {type(exc).__name__}: {exc}")


def _first_failing_row(odfv: OnDemandFeatureView, table: pa.Table) -> int | None:
    for i in range(table.num_rows):
        try:
            odfv.transform_arrow(table.slice(i, 1), False)
        except Exception:  # noqa: BLE001 - looking for the row that raises
            return i
    return None
