"""`pacer image keygen|sign|signatures|unsign|verify`: image signing keys and signatures.

    pacer image keygen --out release.key            Ed25519 key pair: release.key (0600) and release.key.pub
    pacer image sign IMAGE --key release.key        sign IMAGE's content id on the local docker daemon and
                                                    store the signature with the engine (its API, or --state)
    pacer image signatures [IMAGE] [--json]         the signatures the engine holds
    pacer image unsign IMAGE [--key-id ID]          forget signatures (of one key)
    pacer image verify IMAGE --trusted KEY.pub ...  would an agent trusting these keys run IMAGE as it is now?

The signature covers the image's content id (``docker image inspect`` Id), so a
tag later moved to other content is refused by every agent that requires
signatures. Agents trust keys through their policy's ``trusted_keys``.

The engine is reached like the other client commands (``--url``, ``PACER_URL``,
``--config``; ``--token``, ``PACER_TOKEN``) or, with ``--state FILE``, through
its state database directly (an engine running on that file sees the new
signature after its next restart; the API is immediate).

Exit codes: 0 done, 1 refused or failed, 2 bad usage (no such key, no such
image), 6 the API cannot be reached or refused the token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cli.errors import ClientError, ImageCommandError
from engine.trust import (
    ImageSignature,
    TrustKeyError,
    generate_key_pair,
    inline_key,
    key_id,
    load_private_key,
    load_trusted_keys,
    normalize_ref,
    short_id,
    sign_image,
    signature_problem,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 6
DEFAULT_DOCKER = "unix:///var/run/docker.sock"


def add_image_commands(sub: Any) -> None:
    """Register `pacer image ...` on the top-level subparsers."""
    image = sub.add_parser("image", help="image signing: keygen, sign, signatures, unsign, verify",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    isub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)

    def engine_target(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", metavar="FILE", default=argparse.SUPPRESS,
                       help="read the API address and token from this pacer config")
        p.add_argument("--url", help="the engine's API (default: $PACER_URL, the config's api, http://127.0.0.1:8080)")
        p.add_argument("--token", help="API token (default: $PACER_TOKEN or the config's api_token)")
        p.add_argument("--state", metavar="FILE", default=argparse.SUPPRESS,
                       help="write to / read from this engine state database instead of the API")

    p = isub.add_parser("keygen", help="make an Ed25519 key pair for signing images")
    p.add_argument("--out", required=True, metavar="KEY", help="private key file (the public key goes to KEY.pub)")

    p = isub.add_parser("sign", help="sign an image's content id and store the signature with the engine")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--key", required=True, metavar="KEY", help="private key (PEM, from `pacer image keygen`)")
    p.add_argument("--docker", default=DEFAULT_DOCKER, metavar="URL",
                   help=f"docker daemon that holds the image (default {DEFAULT_DOCKER})")
    p.add_argument("--print", action="store_true", dest="print_only",
                   help="print the signature as JSON instead of storing it")
    engine_target(p)

    p = isub.add_parser("signatures", help="list the image signatures the engine holds")
    p.add_argument("image", nargs="?", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print JSON")
    engine_target(p)

    p = isub.add_parser("unsign", help="forget the signatures of an image (or of one key)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--key-id", metavar="ID", help="only this key's signatures (ed25519:...)")
    engine_target(p)

    p = isub.add_parser("verify", help="check an image against trusted keys, as an agent would")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--trusted", nargs="+", required=True, metavar="KEY",
                   help="trusted public keys (PEM or ssh-ed25519 files, or ed25519:BASE64)")
    p.add_argument("--docker", default=DEFAULT_DOCKER, metavar="URL", help="docker daemon to resolve IMAGE on")
    engine_target(p)


# -- helpers ---------------------------------------------------------------------------------


def image_id_on(docker_url: str, image: str) -> str:
    """The content id of `image` on that daemon."""
    import docker
    import docker.errors

    try:
        client = docker.DockerClient(base_url=docker_url, timeout=30)
    except docker.errors.DockerException as exc:
        raise ImageCommandError(EXIT_UNREACHABLE, f"docker at {docker_url} does not answer: {exc}") from None
    try:
        return str(client.api.inspect_image(image)["Id"])
    except docker.errors.ImageNotFound:
        raise ImageCommandError(EXIT_USAGE, f"no image {image!r} on {docker_url}") from None
    except docker.errors.DockerException as exc:
        raise ImageCommandError(EXIT_UNREACHABLE, f"docker at {docker_url}: {exc}") from None
    finally:
        client.close()


class _Engine:
    """The engine's signatures through its API, or its state database with --state."""

    def __init__(self, args: argparse.Namespace, config: Any | None) -> None:
        self.state: str | None = getattr(args, "state", None)
        self.args = args
        self.config = config

    async def _api(self, method: str, path: str, **kw: Any) -> Any:
        from cli.client import Api, resolve_target

        try:
            api = Api(resolve_target(self.args, self.config))
        except ClientError as exc:  # a bad PACER_CACERT or URL: reported like any other failed call
            raise ImageCommandError(exc.code, exc.message) from None
        try:
            return await api.json(method, path, **kw)
        except ClientError as exc:
            raise ImageCommandError(exc.code, exc.message) from None
        finally:
            await api.close()

    def _store(self) -> Any:
        from engine.store import Store

        assert self.state is not None
        if not Path(self.state).exists():
            raise ImageCommandError(EXIT_USAGE, f"no state database at {self.state}")
        return Store(self.state)

    def add(self, sig: ImageSignature) -> dict[str, Any]:
        if self.state:
            problem = sig.problem()
            if problem:
                raise ImageCommandError(EXIT_FAILED, problem)
            store = self._store()
            try:
                store.add_signature(sig)
            finally:
                store.close()
            return sig.to_json()
        body = {"image": sig.image, "imageId": sig.image_id, "publicKey": sig.public_key,
                "signature": sig.signature, "signedAt": sig.signed_at}
        result: dict[str, Any] = asyncio.run(self._api("POST", "/pacer/v1/signatures", json=body))
        return result

    def list(self, image: str | None) -> list[ImageSignature]:
        if self.state:
            store = self._store()
            try:
                sigs = store.load_signatures()
            finally:
                store.close()
        else:
            query = f"?{urlencode({'image': image})}" if image else ""
            body = asyncio.run(self._api("GET", f"/pacer/v1/signatures{query}"))
            sigs = [ImageSignature(s["image"], s["imageId"], s["publicKey"], s["signature"],
                                   float(s.get("signedAt") or 0)) for s in body.get("signatures", [])]
        ref = normalize_ref(image) if image else None
        return [s for s in sigs if ref is None or s.image == ref]

    def remove(self, image: str, key: str | None) -> int:
        if self.state:
            store = self._store()
            try:
                ref = normalize_ref(image)
                gone = [s for s in store.load_signatures() if s.image == ref and (key is None or s.key_id == key)]
                store.remove_signatures(gone)
            finally:
                store.close()
            return len(gone)
        params = {"image": image, **({"keyId": key} if key else {})}
        body = asyncio.run(self._api("DELETE", f"/pacer/v1/signatures?{urlencode(params)}"))
        return len(body.get("removed", []))


# -- commands --------------------------------------------------------------------------------


def _keygen(args: argparse.Namespace) -> int:
    try:
        private, public, key = generate_key_pair(args.out)
    except TrustKeyError as exc:
        raise ImageCommandError(EXIT_USAGE, str(exc)) from None
    print(f"private key {private} (keep it secret)")
    print(f"public key  {public}")
    print(f"key id      {key_id(key)}")
    print(f"trusted_keys entry: \"{inline_key(key)}\" (or the path of {public.name})")
    return EXIT_OK


def _sign(args: argparse.Namespace, config: Any | None) -> int:
    try:
        key = load_private_key(args.key)
    except TrustKeyError as exc:
        raise ImageCommandError(EXIT_USAGE, str(exc)) from None
    image_id = image_id_on(args.docker, args.image)
    sig = sign_image(key, args.image, image_id)
    if args.print_only:
        print(json.dumps(sig.to_json(), indent=2))
        return EXIT_OK
    _Engine(args, config).add(sig)
    print(f"signed {sig.image} ({short_id(image_id)}) with {sig.key_id}")
    return EXIT_OK


def _signatures(args: argparse.Namespace, config: Any | None) -> int:
    sigs = _Engine(args, config).list(args.image)
    if args.json:
        print(json.dumps([s.to_json() for s in sigs], indent=2))
        return EXIT_OK
    if not sigs:
        print("no signatures" + (f" for {normalize_ref(args.image)}" if args.image else ""))
        return EXIT_OK
    width = max(len(s.image) for s in sigs)
    for s in sigs:
        print(f"{s.image:<{width}}  {short_id(s.image_id)}  {s.key_id}")
    return EXIT_OK


def _unsign(args: argparse.Namespace, config: Any | None) -> int:
    n = _Engine(args, config).remove(args.image, args.key_id)
    print(f"removed {n} signature(s) of {normalize_ref(args.image)}")
    return EXIT_OK if n else EXIT_FAILED


def _verify(args: argparse.Namespace, config: Any | None) -> int:
    try:
        keys = load_trusted_keys(args.trusted)
    except TrustKeyError as exc:
        raise ImageCommandError(EXIT_USAGE, str(exc)) from None
    image_id = image_id_on(args.docker, args.image)
    sigs = _Engine(args, config).list(None)
    problem = signature_problem(args.image, image_id, sigs, keys)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_FAILED
    print(f"image {normalize_ref(args.image)} ({short_id(image_id)}) is signed by a trusted key")
    return EXIT_OK


def run_image(args: argparse.Namespace, config: Any | None) -> int:
    try:
        if args.image_command == "keygen":
            return _keygen(args)
        if args.image_command == "sign":
            return _sign(args, config)
        if args.image_command == "signatures":
            return _signatures(args, config)
        if args.image_command == "unsign":
            return _unsign(args, config)
        return _verify(args, config)
    except ImageCommandError as exc:
        print(f"pacer image {args.image_command}: {exc.message}", file=sys.stderr)
        return exc.code
