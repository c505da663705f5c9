"""Image signatures: Ed25519 keys, signing an image's content id, and checking it before a container starts.

An image is trusted by its *content id* (``docker image inspect`` ``Id``,
``sha256:...``), never by its tag: a tag can be moved to other content, the id
cannot. A signature is made with an Ed25519 key over

    b"pacer-image-signature-v1\\0" + image_id

and stored by the engine together with the reference it was made for (such as
``busybox:latest``) and the signer's public key. The engine sends the signatures
of an image's repository along with each task spec; the agent resolves the tag
to the id it would run *on its own daemon* and accepts the image only when a
signature over exactly that id verifies with one of the agent's trusted keys.

On the wire (TaskSpec.signatures) a signature is one string of four fields
separated by spaces: ``REF IMAGE_ID PUBLIC_KEY SIGNATURE`` (the key and the
signature as standard base64 of their raw bytes).

Keys: a private key is a PKCS#8 PEM file (``pacer image keygen``); a trusted
public key is given as a PEM file, an OpenSSH ``ssh-ed25519`` line, or inline
as ``ed25519:BASE64`` (the raw 32 bytes). A key is named by its id,
``ed25519:`` and the first 16 hex digits of the SHA-256 of its raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PAYLOAD_PREFIX = b"pacer-image-signature-v1\0"
INLINE_KEY_PREFIX = "ed25519:"
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


class TrustKeyError(ValueError):
    """A key file or inline key that cannot be used; the message says which and why."""


# -- references and ids ------------------------------------------------------------------


def normalize_ref(ref: str) -> str:
    """Docker's short form of a reference: ``docker.io/library/busybox`` -> ``busybox:latest``."""
    name, at, digest = ref.strip().partition("@")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if at:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def repository_of(ref: str) -> str:
    """``busybox:latest`` -> ``busybox``; ``reg:5000/team/app@sha256:..`` -> ``reg:5000/team/app``."""
    name = normalize_ref(ref).partition("@")[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.split(':', 1)[0]}"


def short_id(image_id: str) -> str:
    """``sha256:`` and the first 12 hex digits, as docker shows ids."""
    algo, _, hexa = image_id.partition(":")
    return f"{algo}:{hexa[:12]}" if hexa else image_id[:19]


def is_image_id(text: str) -> bool:
    return bool(_IMAGE_ID.match(text))


def id_matches(pinned: str, image_id: str) -> bool:
    """A pin (full id, or at least 12 hex digits of it, with or without ``sha256:``) names `image_id`."""
    want = pinned.strip().lower().removeprefix("sha256:")
    have = image_id.lower().removeprefix("sha256:")
    return len(want) >= 12 and have.startswith(want)


def payload(image_id: str) -> bytes:
    return PAYLOAD_PREFIX + image_id.encode("ascii")


# -- keys --------------------------------------------------------------------------------


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | bytes) -> str:
    raw = key if isinstance(key, bytes) else raw_public(key)
    return INLINE_KEY_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def inline_key(key: Ed25519PublicKey) -> str:
    """The ``ed25519:BASE64`` form of a public key, for a config's trusted_keys."""
    return INLINE_KEY_PREFIX + base64.b64encode(raw_public(key)).decode("ascii")


def generate_key_pair(out: str | Path) -> tuple[Path, Path, Ed25519PublicKey]:
    """Write a new private key to `out` (mode 0600) and its public key to `out`.pub; refuses to overwrite."""
    private_path = Path(out)
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise TrustKeyError(f"{path} exists: not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = key.public_key()
    public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, public


def load_private_key(path: str | Path, password: bytes | None = None) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TrustKeyError(f"cannot read key {path}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise TrustKeyError(f"{path} is not a usable PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustKeyError(f"{path} is not an Ed25519 key (make one with `pacer image keygen`)")
    return key


def load_public_key(spec: str) -> Ed25519PublicKey:
    """A trusted key: ``ed25519:BASE64``, or a file holding a PEM public key or an ``ssh-ed25519`` line."""
    if spec.startswith(INLINE_KEY_PREFIX):
        try:
            raw = base64.b64decode(spec[len(INLINE_KEY_PREFIX):], validate=True)
            return Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise TrustKeyError(f"{spec[:24]}...: not ed25519: and the base64 of 32 bytes") from None
    try:
        data = Path(spec).read_bytes()
    except OSError as exc:
        raise TrustKeyError(f"cannot read trusted key {spec}: {exc.strerror or exc}") from None
    if b"PRIVATE KEY" in data:
        raise TrustKeyError(f"{spec} is a private key: give its public key ({spec}.pub) as a trusted key")
    key: object
    try:
        if data.lstrip().startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TrustKeyError(f"{spec} is not a usable public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrustKeyError(f"{spec} is not an Ed25519 public key")
    return key


_KEY_CACHE: dict[tuple[str, float], Ed25519PublicKey] = {}


def load_trusted_keys(specs: Iterable[str]) -> list[Ed25519PublicKey]:
    """Every trusted key (files are read again when they change); TrustKeyError names the first bad one."""
    keys = []
    for spec in specs:
        try:
            stamp = 0.0 if spec.startswith(INLINE_KEY_PREFIX) else os.stat(spec).st_mtime
        except OSError:
            stamp = -1.0
        cached = _KEY_CACHE.get((spec, stamp))
        if cached is None:
            cached = load_public_key(spec)
            if len(_KEY_CACHE) > 256:
                _KEY_CACHE.clear()
            _KEY_CACHE[(spec, stamp)] = cached
        keys.append(cached)
    return keys


# -- signatures --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSignature:
    image: str
    """The reference it was made for, normalized (``busybox:latest``): for messages and lookups; not signed."""
    image_id: str
    public_key: str
    """Standard base64 of the signer's raw 32-byte Ed25519 public key."""
    signature: str
    """Standard base64 of the 64-byte signature over `payload(image_id)`."""
    signed_at: float = 0.0

    @property
    def key_id(self) -> str:
        try:
            return key_id(base64.b64decode(self.public_key))
        except (binascii.Error, ValueError):
            return "ed25519:?"

    def to_wire(self) -> str:
        return f"{self.image} {self.image_id} {self.public_key} {self.signature}"

    @classmethod
    def from_wire(cls, text: str) -> "ImageSignature":
        parts = text.split()
        if len(parts) != 4:
            raise ValueError("a signature is 'REF IMAGE_ID PUBLIC_KEY SIGNATURE'")
        return cls(parts[0], parts[1], parts[2], parts[3])

    def to_json(self) -> dict[str, object]:
        return {"image": self.image, "imageId": self.image_id, "keyId": self.key_id, "publicKey": self.public_key,
                "signature": self.signature, "signedAt": self.signed_at}

    def problem(self) -> str | None:
        """Why this record is malformed or does not verify under its own key (None: it does)."""
        if not is_image_id(self.image_id):
            return f"imageId: must be sha256: and 64 hex digits, got {self.image_id[:80]!r}"
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key, validate=True))
        except (binascii.Error, ValueError):
            return "publicKey: must be the base64 of a raw 32-byte Ed25519 public key"
        try:
            sig = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            return "signature: must be base64"
        try:
            public.verify(sig, payload(self.image_id))
        except InvalidSignature:
            return f"signature: does not verify for {self.image_id} under key {self.key_id}"
        return None


def sign_image(key: Ed25519PrivateKey, ref: str, image_id: str) -> ImageSignature:
    if not is_image_id(image_id):
        raise ValueError(f"not an image content id: {image_id!r}")
    sig = key.sign(payload(image_id))
    return ImageSignature(
        image=normalize_ref(ref),
        image_id=image_id,
        public_key=base64.b64encode(raw_public(key.public_key())).decode("ascii"),
        signature=base64.b64encode(sig).decode("ascii"),
        signed_at=time.time(),
    )


def _verifies(sig: ImageSignature, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(sig.signature), payload(sig.image_id))
        return True
    except (InvalidSignature, binascii.Error, ValueError):
        return False


def signature_problem(ref: str, image_id: str, signatures: Sequence[str | ImageSignature],
                      trusted: Sequence[Ed25519PublicKey]) -> str | None:
    """Why `ref`, which resolves to `image_id` here, may not run; None when a trusted key signed that id.

    The reasons, in the words the operator sees:
    - "image busybox:latest (sha256:ab12cd34ef56) is signed by an untrusted key (ed25519:...)"
    - "image busybox:latest changed: now sha256:cd34..., signed sha256:ab12..." (the tag moved)
    - "image busybox:latest (sha256:ab12cd34ef56) has an invalid signature"
    - "image busybox:latest (sha256:ab12cd34ef56) is not signed"
    """
    records = []
    for entry in signatures:
        try:
            records.append(entry if isinstance(entry, ImageSignature) else ImageSignature.from_wire(entry))
        except ValueError:
            continue
    ref_n = normalize_ref(ref)
    label = f"image {ref_n} ({short_id(image_id)})"
    trusted_raw = {raw_public(k): k for k in trusted}
    over_this = [s for s in records if s.image_id == image_id]
    untrusted: list[str] = []
    invalid = False
    for sig in over_this:
        try:
            raw = base64.b64decode(sig.public_key, validate=True)
        except (binascii.Error, ValueError):
            invalid = True
            continue
        key = trusted_raw.get(raw)
        if key is not None:
            if _verifies(sig, key):
                return None
            invalid = True
            continue
        try:
            own = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            invalid = True
            continue
        if _verifies(sig, own):
            untrusted.append(sig.key_id)
        else:
            invalid = True
    if untrusted:
        keys = ", ".join(sorted(set(untrusted)))
        return f"{label} is signed by an untrusted key ({keys}), by none of this agent's trusted keys"
    if invalid:
        return f"{label} has an invalid signature"
    # Nothing over this content: was this very reference signed for other content (a moved tag)?
    before = sorted((s for s in records if normalize_ref(s.image) == ref_n and s.image_id != image_id),
                    key=lambda s: s.signed_at)
    if before:
        return f"image {ref_n} changed: now {short_id(image_id)}, signed {short_id(before[-1].image_id)}"
    return f"{label} is not signed"
