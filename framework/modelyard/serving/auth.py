"""Bearer-token authentication with scopes, checked before a request reaches any endpoint.

Scopes: ``predict`` (v1/v2 inference, feature vectors, model metadata), ``feedback``
(ground truth), ``admin`` (anything that changes state at run time, ``/ui``, and every
endpoint nobody gave a scope: new routes are closed until someone opens them). An ``admin``
token may use every endpoint. Each protocol plugin says what its own paths need
(:class:`modelyard.serving.protocol.ProtocolRoutes`); the app's own paths are in :data:`RULES`.
A browser on ``/ui`` may carry its token in the UI's admin cookie instead of a header: signing
in at ``/ui/admin`` (open; the UI checks that the token given has the ``admin`` scope) sets it.
Health endpoints (liveness, readiness, per-model readiness), the OpenAPI document and, unless
``serving.auth.open_metrics`` is false, ``/metrics`` answer without a token.
``MODELYARD_ADMIN_TOKEN`` (the UI's former separate token) is read as a deprecated alias of
``MODELYARD_TOKENS_ADMIN``.

The OpenAPI document says the same (:func:`document_security`): with tokens configured, every
protected operation names the bearer scheme and its scope, and documents its 401 and 403.

Tokens are kept only as SHA-256 digests (from ``serving.auth.tokens``, or hashed as soon as
they are read from ``MODELYARD_TOKENS_<SCOPE>``) and a presented token is compared with every
digest in constant time, so neither the answer nor its timing tells a guesser anything.
Missing and wrong tokens get the same 401; a valid token of another scope gets a 403. The
scopes a request's token grants are left in its ASGI scope under :data:`SCOPES_KEY`, so the
UI knows an admin without a second sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.config.schema import AuthConfig

logger = logging.getLogger(__name__)

SCOPES = ("predict", "feedback", "admin")
#: ASGI scope key holding the scopes the request's token grants (set when authentication is on)
SCOPES_KEY = "modelyard.scopes"
OPEN = "open"
ENV_PREFIX = "MODELYARD_TOKENS_"
#: the web UI's former admin token variable: read as one more admin token, with a warning
DEPRECATED_ADMIN_ENV = "MODELYARD_ADMIN_TOKEN"
MIN_TOKEN_LENGTH = 16
#: the name of the bearer scheme in the OpenAPI document's components
SECURITY_SCHEME = "bearerAuth"

#: (path pattern, scope) of the paths the app itself serves, whatever the protocols; the first
#: match wins. The protocols' paths come from each protocol plugin (:class:`ProtocolRules`), and
#: anything matched by neither needs ``admin``.
RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$"), scope)
    for pattern, scope in (
        (r"/openapi\.json", OPEN),
        (r"/docs(?:/oauth2-redirect|/assets/[A-Za-z0-9._-]+)?", OPEN),
        (r"/metrics", "metrics"),
    )
)

ProtocolRules = tuple[tuple[re.Pattern[str], str], ...]
_KNOWN_PATHS = 4096


def rules_for(scopes: Mapping[str, str]) -> ProtocolRules:
    """(pattern, scope) for path templates (``/v1/models/{model}/predict``) as routes declare them."""
    from starlette.routing import compile_path

    return tuple((compile_path(path)[0], scope) for path, scope in scopes.items())


def digest(token: str) -> str:
    """The hex SHA-256 of a token: what ``serving.auth.tokens[].sha256`` holds."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    import secrets

    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Tokens:
    """The accepted tokens (as digests) and their scopes; empty means authentication is off."""

    entries: tuple[tuple[bytes, frozenset[str]], ...] = ()
    open_metrics: bool = True
    #: the mounted protocols' paths and scopes (:func:`rules_for`), after :data:`RULES`
    protocol_rules: ProtocolRules = ()
    #: path -> scope of the protocols' paths, remembered (at most _KNOWN_PATHS) for the hot path
    _known: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    @classmethod
    def load(cls, config: AuthConfig | None = None, environ: Mapping[str, str] | None = None) -> Tokens:
        """Tokens from the config's digests and from ``MODELYARD_TOKENS_<SCOPE>`` (raw, hashed here)."""
        environ = os.environ if environ is None else environ
        entries: list[tuple[bytes, frozenset[str]]] = []
        if config is not None:
            entries += [(bytes.fromhex(t.sha256), frozenset(t.scopes)) for t in config.tokens]
        variables = [(f"{ENV_PREFIX}{scope.upper()}", scope) for scope in SCOPES]
        if environ.get(DEPRECATED_ADMIN_ENV, "").strip():
            logger.warning(
                "$%s is deprecated: it is read as one more admin token; move it to $%sADMIN "
                "(or serving.auth.tokens) - it also turns authentication on for the whole server",
                DEPRECATED_ADMIN_ENV,
                ENV_PREFIX,
            )
            variables.append((DEPRECATED_ADMIN_ENV, "admin"))
        for variable, scope in variables:
            for token in (t.strip() for t in environ.get(variable, "").split(",")):
                if not token:
                    continue
                if len(token) < MIN_TOKEN_LENGTH:
                    raise ConfigError(
                        f"a token in ${variable} is shorter than {MIN_TOKEN_LENGTH} characters; "
                        "make one with `modelyard token`"
                    )
                entries.append((bytes.fromhex(digest(token)), frozenset({scope})))
        return cls(tuple(entries), open_metrics=config.open_metrics if config is not None else True)

    def grants(self, scope: str) -> bool:
        """Whether some configured token has ``scope`` (an ``admin`` token has every scope)."""
        return any(scope in scopes or "admin" in scopes for _, scopes in self.entries)

    def scopes_of(self, token: str) -> frozenset[str]:
        """The scopes a presented token grants (empty when it is not a token we know).

        Every digest is compared, in constant time, whatever matches: no early exit to time.
        """
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        granted: frozenset[str] = frozenset()
        for known, scopes in self.entries:
            if hmac.compare_digest(presented, known):
                granted = granted | scopes
        return granted

    def with_rules(self, rules: ProtocolRules) -> Tokens:
        """These tokens, checking the paths of the protocols ``rules`` describes."""
        return replace(self, protocol_rules=rules)

    def required(self, path: str) -> str:
        """The scope ``path`` needs (:data:`OPEN` for none).

        The app's own paths first; then the protocols' paths: when patterns of protocols giving
        different scopes both match (``/m/{name}`` and ``/m/{name}:predict``), ``admin``.
        """
        for pattern, scope in RULES:
            if pattern.match(path):
                if scope == "metrics":
                    return OPEN if self.open_metrics else "admin"
                return scope
        known = self._known.get(path)
        if known is None:
            found = {given for pattern, given in self.protocol_rules if pattern.match(path)}
            known = found.pop() if len(found) == 1 else "admin"
            if len(self._known) >= _KNOWN_PATHS:  # paths a client invents must not grow it
                self._known.clear()
            self._known[path] = known
        return known

    def check(
        self, path: str, authorization: str | None, *, cookie_token: str | None = None
    ) -> tuple[int, frozenset[str]]:
        """(200, the token's scopes) when the request may go on; 401 (no valid token) or 403 (a
        token of another scope) otherwise.

        ``cookie_token`` is the token a browser carries in the UI's admin cookie (set by
        ``/ui/admin``); it counts like a bearer token.
        """
        if not self.entries:
            return 200, frozenset()
        if authorization and authorization[:7].lower() == "bearer ":
            token: str | None = authorization[7:].strip()
        else:
            token = cookie_token
        granted = self.scopes_of(token) if token else frozenset()
        scope = self.required(path)
        if scope == OPEN:
            return 200, granted
        if not granted:
            return 401, granted
        return (200 if scope in granted or "admin" in granted else 403), granted


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: Tokens, *, insecure: bool = False) -> None:
    """Refuse to serve without authentication on an address other machines can reach."""
    if tokens.enabled or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve on {host} without authentication: anyone who can reach it could predict, "
        "send feedback and change state. Set tokens (serving.auth.tokens, or MODELYARD_TOKENS_PREDICT / "
        "_FEEDBACK / _ADMIN; `modelyard token` makes one), or pass --insecure if something else guards it",
        key="serving.auth",
    )


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_security(document: dict[str, Any], tokens: Tokens) -> dict[str, Any]:
    """Add the bearer scheme to an OpenAPI ``document``, in place, as ``tokens`` enforce it.

    Every operation that needs a scope gets ``security: [{bearerAuth: []}]``, the scope it
    needs (``x-modelyard-scope``) and its 401 (no valid token, with ``WWW-Authenticate``) and
    403 (a token of another scope) JSON answers; open operations get ``security: []``. Without
    tokens nothing is protected and the document is left as it is.
    """
    if not tokens.enabled:
        return document
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "a token of the operation's scope (predict, feedback or admin; admin may do "
        "everything): `modelyard token` makes one. /ui also takes it from the cookie /ui/admin sets.",
    }
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    components.setdefault("schemas", {}).setdefault(
        "ErrorResponse",
        {
            "title": "ErrorResponse",
            "type": "object",
            "properties": {"error": {"type": "string"}, "type": {"type": "string"}},
            "required": ["error", "type"],
        },
    )
    json_error = {"application/json": {"schema": error}}
    for path, item in document.get("paths", {}).items():
        scope = tokens.required(path)
        for method, operation in item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            if scope == OPEN:
                operation["security"] = []
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            operation["x-modelyard-scope"] = scope
            responses = operation.setdefault("responses", {})
            responses["401"] = {
                "description": "no valid bearer token (missing or unknown: the same answer)",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                "content": json_error,
            }
            earlier = responses.get("403", {}).get("description")
            responses["403"] = {
                "description": f"a valid token without the {scope!r} scope"
                + (f"; or {earlier}" if earlier else ""),
                "content": json_error,
            }
    return document
