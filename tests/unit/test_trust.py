"""engine.trust: Ed25519 keys, image signatures over content ids, the verdicts agents give, storage."""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from engine import Engine
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig
from engine.errors import AppValidationError
from engine.store import Store
from engine.trust import (
    ImageSignature,
    TrustKeyError,
    generate_key_pair,
    id_matches,
    inline_key,
    key_id,
    load_private_key,
    load_public_key,
    load_trusted_keys,
    normalize_ref,
    repository_of,
    short_id,
    sign_image,
    signature_problem,
)

ROOT = Path(__file__).resolve().parents[2]
ID_A = "sha256:" + "ab" * 32
ID_B = "sha256:" + "cd" * 32


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("trusted", "stranger"):
        private, public, _ = generate_key_pair(tmp_path / name / "key")
        out[name], out[f"{name}.pub"] = private, public
    return out


@pytest.mark.parametrize(
    ("ref", "normal", "repo"),
    [
        ("busybox", "busybox:latest", "busybox"),
        ("docker.io/library/busybox:1.36", "busybox:1.36", "busybox"),
        ("registry.local:5000/team/app", "registry.local:5000/team/app:latest", "registry.local:5000/team/app"),
        (f"busybox@{ID_A}", f"busybox@{ID_A}", "busybox"),
    ],
)
def test_references(ref: str, normal: str, repo: str) -> None:
    assert normalize_ref(ref) == normal
    assert repository_of(ref) == repo


def test_ids() -> None:
    assert short_id(ID_A) == "sha256:abababababab"
    assert id_matches(ID_A, ID_A) and id_matches("abababababab", ID_A) and id_matches("sha256:ABABABABABAB", ID_A)
    assert not id_matches("abab", ID_A) and not id_matches(ID_B, ID_A)


def test_keygen_writes_a_private_key_for_the_owner_only(tmp_path: Path) -> None:
    private, public, key = generate_key_pair(tmp_path / "k" / "release.key")
    assert private.stat().st_mode & 0o077 == 0
    assert public.name == "release.key.pub" and b"PUBLIC KEY" in public.read_bytes()
    with pytest.raises(TrustKeyError, match="exists: not overwriting"):
        generate_key_pair(private)
    assert key_id(load_public_key(str(public))) == key_id(key)


def test_public_key_forms(tmp_path: Path, keys: dict[str, Path]) -> None:
    pem = load_public_key(str(keys["trusted.pub"]))
    ssh_line = pem.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "id.pub").write_bytes(ssh_line + b" ops@example\n")
    assert key_id(load_public_key(str(tmp_path / "id.pub"))) == key_id(pem)
    assert key_id(load_public_key(inline_key(pem))) == key_id(pem)
    with pytest.raises(TrustKeyError, match="is a private key"):
        load_public_key(str(keys["trusted"]))
    with pytest.raises(TrustKeyError, match="base64 of 32 bytes"):
        load_public_key("ed25519:AAAA")
    with pytest.raises(TrustKeyError, match="cannot read trusted key"):
        load_trusted_keys([str(tmp_path / "missing.pub")])


def test_verdicts(keys: dict[str, Path]) -> None:
    trusted = [load_public_key(str(keys["trusted.pub"]))]
    good = sign_image(load_private_key(keys["trusted"]), "busybox", ID_A)
    other = sign_image(load_private_key(keys["stranger"]), "busybox:latest", ID_A)
    assert good.image == "busybox:latest" and good.problem() is None
    assert signature_problem("busybox:latest", ID_A, [good.to_wire()], trusted) is None
    assert signature_problem("busybox:latest", ID_A, [other, good], trusted) is None
    assert signature_problem("busybox:latest", ID_A, [], trusted) == \
        "image busybox:latest (sha256:abababababab) is not signed"
    assert signature_problem("busybox:latest", ID_A, [other], trusted) == (
        f"image busybox:latest (sha256:abababababab) is signed by an untrusted key ({other.key_id}), "
        "by none of this agent's trusted keys")
    # the tag now names other content: the old signature does not carry over
    assert signature_problem("busybox:latest", ID_B, [good], trusted) == \
        "image busybox:latest changed: now sha256:cdcdcdcdcdcd, signed sha256:abababababab"
    # a signature copied onto other content, or tampered with, is invalid
    forged = replace(good, image_id=ID_B)
    assert forged.problem() is not None and "does not verify" in str(forged.problem())
    assert signature_problem("busybox:latest", ID_B, [forged], trusted) == \
        "image busybox:latest (sha256:cdcdcdcdcdcd) has an invalid signature"
    # another tag of the same content is the same content
    assert signature_problem("busybox:1.36", ID_A, [good], trusted) is None


def test_malformed_records_are_named() -> None:
    bad_id = ImageSignature("busybox:latest", "sha256:xyz", "AAAA", "AAAA")
    assert "imageId: must be sha256:" in str(bad_id.problem())
    bad_key = ImageSignature("busybox:latest", ID_A, "not base64!", "AAAA")
    assert "publicKey:" in str(bad_key.problem())
    with pytest.raises(ValueError):
        ImageSignature.from_wire("only three fields")


def test_store_keeps_signatures(tmp_path: Path, keys: dict[str, Path]) -> None:
    sig = sign_image(load_private_key(keys["trusted"]), "busybox:latest", ID_A)
    store = Store(tmp_path / "s.db")
    store.add_signature(sig)
    store.add_signature(sig)  # the same image, id and key replace the earlier one
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.load_signatures() == [sig]
    again.remove_signatures([sig])
    assert again.load_signatures() == []
    again.close()


async def test_engine_keeps_signatures_and_sends_them_with_specs(tmp_path: Path, keys: dict[str, Path]) -> None:
    config = PacerConfig(scheduler=SchedulerConfig(state=str(tmp_path / "s.db"), cluster_id="trust",
                                                   default_image="busybox:latest", reconcile_interval=0.1))
    key = load_private_key(keys["trusted"])
    sig = sign_image(key, "busybox:latest", ID_A)
    async with Engine(config, drivers={"s": SimAgent("s")}) as engine:
        stored = engine.add_signature(sig)
        assert engine.signatures == (stored,)
        with pytest.raises(AppValidationError) as info:
            engine.add_signature(replace(sig, image_id=ID_B))
        assert info.value.errors[0].path == "/signature"
        engine.add_signature(sign_image(key, "python:3", ID_B))
        assert [s.image for s in engine.signatures_for("busybox:1.36")] == ["busybox:latest"]
        assert [s.image for s in engine.signatures_for("other:1", ID_B[:19])] == ["python:3"]
    async with Engine(config, drivers={"s": SimAgent("s")}) as engine:
        assert {s.image for s in engine.signatures} == {"busybox:latest", "python:3"}
        assert [s.image for s in engine.remove_signatures(image="busybox")] == ["busybox:latest"]
        assert [s.image for s in engine.signatures] == ["python:3"]


def test_cli_keygen_sign_print_and_state(tmp_path: Path) -> None:
    def pacer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)

    made = pacer("image", "keygen", "--out", str(tmp_path / "rel.key"))
    assert made.returncode == 0, made.stderr
    assert "key id      ed25519:" in made.stdout and "trusted_keys entry" in made.stdout
    again = pacer("image", "keygen", "--out", str(tmp_path / "rel.key"))
    assert again.returncode == 2 and "not overwriting" in again.stderr
    missing = pacer("image", "sign", "busybox:latest", "--key", str(tmp_path / "nope.key"), "--print")
    assert missing.returncode == 2 and "cannot read key" in missing.stderr and "Traceback" not in missing.stderr
    # --state writes into an engine's state database
    Store(tmp_path / "state.db").close()
    key = load_private_key(tmp_path / "rel.key")
    sig = sign_image(key, "busybox:latest", ID_A)
    store = Store(tmp_path / "state.db")
    store.add_signature(sig)
    store.close()
    listed = pacer("image", "signatures", "--state", str(tmp_path / "state.db"))
    assert listed.returncode == 0 and "busybox:latest  sha256:abababababab  ed25519:" in listed.stdout
    gone = pacer("image", "unsign", "busybox", "--state", str(tmp_path / "state.db"))
    assert gone.returncode == 0 and "removed 1 signature(s) of busybox:latest" in gone.stdout
    assert base64.b64decode(sig.public_key)  # the record carries the signer's key
