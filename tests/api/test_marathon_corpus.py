"""The public Marathon corpus (../shared/marathon-corpus), submitted as a Marathon user moving over would.

Every file goes to the API on sim agents under its own id prefix (groups through /v2/groups, apps through
/v2/apps; a file holding a list of apps is submitted app by app). The outcome of each (accepted, or refused
with the field paths of its 422) is printed as a table and compared with EXPECTED, so that a regression in
either direction (a field newly accepted that pacer does not honour, or a valid app newly refused) fails.
No submission may answer 5xx.

Only acceptance is checked here: running the accepted apps on a real dockerd and checking each field in
`docker inspect` is the job of the agent-side tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "marathon-corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/marathon-corpus")

ACCEPTED = "accepted"

# file (#n for the n-th app of a list) -> "accepted" or the sorted field paths of the 422, relative to the
# submitted body (the id prefix does not show in paths).
EXPECTED: dict[str, Any] = {
    "01-https-readiness-checks.json": ACCEPTED,
    "02-docker-http-server.json": ACCEPTED,
    "03-docker-nginx-ssl.json": ACCEPTED,
    "04-external-volume-mesos.json": ["/container/volumes/0/external"],
    "05-fake-framework.json": ACCEPTED,
    "06-healthcheck-and-volume.json": ["/container/volumes/0/persistent", "/ipAddress/networkName"],
    "07-http-server.json": ACCEPTED,
    "08-ipv6-healthcheck.json": ["/healthChecks/0/ipProtocol", "/networks/0/name"],
    "09-large-sleep.json": ACCEPTED,
    "10-mesos-app.json": ACCEPTED,
    "11-persistent-volume-app.json": ["/container/volumes/0/persistent"],
    "12-pinger-bridge.json": ["/container/docker/requirePorts", "/fetch"],
    "13-pinger-container.json": ["/fetch", "/ipAddress/discovery/ports", "/ipAddress/networkName"],
    "14-pinger-localhost.json": ["/fetch"],
    "15-private-docker.json": ["/fetch"],
    "16-private-ucr-docker.json": ["/container/docker/forcePull", "/container/docker/pullConfig", "/secrets"],
    "17-readiness-and-health.json": ACCEPTED,
    "18-resident-docker.json": ["/container/volumes/0/persistent", "/ipAddress/networkName", "/residency"],
    "19-sleep-app.json": ACCEPTED,
    "20-ucr-docker-http-server.json": ACCEPTED,
    "21-sleep-group.json": ACCEPTED,
    "22-api-example-app-full.json": ["/", "/container/docker/image", "/container/docker/parameters/0/key", "/env/PASSWORD", "/fetch", "/ipAddress/discovery/ports", "/ipAddress/groups", "/ipAddress/labels", "/secrets", "/tty"],
    "23-api-example-check-http.json": ["/check"],
    "24-api-example-group.json": ACCEPTED,
    "25-api-example-apps-list.json#0": ACCEPTED,
    "25-api-example-apps-list.json#1": ACCEPTED,
    "26-articles-app-simple.json": ACCEPTED,
    "27-basics-cmd.json": ACCEPTED,
    "28-basics-fetch.json": ["/fetch"],
    "29-basics-docker-python.json": ACCEPTED,
    "30-constraint-cluster-value.json": ACCEPTED,
    "31-constraint-hostname-cluster.json": ACCEPTED,
    "32-constraint-like.json": ACCEPTED,
    "33-constraint-unlike.json": ACCEPTED,
    "34-constraint-max-per.json": ACCEPTED,
    "35-constraint-unique.json": ACCEPTED,
    "36-constraint-group-by.json": ACCEPTED,
    "37-constraint-is.json": ACCEPTED,
    "38-healthchecks-kill-grace.json": ACCEPTED,
    "39-multirole-role.json": ACCEPTED,
    "40-private-registry-secret.json": ["/container/docker/pullConfig", "/secrets"],
    "41-private-registry-fetch.json": ["/fetch"],
    "42-native-docker-bridged-webapp.json": ACCEPTED,
    "43-native-docker-inky.json": ACCEPTED,
    "44-native-docker-privileged.json": ["/container/docker/parameters/1/key", "/container/docker/parameters/2/key"],
    "45-persistent-postgres.json": ["/container/volumes/0/persistent"],
    "46-persistent-mysql.json": ["/container/volumes/0/persistent"],
    "47-recipes-simple-docker.json": ACCEPTED,
    "48-recipes-docker-entrypoint.json": ACCEPTED,
    "49-recipes-toggle.json": ["/fetch"],
    "50-seccomp-profile.json": ["/container/linuxInfo"],
    "51-seccomp-unconfined.json": ["/container/linuxInfo"],
    "52-secrets-env.json": ["/env/DATABASE_PW", "/secrets"],
    "53-secrets-file.json": ["/container/docker", "/container/volumes/0/secret", "/secrets"],
    "54-mlb-docker-bridge.json": ACCEPTED,
    "55-mlb-docker-host.json": ACCEPTED,
    "56-mlb-docker-ippc.json": ["/ipAddress/networkName"],
    "57-mlb-ucr-bridge.json": ACCEPTED,
    "58-mlb-ucr-host.json": ACCEPTED,
    "59-mlb-ucr-ippc.json": ["/networks/0/name"],
    "60-mlb-1.9-docker-ippc.json": ["/container/docker/network", "/container/docker/portMappings", "/ipAddress", "/ipAddress/networkName"],
    "61-mlb-nginx.json": ACCEPTED,
    "62-mlb-nginx-marathon15.json": ACCEPTED,
    "63-eremetic.json": ACCEPTED,
    "64-polyglot-api.json": ACCEPTED,
    "65-go-fluentd.json": ["/container/docker/image"],
    "66-arangodb-restore.json": ACCEPTED,
    "67-ge-cassandra.json": ACCEPTED,
    "68-capgemini-mesos-ui.json": ACCEPTED,
    "69-grafana-dcos.json": ACCEPTED,
    "70-insee-odil.json": ACCEPTED,
    "71-dynamic-ports-strings.json": ["/cpus", "/instances", "/mem"],
    "72-finch-legacy-container.json": ["/container/docker", "/container/image", "/container/options", "/uris"],
    "73-kafka-host-volume.json": ACCEPTED,
    "74-router-fixed-hostports.json": ACCEPTED,
    "75-bind-dns-nulls.json": ACCEPTED,
    "76-simple-webserver-uris.json": ["/uris"],
    "77-fibonacci-host.json": ACCEPTED,
    "78-sa-dcos-nginx.json": ACCEPTED,
    "79-spark-demo-hdfs-group.json": ACCEPTED,
}


def _prefixed(value: str, prefix: str) -> str:
    return prefix + value if value.startswith("/") else value


def _prefix_app(app: dict[str, Any], prefix: str, *, top: bool) -> dict[str, Any]:
    app = dict(app)
    app_id = app.get("id")
    if isinstance(app_id, str):
        app["id"] = prefix + app_id if app_id.startswith("/") else (f"{prefix}/{app_id}" if top else app_id)
    if isinstance(app.get("dependencies"), list):
        app["dependencies"] = [_prefixed(d, prefix) if isinstance(d, str) else d for d in app["dependencies"]]
    return app


def _prefix_group(group: dict[str, Any], prefix: str) -> dict[str, Any]:
    group = dict(group)
    gid = group.get("id")
    if isinstance(gid, str):
        group["id"] = prefix if gid == "/" else _prefixed(gid, prefix)
    if isinstance(group.get("dependencies"), list):
        group["dependencies"] = [_prefixed(d, prefix) if isinstance(d, str) else d for d in group["dependencies"]]
    group["apps"] = [_prefix_app(a, prefix, top=False) if isinstance(a, dict) else a for a in group.get("apps", [])]
    group["groups"] = [_prefix_group(g, prefix) if isinstance(g, dict) else g for g in group.get("groups", [])]
    return group


def _is_group(body: Any) -> bool:
    return isinstance(body, dict) and ("groups" in body or "apps" in body) and not (
        {"cmd", "args", "container"} & set(body))


def submissions() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, id prefix, API path, prefixed body) for every file of the corpus."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    for path in sorted(CORPUS.glob("*.json")):
        body = json.loads(path.read_text())
        prefix = "/c" + path.name.split("-", 1)[0]
        if isinstance(body, list):
            for i, app in enumerate(body):
                out.append((f"{path.name}#{i}", f"{prefix}-{i}", "/v2/apps", _prefix_app(app, f"{prefix}-{i}", top=True)))
        elif _is_group(body):
            out.append((path.name, prefix, "/v2/groups", _prefix_group(body, prefix)))
        else:
            out.append((path.name, prefix, "/v2/apps", _prefix_app(body, prefix, top=True)))
    return out


def _outcome(response: httpx.Response) -> Any:
    if response.status_code in (200, 201):
        return ACCEPTED
    assert response.status_code == 422, f"{response.status_code}: {response.text}"
    details = response.json().get("details", [])
    return sorted({d["path"] for d in details})


async def test_every_corpus_file_is_accepted_or_refused_as_expected(client: httpx.AsyncClient) -> None:
    cases = submissions()
    assert len(cases) >= 79
    outcomes: dict[str, Any] = {}
    messages: dict[str, list[str]] = {}
    for name, prefix, api, body in cases:
        response = await client.post(api, json=body, params={"force": "true"})
        assert response.status_code < 500, f"{name}: {response.status_code} {response.text}"
        outcomes[name] = _outcome(response)
        if outcomes[name] == ACCEPTED:  # each file alone in the cluster: no service port taken by another file
            removed = await client.delete(f"/v2/groups{prefix}", params={"force": "true"})
            assert removed.status_code == 200, f"{name}: {removed.status_code} {removed.text}"
        if outcomes[name] != ACCEPTED:
            messages[name] = [f"{d['path']}: {'; '.join(d.get('errors', []))}" for d in response.json()["details"]]
    accepted = sum(1 for o in outcomes.values() if o == ACCEPTED)
    print(f"\nMarathon corpus: {accepted} accepted, {len(outcomes) - accepted} refused")
    for name, outcome in outcomes.items():
        print(f"{name:42} {'accepted' if outcome == ACCEPTED else 'REFUSED'}")
        for line in messages.get(name, []):
            print(f"{'':44}{line}")
    if os.environ.get("CORPUS_DUMP"):  # CORPUS_DUMP=file writes the outcomes, to update EXPECTED after a change
        Path(os.environ["CORPUS_DUMP"]).write_text(json.dumps(outcomes))
    assert outcomes == EXPECTED


_SERVER_SET = {"id", "version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
               "deployments", "tasks", "lastTaskFailure", "taskStats", "readinessCheckResults"}


async def test_an_export_posts_back_unchanged_and_an_update_still_refuses_version(client: httpx.AsyncClient) -> None:
    body = {
        "id": "/export/web", "cmd": "httpd -f -p $PORT0", "cpus": 0.1, "mem": 32, "instances": 1,
        "container": {"type": "DOCKER", "docker": {"image": "busybox:latest", "privileged": False}},
        "portDefinitions": [{"port": 0, "name": "http", "protocol": "tcp"}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30}],
        "labels": {"team": "web"}, "env": {"A": "1"}, "constraints": [["hostname", "UNIQUE"]],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
    }
    assert (await client.post("/v2/apps", json=body)).status_code == 201
    exported = (await client.get("/v2/apps/export/web")).json()["app"]
    assert "version" in exported and "versionInfo" in exported

    # as when moving an app from one cluster to another: the original is gone, its export is POSTed back
    assert (await client.delete("/v2/apps/export/web", params={"force": "true"})).status_code == 200
    again = dict(exported, id="/export/web2")
    created = await client.post("/v2/apps", json=again)
    assert created.status_code == 201, created.text
    copy = (await client.get("/v2/apps/export/web2")).json()["app"]
    assert {k: v for k, v in copy.items() if k not in _SERVER_SET} == {
        k: v for k, v in exported.items() if k not in _SERVER_SET}

    # Marathon's rule, on updates only: version may only come with id (a rollback).
    updated = await client.put("/v2/apps/export/web2", json=dict(copy, instances=2), params={"partialUpdate": "false"})
    assert updated.status_code == 422, updated.text
    assert [d["path"] for d in updated.json()["details"]] == ["/version"]


async def test_host_apps_with_required_ports_may_declare_the_same_port(client: httpx.AsyncClient) -> None:
    """Marathon checks service-port conflicts among container portMappings; two host-network apps that require
    the same port are a valid group (their tasks cannot share an agent). Two bridge apps still may not."""
    def host(app_id: str) -> dict[str, Any]:
        return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "requirePorts": True,
                "portDefinitions": [{"port": 31080}]}

    ok = await client.post("/v2/groups", json={"id": "/lb", "apps": [host("/lb/a"), host("/lb/b")]})
    assert ok.status_code == 201, ok.text

    def bridge(app_id: str) -> dict[str, Any]:
        return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "networks": [{"mode": "container/bridge"}],
                "container": {"docker": {"image": "busybox:latest"},
                              "portMappings": [{"containerPort": 80, "servicePort": 11080}]}}

    clash = await client.post("/v2/groups", json={"id": "/br", "apps": [bridge("/br/a"), bridge("/br/b")]})
    assert clash.status_code == 422
    assert [d["path"] for d in clash.json()["details"]] == ["/apps/1/container/portMappings/0/servicePort"]


async def test_mistyped_keys_and_enforce_role_are_refused_in_groups_and_apps(client: httpx.AsyncClient) -> None:
    body = {"id": "/typo", "dependecies": [], "enforceRole": True, "apps": [
        {"id": "/typo/web", "cmd": "sleep 1000", "requirePorts": True, "portDefinitions": [{"port": 0}],
         "container": {"docker": {"image": "busybox:latest", "forcePull": True}}}]}
    r = await client.post("/v2/groups", json=body)
    assert r.status_code == 422
    assert {d["path"]: d["errors"] for d in r.json()["details"]} == {
        "/dependecies": ["is not a field of a group (did you mean 'dependencies'?)"],
        "/enforceRole": ["is not supported: give each app its role"],
        "/apps/0/container/docker/forcePull": ["unknown field (did you mean 'forcePullImage'?)"],
    }
