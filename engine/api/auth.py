"""Who may ask the API: the token, and the requests a browser could forge.

The token (one, from the config). Accepted forms of the ``Authorization`` header:

- ``Bearer TOKEN`` (RFC 6750);
- ``token=TOKEN`` (DC/OS, what marathon-python sends for ``auth_token``);
- ``Basic base64(ANY_USER:TOKEN)`` (marathon-python's event stream sends only
  basic auth, so ``MarathonClient(url, username="pacer", password=TOKEN)``
  works for every call, SSE included).

Tokens are compared in constant time (as SHA-256 digests, so not even the
length leaks) and never logged: nothing here keeps or prints the header. A
configured token is required on every binding, loopback included.

Browsers. A web page can make a browser send requests to any address it can
reach, 127.0.0.1 included, without reading the answers; those are the only
requests `RequestGuard` refuses, and no script or Marathon client sends one:

- an ``Origin`` header that is not this API's own origin, or ``Origin: null``
  (sandboxed frames, local files, cross-site redirects): 403;
- ``Sec-Fetch-Site: cross-site`` or ``same-site`` (a page of another origin; a
  page on another port of localhost is "same-site"): 403;
- an API without a token on a loopback address answers only requests whose
  ``Host`` is ``localhost`` (or ``*.localhost``) or an IP address: a page whose
  name was re-pointed to 127.0.0.1 (DNS rebinding) is its own origin, and would
  pass the checks above. 403;
- a write (POST, PUT, PATCH, DELETE) whose body is not declared as
  ``application/json`` (charset utf-8 or none): 415. Forms and ``no-cors``
  fetches can send text/plain, form-encoded or untyped bodies, never JSON;
- a declared ``Content-Length`` above the limit: 413 before the body is read
  (the middleware also stops a body that grows past it while streaming).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Mapping

PUBLIC_PATHS = frozenset({"/ping", "/openapi.json"})

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN = 120
"""Characters of a header value repeated in an answer (the answer is JSON; this only keeps it short)."""


class TokenCheck:
    def __init__(self, token: str) -> None:
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()

    def __repr__(self) -> str:
        return "TokenCheck(<hidden>)"

    def _same(self, candidate: bytes) -> bool:
        return hmac.compare_digest(hashlib.sha256(candidate).digest(), self._digest)

    def allows(self, authorization: bytes | None) -> bool:
        if not authorization:
            return False
        value = authorization.strip()
        scheme, _, rest = value.partition(b" ")
        lowered = scheme.lower()
        if lowered == b"bearer":
            return self._same(rest.strip())
        if lowered == b"basic":
            try:
                decoded = base64.b64decode(rest.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            _, sep, password = decoded.partition(b":")
            return bool(sep) and self._same(password)
        if value[:6].lower() == b"token=":
            candidate = value[6:].strip()
            if len(candidate) >= 2 and candidate[:1] == candidate[-1:] == b'"':
                candidate = candidate[1:-1]
            return self._same(candidate)
        return False


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer given before the request reaches a route."""

    status: int
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


UNAUTHORIZED = Refusal(401, "Unauthorized: send 'Authorization: Bearer <token>' (or DC/OS 'token=<token>')",
                       ((b"www-authenticate", b'Bearer realm="pacer"'),))


def _text(value: bytes) -> str:
    text = value.decode("latin-1")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``host[:port]`` or ``[v6][:port]`` -> (lower-case host, port or None); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        host, sep, port_text = value.partition(":")
        if sep and ":" in port_text:
            return None
    if not host:
        return None
    if port_text:
        if not port_text.isdigit() or int(port_text) > 65535:
            return None
        return host, int(port_text)
    return host, None


def _origin_tuple(scheme: str, host_value: str) -> tuple[str, str, int] | None:
    parsed = _split_host(host_value)
    if parsed is None or scheme not in _DEFAULT_PORTS:
        return None
    host, port = parsed
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def _parse_origin(origin: str) -> tuple[str, str, int] | None:
    scheme, sep, rest = origin.strip().partition("://")
    if not sep or "/" in rest or "@" in rest:
        return None
    return _origin_tuple(scheme.lower(), rest)


def is_local_name(host: str) -> bool:
    """A Host that only this machine can mean: localhost, *.localhost, or an IP address (never a DNS name)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_json_type(content_type: bytes) -> bool:
    """``application/json``, with no charset or a UTF-8 one."""
    media, *params = content_type.decode("latin-1").split(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


class RequestGuard:
    """Decides, from the request line and headers alone, whether a request goes on to the routes.

    `token`: the configured token or None. `local_names_only`: the API listens on a loopback
    address; without a token it then answers only Host names of this machine (see above).
    """

    def __init__(self, token: str | None, *, local_names_only: bool = False, max_body: int) -> None:
        self.token = TokenCheck(token) if token else None
        self.local_names_only = local_names_only and self.token is None
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"RequestGuard(token={'<set>' if self.token else None}, local_names_only={self.local_names_only})"

    def check(self, method: str, scheme: str, path: str,
              raw_headers: Iterable[tuple[bytes, bytes]]) -> Refusal | None:
        headers: dict[bytes, bytes] = {}
        for key, value in raw_headers:
            if key in (b"origin", b"host", b"sec-fetch-site", b"authorization", b"content-type",
                       b"content-length", b"transfer-encoding") and key not in headers:
                headers[key] = value
        return (self._browser(scheme, headers) or self._token(path, headers)
                or self._body(method, headers))

    def _browser(self, scheme: str, headers: Mapping[bytes, bytes]) -> Refusal | None:
        host_value = _text(headers.get(b"host", b""))
        origin = headers.get(b"origin")
        if origin is not None:
            text = _text(origin)
            if text.strip().lower() == "null":
                return Refusal(403, "Forbidden: a request with 'Origin: null' (a sandboxed page, a local file or "
                                    "a cross-site redirect) is refused")
            own = _origin_tuple(scheme, host_value)
            if own is None or _parse_origin(text) != own:
                return Refusal(403, f"Forbidden: cross-origin request refused (Origin {text!r} is not this API's "
                                    f"origin {scheme}://{host_value})")
        site = headers.get(b"sec-fetch-site", b"").strip().lower()
        if site in (b"cross-site", b"same-site"):
            return Refusal(403, f"Forbidden: the browser sent this request for a page of another site "
                                f"(Sec-Fetch-Site: {site.decode('latin-1')})")
        if self.local_names_only and host_value:  # a browser always sends Host; a request without one is no page's
            parsed = _split_host(host_value)
            if parsed is None or not is_local_name(parsed[0]):
                return Refusal(403, f"Forbidden: Host {host_value!r} is not localhost or an IP address; this API "
                                    "has no token, so it answers only requests addressed to this machine by "
                                    "localhost or IP (set [scheduler] api_token to use other names)")
        return None

    def _token(self, path: str, headers: Mapping[bytes, bytes]) -> Refusal | None:
        if self.token is None or path in PUBLIC_PATHS or self.token.allows(headers.get(b"authorization")):
            return None
        return UNAUTHORIZED

    def _body(self, method: str, headers: Mapping[bytes, bytes]) -> Refusal | None:
        length_text = headers.get(b"content-length", b"").strip()
        declared = int(length_text) if length_text.isdigit() else None
        has_body = b"transfer-encoding" in headers or bool(declared)
        content_type = headers.get(b"content-type")
        if method in WRITE_METHODS and (has_body or content_type is not None):
            if content_type is None or not is_json_type(content_type):
                got = f"'{_text(content_type)}'" if content_type is not None else "none"
                return Refusal(415, f"Unsupported Media Type: send the body as JSON with 'Content-Type: "
                                    f"application/json' (got {got})")
        if declared is not None and declared > self.max_body:
            return Refusal(413, f"Request body too large (max {self.max_body} bytes)")
        return None
