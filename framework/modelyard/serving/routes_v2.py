"""The Open Inference Protocol (v2, REST), so KServe/Triton/MLServer clients work unchanged.

Inputs are named tensors: each entity key of the model (``driver_id``...) and, optionally,
any of its features (request-time values; given all features, no entity keys are needed and
the store is not read). Outputs are ``prediction`` and, for classifiers, ``score``. Only
JSON tensor data is accepted (clients: ``binary_data=False``); the binary extension gets a
400 saying so. Extra answers travel in ``parameters``: ``request_id``, per-row
``versions``, ``variants``, ``cached`` and ``missing``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from modelyard import __version__
from modelyard.errors import BadRequest, PredictionFailed, VersionNotFound
from modelyard.serving.http_errors import error_response, parse_json, request_id_of
from modelyard.serving.protocol import ProtocolRoutes
from modelyard.serving.schemas import ERRORS, InferRequest, InferResponse, request_body
from modelyard.serving.state import answer, json_response

if TYPE_CHECKING:
    from modelyard.serving.hot_routes import HotHandler

    # pragma: no cover
    from modelyard.serving.models import ServedModel
    from modelyard.serving.state import ServingState
    from modelyard.yard import Yard

router = APIRouter(tags=["v2 (Open Inference Protocol)"])

#: Feast value type -> v2 datatype
_DATATYPES = {
    "DOUBLE": "FP64",
    "FLOAT": "FP32",
    "INT64": "INT64",
    "INT32": "INT32",
    "BOOL": "BOOL",
    "STRING": "BYTES",
    "BYTES": "BYTES",
    "UNIX_TIMESTAMP": "BYTES",
}
_NUMERIC_DATATYPES = {
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "UINT64",
    "UINT32",
    "UINT16",
    "UINT8",
}


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [v for part in data for v in _flatten(part)]
    return data if isinstance(data, list) else [data]


#: the range of each integer datatype, and the largest magnitude of each float datatype
_INT_RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": float("inf")}


def _cast(name: str, datatype: str, values: list[Any]) -> list[Any]:
    """Tensor values as Python values of their datatype, each checked against its type and range."""
    if datatype in _INT_RANGES:
        low, high = _INT_RANGES[datatype]
        out = []
        for v in values:
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or (isinstance(v, float) and not v.is_integer())
                or not low <= v <= high
            ):
                raise BadRequest(f"input {name!r} is {datatype} ({low}..{high}) but holds {_show(v)}")
            out.append(int(v))
        return out
    if datatype in _FLOAT_MAX:
        limit = _FLOAT_MAX[datatype]
        for v in values:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > limit):
                raise BadRequest(f"input {name!r} is {datatype} but holds {_show(v)}")
        return values
    if datatype == "BOOL":
        for v in values:
            if not isinstance(v, bool):
                raise BadRequest(f"input {name!r} is BOOL but holds {_show(v)}")
        return values
    if datatype == "BYTES":
        for v in values:
            if v is not None and not isinstance(v, str):
                raise BadRequest(f"input {name!r} is BYTES (JSON strings) but holds {_show(v)}")
        return values
    raise BadRequest(
        f"input {name!r} has unsupported datatype {_show(datatype)}; "
        f"use one of {', '.join([*_INT_RANGES, *_FLOAT_MAX, 'BOOL', 'BYTES'])}"
    )


def _show(value: Any) -> str:
    """A client's value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _split_inputs(
    served: ServedModel, data: dict
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], dict[str, list[Any]]]:
    """v2 ``inputs`` -> (entity columns, feature overrides, request data of on-demand views)."""
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors {name, shape, datatype, data}")
    keys = set(served.reader.entity_keys)
    names = set(served.feature_names)
    entities: dict[str, list[Any]] = {}
    overrides: dict[str, list[Any]] = {}
    request: dict[str, list[Any]] = {}
    request_fields = served.reader.request_fields
    declared = _input_datatypes(served)
    seen: set[str] = set()
    for tensor in inputs:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest("every input needs a 'name' (a string), a 'datatype', a 'shape' and 'data'")
        name = tensor["name"]
        if name in seen:
            raise BadRequest(f"input {_show(name)} is given twice")
        seen.add(name)
        params = tensor.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest(f"input {_show(name)}: 'parameters' must be an object")
        if "binary_data_size" in params:
            raise BadRequest(
                f"input {name!r} uses the binary tensor extension, which this server does not accept; "
                "send JSON data (tritonclient: set_data_from_numpy(..., binary_data=False))"
            )
        if "data" not in tensor:
            raise BadRequest(f"input {name!r} has no 'data'")
        datatype = tensor.get("datatype")
        expected = declared.get(name)
        if expected is not None and datatype != expected:
            raise BadRequest(
                f"input {_show(name)} is {expected} in the model's metadata (GET /v2/models/{served.name}), "
                f"but this request sends it as {_show(datatype)}"
            )
        values = _cast(name, str(datatype), _flatten(tensor["data"]))
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise BadRequest(f"input {_show(name)}: 'shape' must be a list of sizes, e.g. [3]")
        size = 1
        for s in shape:
            size *= s
        if size != len(values):
            raise BadRequest(
                f"input {_show(name)}: shape {_show(shape)} does not match its {len(values)} values"
            )
        if name in keys:
            entities[name] = values
        elif name in request_fields:
            request[name] = values
        elif name in names:
            overrides[name] = values
        else:
            takes = f"request data {sorted(request_fields)}, " if request_fields else ""
            raise BadRequest(
                f"unknown input {_show(name)}; model {served.name!r} takes entity keys {sorted(keys)}, "
                f"{takes}and optionally features {served.feature_names}"
            )
    return entities, overrides, request


def _prediction_datatype(served: ServedModel) -> str:
    """The v2 datatype of the ``prediction`` output: FP64 for regressions; for classifiers that of
    the loaded versions' classes (INT64, BOOL, or BYTES for text labels and mixed versions)."""
    if served.config.task != "classification":
        return "FP64"
    kinds = set()
    for loaded in served.versions.values():
        classes = getattr(loaded.predictor, "classes", None)
        if not classes:
            continue
        if all(isinstance(c, bool) for c in classes):
            kinds.add("BOOL")
        elif all(isinstance(c, (int, float)) and float(c).is_integer() for c in classes):
            kinds.add("INT64")
        else:
            kinds.add("BYTES")
    return kinds.pop() if len(kinds) == 1 else ("BYTES" if kinds else "INT64")


def _output(name: str, datatype: str, values: list[Any]) -> dict[str, Any]:
    """An output tensor of ``datatype`` (the one the metadata declares); BYTES if a value does not fit."""
    if datatype == "INT64" and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() for v in values
    ):
        values = [int(v) for v in values]
    elif datatype == "FP64" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = [float(v) for v in values]
    elif datatype == "BOOL" and all(isinstance(v, bool) for v in values):
        pass
    else:
        datatype, values = "BYTES", [str(v) for v in values]
    return {"name": name, "datatype": datatype, "shape": [len(values)], "data": values}


@router.get("/v2", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response({"name": "modelyard", "version": __version__, "extensions": []})


@router.get("/v2/health/live", summary="Liveness: the worker answers")
async def live() -> Response:
    return json_response({"live": True})


@router.get(
    "/v2/health/ready",
    summary="Readiness: every model that has a version has it loaded (200), else 503; the rest listed",
)
async def ready(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    status = state.table.status()
    return json_response(status, 200 if status["ready"] else 503)


def _key_datatype(value_type: int | None) -> str:
    """The v2 datatype of an entity key from its Feast value type number (INT64 when unknown)."""
    if value_type is None:
        return "INT64"
    from feast.value_type import ValueType

    try:
        name = ValueType(value_type).name
    except ValueError:
        return "BYTES"
    return _DATATYPES.get(name, "BYTES")


#: id(served model) -> (the served model, its inputs' datatypes): computed once per model (its schema never changes)
_INPUT_DATATYPES: dict[int, tuple[ServedModel, dict[str, str]]] = {}


def _input_datatypes(served: ServedModel) -> dict[str, str]:
    """Every input the model takes -> its v2 datatype: what the metadata declares and ``infer`` enforces."""
    cached = _INPUT_DATATYPES.get(id(served))
    if cached is not None and cached[0] is served:
        return cached[1]
    types = dict(served.schema.fields)
    datatypes = {k: _key_datatype(served.reader.key_types.get(k)) for k in served.reader.entity_keys}
    for n in served.feature_names:
        datatypes.setdefault(n, _DATATYPES.get(types[n], "BYTES"))
    for n, t in served.reader.request_fields.items():
        datatypes.setdefault(n, _DATATYPES.get(t, "BYTES"))
    if len(_INPUT_DATATYPES) > 1024:  # tables rebuilt many times over (tests): keep it bounded
        _INPUT_DATATYPES.clear()
    _INPUT_DATATYPES[id(served)] = (served, datatypes)
    return datatypes


def _metadata(state: ServingState, model: str) -> dict[str, Any]:
    served = state.table.get(model)
    datatypes = _input_datatypes(served)
    inputs: list[dict[str, Any]] = [
        {"name": k, "datatype": datatypes[k], "shape": [-1]} for k in served.reader.entity_keys
    ]
    inputs += [
        {"name": n, "datatype": datatypes[n], "shape": [-1], "parameters": {"optional": True}}
        for n in served.feature_names
    ]
    inputs += [{"name": n, "datatype": datatypes[n], "shape": [-1]} for n in served.reader.request_fields]
    outputs = [{"name": "prediction", "datatype": _prediction_datatype(served), "shape": [-1]}]
    if served.config.task == "classification":
        outputs.append({"name": "score", "datatype": "FP64", "shape": [-1]})
    flavors = sorted({v.info.flavor for v in served.versions.values()}) or [served.config.flavor]
    return {
        "name": model,
        "versions": [str(v) for v in sorted(served.versions)],
        "platform": f"modelyard-{'+'.join(flavors)}",
        "inputs": inputs,
        "outputs": outputs,
    }


@router.get(
    "/v2/models/{model}", summary="Model metadata: inputs, outputs, loaded versions", responses=ERRORS
)
async def model_metadata(model: str, request: Request) -> Response:
    async def run(state: ServingState) -> Response:
        return json_response(_metadata(state, model))

    return await answer(request, "metadata", model, run)


@router.get("/v2/models/{model}/versions/{version}", summary="Metadata of one version", responses=ERRORS)
async def version_metadata(model: str, version: str, request: Request) -> Response:
    async def run(state: ServingState) -> Response:
        meta = _metadata(state, model)
        if version not in meta["versions"]:
            raise VersionNotFound(
                f"version {_show(version)} of {model!r} is not served here; served: {meta['versions']}"
            )
        return json_response({**meta, "versions": [version]})

    return await answer(request, "metadata", model, run)


async def _ready(request: Request, model: str, version: str | None) -> Response:
    async def run(state: ServingState) -> Response:
        served = state.table.get(model)
        loaded = [str(v) for v in sorted(served.versions)]
        if version is not None and version not in loaded:
            raise VersionNotFound(
                f"version {_show(version)} of {model!r} is not served here; served: {loaded}"
            )
        ok = served.ready
        body = {"name": model, "ready": ok, "versions": loaded}
        if not ok and served.error:
            body["error"] = served.error
        return json_response(body, 200 if ok else 503)

    return await answer(request, "ready", model, run)


@router.get("/v2/models/{model}/ready", summary="Model readiness (200 ready, 503 not)", responses=ERRORS)
async def model_ready(model: str, request: Request) -> Response:
    return await _ready(request, model, None)


@router.get("/v2/models/{model}/versions/{version}/ready", summary="Version readiness", responses=ERRORS)
async def version_ready(model: str, version: str, request: Request) -> Response:
    return await _ready(request, model, version)


def _routing_key(data: dict) -> str | None:
    params = data.get("parameters")
    if params is None:
        return None
    if not isinstance(params, dict):
        raise BadRequest("'parameters' must be an object")
    key = params.get("routing_key")
    if key is not None and not isinstance(key, str):
        raise BadRequest("parameters.routing_key must be a string")
    return key


async def _infer(request: Request, model: str, version: str | None) -> Response:
    body = await request.body()
    if request.headers.get("inference-header-content-length"):
        return error_response(
            400,
            "binary tensor data (Inference-Header-Content-Length) is not accepted; send JSON tensors "
            "(tritonclient: binary_data=False on inputs and outputs)",
            "BadRequest",
        )

    async def run(state: ServingState) -> Response:
        data = parse_json(body, max_depth=state.limits.max_json_depth)
        served = state.table.get(model)
        entities, overrides, request_data = _split_inputs(served, data)
        pinned = None
        if version is not None:
            if not version.isdigit() or int(version) not in served.versions:
                raise VersionNotFound(
                    f"version {_show(version)} of {model!r} is not served here; served: {sorted(served.versions)}"
                )
            pinned = int(version)
        answers = await state.service.predict_async(
            model,
            entities or None,
            overrides=overrides or None,
            request_data=request_data or None,
            request_id=request_id_of(data.get("id"), limit=state.limits.max_request_id, field="id"),
            routing_key=_routing_key(data),
            version=pinned,
        )
        failed = [a for a in answers if a.error is not None]
        if failed:
            raise PredictionFailed(
                "; ".join(f"row {a.row}: {a.error}" for a in failed[:5])
                + (f" (and {len(failed) - 5} more rows)" if len(failed) > 5 else "")
            )
        outputs = [_output("prediction", _prediction_datatype(served), [a.prediction for a in answers])]
        if served.config.task == "classification" and all(a.score is not None for a in answers):
            outputs.append(_output("score", "FP64", [float(a.score) for a in answers]))  # type: ignore[arg-type]
        wanted = data.get("outputs")
        if wanted is not None and not (
            isinstance(wanted, list)
            and all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted)
        ):
            raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
        if wanted:
            names = {o["name"] for o in wanted}
            unknown = names - {o["name"] for o in outputs}
            if unknown:
                raise BadRequest(
                    f"unknown output(s) {sorted(unknown)}; this model gives: {[o['name'] for o in outputs]}"
                )
            outputs = [o for o in outputs if o["name"] in names]
        rid = answers[0].request_id.split(":")[0] if len(answers) > 1 else answers[0].request_id
        versions = sorted({a.version for a in answers if a.version is not None})
        return json_response(
            {
                "model_name": model,
                "model_version": str(versions[0]) if len(versions) == 1 else None,
                "id": rid,
                "parameters": {
                    "versions": [a.version for a in answers],
                    "variants": [a.variant for a in answers],
                    "cached": [a.cached for a in answers],
                    "missing": [a.missing for a in answers],
                    **({"fallback": [a.fallback for a in answers]} if answers[0].fallback else {}),
                },
                "outputs": outputs,
            }
        )

    return await answer(request, "infer", model, run)


@router.post(
    "/v2/models/{model}/infer",
    summary="Inference (Open Inference Protocol)",
    openapi_extra=request_body(InferRequest),
    responses={200: {"model": InferResponse}, **ERRORS},
)
async def infer(model: str, request: Request) -> Response:
    return await _infer(request, model, None)


@router.post(
    "/v2/models/{model}/versions/{version}/infer",
    summary="Inference with one loaded version",
    openapi_extra=request_body(InferRequest),
    responses={200: {"model": InferResponse}, **ERRORS},
)
async def infer_version(model: str, version: str, request: Request) -> Response:
    return await _infer(request, model, version)


#: (path, handler) of the endpoints served through plain Starlette routes (see app._fast_routes)
HOT_ROUTES: list[tuple[str, HotHandler]] = [
    ("/v2/models/{model}/infer", infer),
    ("/v2/models/{model}/versions/{version}/infer", infer_version),
]

#: health and readiness answer without a token (probes); the rest needs ``predict``
SCOPES = {
    "/v2/health/live": "open",
    "/v2/health/ready": "open",
    "/v2/models/{model}/ready": "open",
    "/v2/models/{model}/versions/{version}/ready": "open",
    "/v2": "predict",
    "/v2/models/{model}": "predict",
    "/v2/models/{model}/versions/{version}": "predict",
    "/v2/models/{model}/infer": "predict",
    "/v2/models/{model}/versions/{version}/infer": "predict",
}


def protocol(yard: Yard) -> ProtocolRoutes:
    """The ``v2`` protocol plugin's routes (:mod:`modelyard_plugins.protocols`)."""
    return ProtocolRoutes(router, scopes=SCOPES, hot=HOT_ROUTES)
