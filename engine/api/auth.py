"""API authentication: one token from the config.

Accepted forms of the ``Authorization`` header:

- ``Bearer TOKEN`` (RFC 6750);
- ``token=TOKEN`` (DC/OS, what marathon-python sends for ``auth_token``);
- ``Basic base64(ANY_USER:TOKEN)`` (marathon-python's event stream sends only
  basic auth, so ``MarathonClient(url, username="pacer", password=TOKEN)``
  works for every call, SSE included).

Tokens are compared in constant time (as SHA-256 digests, so not even the
length leaks) and never logged: nothing here keeps or prints the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PUBLIC_PATHS = frozenset({"/ping", "/openapi.json"})


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
