"""Image references: docker's grammar, what a pull needs, and the 422 for a reference that cannot exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.errors import AppValidationError
from engine.model import parse_app
from engine.model.image_refs import ImageRef, image_ref_problem, is_image_id, parse_image_ref

DIGEST = "sha256:" + "ab" * 32
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "marathon-corpus"


@pytest.mark.parametrize(("text", "ref"), [
    ("busybox", ImageRef("docker.io", "library/busybox")),
    ("busybox:1.36", ImageRef("docker.io", "library/busybox", "1.36")),
    ("mesosphere/inky", ImageRef("docker.io", "mesosphere/inky")),
    ("docker.io/library/python:3", ImageRef("docker.io", "library/python", "3")),
    ("index.docker.io/mesosphere/inky", ImageRef("docker.io", "mesosphere/inky")),
    ("127.0.0.1:5000/team/app:v1", ImageRef("127.0.0.1:5000", "team/app", "v1")),
    ("localhost/app", ImageRef("localhost", "app")),
    (f"127.0.0.1:5000/app@{DIGEST}", ImageRef("127.0.0.1:5000", "app", None, DIGEST)),
    (f"127.0.0.1:5000/app:v1@{DIGEST}", ImageRef("127.0.0.1:5000", "app", "v1", DIGEST)),
    ("registry.system.marathon.mesos:5000/io.predix.dcosb/service-module-example-cassandra:0.1-SNAPSHOT",
     ImageRef("registry.system.marathon.mesos:5000", "io.predix.dcosb/service-module-example-cassandra",
              "0.1-SNAPSHOT")),
    ("a__b/c-d---e:T_1.x", ImageRef("docker.io", "a__b/c-d---e", "T_1.x")),
])
def test_valid_references_parse(text: str, ref: ImageRef) -> None:
    assert image_ref_problem(text) is None
    assert parse_image_ref(text) == ref


def test_what_a_pull_asks_for() -> None:
    assert parse_image_ref("busybox").repository == "busybox"
    assert parse_image_ref("busybox").pull_tag == "latest"
    assert parse_image_ref("mesosphere/inky").registry == "docker.io"
    pinned = parse_image_ref(f"127.0.0.1:5000/team/app:v1@{DIGEST}")
    assert (pinned.repository, pinned.registry, pinned.pull_tag, pinned.pinned) == (
        "127.0.0.1:5000/team/app", "127.0.0.1:5000", DIGEST, True)
    assert str(pinned) == f"127.0.0.1:5000/team/app:v1@{DIGEST}"


@pytest.mark.parametrize(("text", "why"), [
    ("", "must not be empty"),
    (" busybox", "whitespace"),
    ("DOCKER_IMAGE_NAME", "repository names must be lowercase"),
    ("mesosphere:marathon/latest", "'mesosphere:marathon' is not a registry host[:port]"),
    ("docker:///dockeruser/oracle-java7:latest", "is not a registry host"),
    ("busybox:-bad", "the tag '-bad'"),
    ("busybox:" + "t" * 129, "the tag"),
    ("busybox@sha256:abc", "a sha256 digest is exactly 64 lowercase hex digits"),
    ("busybox@" + "ab" * 32, "the digest must be ALGORITHM:HEX"),
    ("busybox@sha256:" + "AB" * 32, "a sha256 digest is exactly 64 lowercase hex digits"),
    ("team//app", "a repository name is lowercase letters and digits"),
    ("team/app-", "a repository name is lowercase letters and digits"),
    ("reg:5000/" + "a" * 250, "longer than 255 characters"),
    (":tag", "no repository name"),
])
def test_impossible_references_say_why(text: str, why: str) -> None:
    problem = image_ref_problem(text)
    assert problem is not None and why in problem
    with pytest.raises(ValueError, match="."):
        parse_image_ref(text)


def test_a_content_id_is_valid_but_cannot_be_pulled() -> None:
    image_id = "sha256:" + "0f" * 32
    assert is_image_id(image_id) and image_ref_problem(image_id) is None
    with pytest.raises(ValueError, match="content id"):
        parse_image_ref(image_id)


def _app(docker: dict[str, Any]) -> dict[str, Any]:
    return {"id": "/web", "cmd": "sleep 1", "container": {"type": "DOCKER", "docker": docker}}


def test_a_bad_reference_is_a_field_error() -> None:
    with pytest.raises(AppValidationError) as err:
        parse_app(_app({"image": "Mesosphere/Inky:latest"}))
    assert [(e.path, e.message) for e in err.value.errors] == [
        ("/container/docker/image",
         "invalid image reference 'Mesosphere/Inky:latest': repository names must be lowercase")]
    assert parse_app(_app({"image": f"127.0.0.1:5000/app@{DIGEST}"})).image == f"127.0.0.1:5000/app@{DIGEST}"


@pytest.mark.parametrize("container_type", ["DOCKER", "MESOS"])
def test_pull_config_is_refused_until_pacer_has_secrets(container_type: str) -> None:
    body = {"id": "/web", "cmd": "sleep 1", "secrets": {"reg": {"source": "registry/creds"}},
            "container": {"type": container_type, "docker": {"image": "busybox", "pullConfig": {"secret": "reg"}}}}
    with pytest.raises(AppValidationError) as err:
        parse_app(body)
    (error,) = [e for e in err.value.errors if e.path == "/container/docker/pullConfig"]
    assert "no secret store" in error.message and "registries" in error.message


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/marathon-corpus is not next to this checkout")
def test_the_marathon_corpus_images_that_docker_could_pull_are_valid() -> None:
    """Every docker image named in the public corpus parses, except the two that docker itself refuses."""
    refused = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            image = (node.get("docker") or {}).get("image") if isinstance(node.get("docker"), dict) else None
            if isinstance(image, str) and (problem := image_ref_problem(image)) is not None:
                refused[image] = problem
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(CORPUS.glob("*.json")):
        walk(json.loads(path.read_text()))
    assert sorted(refused) == ["DOCKER_IMAGE_NAME", "mesosphere:marathon/latest"]
