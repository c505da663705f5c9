"""The OpenAPI 3.0 description of the API, served at /openapi.json.

Written by hand from Marathon's RAML and reference §2: paths, query
parameters, bodies, statuses and the JSON shapes that come back. App ids
contain ``/``; the ``appId`` parameters may hold them (percent-encoded or
not, the server reads both).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": "string"}}


def _bool(name: str, description: str, default: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "boolean", "default": default}}


_APP_ID = {"name": "appId", "in": "path", "required": True, "description": "app id, such as shop/web",
           "schema": {"type": "string", "minLength": 1}}
_TASK_ID = {"name": "taskId", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
_FORCE = _bool("force", "override the lock of a running deployment")
_EMBED = {"name": "embed", "in": "query", "required": False, "style": "form", "explode": True,
          "description": "app.tasks, app.counts, app.deployments, app.readiness, app.lastTaskFailure, app.failures, "
                         "app.taskStats",
          "schema": {"type": "array", "items": {"type": "string", "enum": [
              "app.tasks", "app.counts", "app.deployments", "app.readiness", "app.lastTaskFailure", "app.failures",
              "app.taskStats", "apps.tasks", "tasks"]}}}

_DR = {"200": _json(_ref("DeploymentResult"), "the deployment that makes the change")}
_COMMON_ERRORS = {"400": _error("malformed JSON"), "401": _error("missing or wrong token"),
                  "403": _error("a request a browser could forge: another Origin, or a cross-site fetch"),
                  "413": _error("request body over the limit (refused while it streams)"),
                  "415": _error("a write whose body is not application/json")}


def _op(summary: str, responses: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str = "apps") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {**responses, "401": _COMMON_ERRORS["401"]}}
    if params:
        op["parameters"] = params
    op["responses"]["403"] = _COMMON_ERRORS["403"]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"].update({code: _COMMON_ERRORS[code] for code in ("413", "415")})
    return op


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object with these properties only (pacer refuses unknown fields, naming them)."""
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _schemas() -> dict[str, Any]:
    name = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 20}
    label_map = {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 4}
    port = {"type": "integer", "minimum": 0, "maximum": 65535}
    protocol = {"type": "string", "enum": ["tcp", "udp", "udp,tcp"]}
    port_mapping = _closed({"containerPort": port, "hostPort": port, "servicePort": port, "protocol": protocol,
                            "name": name, "labels": label_map})
    health_check = _closed({
        "protocol": {"type": "string", "enum": ["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS",
                                                "MESOS_TCP"]},
        "path": {"type": "string"}, "portIndex": {"type": "integer", "minimum": 0, "maximum": 3},
        "command": _closed({"value": {"type": "string", "minLength": 1}}, ["value"]),
        "gracePeriodSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "intervalSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
        "maxConsecutiveFailures": {"type": "integer", "minimum": 0, "maximum": 100},
        "ignoreHttp1xx": {"type": "boolean"}})
    app_id = {"type": "string", "pattern": "^/?[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?(/[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?){0,2}$"}
    app = {
        "type": "object",
        "description": "A Marathon app definition (types/app.raml). pacer refuses unknown fields; its own settings "
                       "travel as labels pacer.*. Give cmd, args or a container.",
        "required": ["id"],
        "anyOf": [{"required": ["cmd"]}, {"required": ["args"]}, {"required": ["container"]}],
        "additionalProperties": False,
        "properties": {
            "id": app_id,
            "cmd": {"type": "string", "minLength": 2},
            "args": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "cpus": {"type": "number", "minimum": 0.001, "maximum": 64},
            "mem": {"type": "number", "minimum": 0, "maximum": 1048576},
            "disk": {"type": "number", "minimum": 0},
            "gpus": {"type": "integer", "minimum": 0, "maximum": 0},
            "instances": {"type": "integer", "minimum": 0, "maximum": 50},
            "container": _closed({
                "type": {"type": "string", "enum": ["DOCKER"]},
                "docker": _closed({
                    "image": {"type": "string", "pattern": "^[a-z0-9]+(:[a-z0-9.]+)?$"},
                    "network": {"type": "string", "enum": ["BRIDGE", "HOST"]},
                    "portMappings": {"type": "array", "items": port_mapping, "maxItems": 2},
                    "privileged": {"type": "boolean", "enum": [False]},
                    "forcePullImage": {"type": "boolean"}}, ["image"])}, ["docker"]),
            "requirePorts": {"type": "boolean"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 4},
            "labels": label_map,
            "constraints": {"type": "array", "maxItems": 2, "items": {
                "type": "array", "minItems": 2, "maxItems": 3,
                "items": {"type": "string", "enum": ["hostname", "rack", "UNIQUE", "CLUSTER", "MAX_PER", "LIKE",
                                                     "2", "r1", "s.*"]}}},
            "healthChecks": {"type": "array", "items": health_check, "maxItems": 2},
            "upgradeStrategy": _closed({
                "minimumHealthCapacity": {"type": "number", "minimum": 0, "maximum": 1},
                "maximumOverCapacity": {"type": "number", "minimum": 0, "maximum": 1}}),
            "backoffSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
            "backoffFactor": {"type": "number", "minimum": 1, "maximum": 10},
            "maxLaunchDelaySeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
            "killSelection": {"type": "string", "enum": ["YOUNGEST_FIRST", "OLDEST_FIRST"]},
            "unreachableStrategy": {"oneOf": [
                {"type": "string", "enum": ["disabled"]},
                _closed({"inactiveAfterSeconds": {"type": "integer", "minimum": 0, "maximum": 100},
                         "expungeAfterSeconds": {"type": "integer", "minimum": 100, "maximum": 1000}})]},
            "taskKillGracePeriodSeconds": {"type": "integer", "minimum": 0, "maximum": 600},
            "user": {"type": "string"},
        },
    }
    rollback = _closed({"id": app_id, "version": {"type": "string", "description": "a stored version"}},
                       ["version"])
    task = {"type": "object", "required": ["id", "appId", "host", "state"], "properties": {
        "id": {"type": "string"}, "appId": {"type": "string"}, "host": {"type": "string"},
        "slaveId": {"type": "string"}, "state": {"type": "string"},
        "stagedAt": {"type": "string"}, "startedAt": {"type": "string"}, "version": {"type": "string"},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "servicePorts": {"type": "array", "items": {"type": "integer"}},
        "ipAddresses": {"type": "array", "items": {"type": "object"}},
        "localVolumes": {"type": "array"},
        "healthCheckResults": {"type": "array", "items": {"type": "object"}}}}
    app_info = {"allOf": [app, {"type": "object", "required": ["id", "tasksStaged", "tasksRunning", "tasksHealthy",
                                                              "tasksUnhealthy", "deployments"], "properties": {
        "tasksStaged": {"type": "integer"}, "tasksRunning": {"type": "integer"},
        "tasksHealthy": {"type": "integer"}, "tasksUnhealthy": {"type": "integer"},
        "deployments": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "tasks": {"type": "array", "items": _ref("Task")},
        "lastTaskFailure": {"type": "object"}, "versionInfo": {"type": "object"}}}]}
    action = {"type": "object", "properties": {"action": {"type": "string"}, "app": {"type": "string"}}}
    deployment = {"type": "object", "required": ["id", "version", "affectedApps", "steps", "currentStep", "totalSteps"],
                  "properties": {
                      "id": {"type": "string"}, "version": {"type": "string"},
                      "affectedApps": {"type": "array", "items": {"type": "string"}},
                      "affectedPods": {"type": "array", "items": {"type": "string"}},
                      "steps": {"type": "array", "items": {"type": "object", "properties": {
                          "actions": {"type": "array", "items": action}}}},
                      "currentActions": {"type": "array", "items": action},
                      "currentStep": {"type": "integer"}, "totalSteps": {"type": "integer"}}}
    return {
        "App": app,
        "Rollback": rollback,
        "Group": {"type": "object", "required": ["id", "apps", "groups"], "properties": {
            "id": {"type": "string"}, "apps": {"type": "array", "items": {"type": "object"}},
            "groups": {"type": "array", "items": {"type": "object"}}, "pods": {"type": "array"},
            "dependencies": {"type": "array"}, "version": {"type": "string", "nullable": True}}},
        "AppInfo": app_info,
        "Task": task,
        "Deployment": deployment,
        "DeploymentResult": {"type": "object", "required": ["deploymentId", "version"], "properties": {
            "deploymentId": {"type": "string"}, "version": {"type": "string"}}},
        "Error": {"type": "object", "required": ["message"], "properties": {
            "message": {"type": "string"},
            "details": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"}, "errors": {"type": "array", "items": {"type": "string"}}}}}]},
            "deployments": {"type": "array", "items": {"type": "object"}}}},
        "QueueItem": {"type": "object", "required": ["count", "delay", "app"], "properties": {
            "count": {"type": "integer"}, "since": {"type": "string"},
            "delay": {"type": "object", "properties": {"timeLeftSeconds": {"type": "integer"},
                                                       "overdue": {"type": "boolean"}}},
            "processedOffersSummary": {"type": "object"}, "lastUnusedOffers": {"type": "array"},
            "app": {"type": "object"}}},
        "Info": {"type": "object", "required": ["name", "version", "leader", "marathon_config", "zookeeper_config",
                                                "http_config"]},
        "Metrics": {"type": "object", "required": ["version", "gauges", "counters", "histograms", "meters", "timers"]},
        "HealthPart": {"type": "object", "required": ["name", "status", "reason", "since", "failures"], "properties": {
            "name": {"type": "string", "description": "loop, store, executor, health monitor, autoscaler, "
                                                      "agent watchers, agents; or an agent's name"},
            "status": {"type": "string", "enum": ["ok", "degraded", "reachable", "unreachable"]},
            "reason": {"type": "string", "nullable": True,
                       "description": "why it is not fine, such as 'state storage is full: 12 kB free on /var/lib/pacer "
                                      "(database or disk is full)'"},
            "since": {"type": "string", "format": "date-time", "nullable": True},
            "failures": {"type": "integer", "minimum": 0, "description": "failures since it was last fine"}}},
        "Health": {"type": "object", "required": ["status", "problems", "checkedAt", "parts", "agents"], "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded"]},
            "problems": {"type": "array", "items": {"type": "string"}, "description": "'part: reason' per degraded part"},
            "checkedAt": {"type": "string", "format": "date-time"},
            "parts": {"type": "array", "items": _ref("HealthPart")},
            "agents": {"type": "array", "items": _ref("HealthPart")}}},
        "Signature": {"type": "object", "required": ["image", "imageId", "keyId", "publicKey", "signature"],
                      "properties": {"image": {"type": "string"}, "imageId": {"type": "string"},
                                     "keyId": {"type": "string"}, "publicKey": {"type": "string"},
                                     "signature": {"type": "string"}, "signedAt": {"type": "number"}}},
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    apps_list = {"type": "object", "required": ["apps"], "properties": {"apps": {"type": "array",
                                                                                  "items": _ref("AppInfo")}}}
    tasks_list = {"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array",
                                                                                     "items": _ref("Task")}}}
    group_id = {"name": "groupId", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
    group_update = {"type": "object", "properties": {
        "id": {"type": "string"}, "apps": {"type": "array", "items": {"type": "object"}},
        "groups": {"type": "array", "items": {"type": "object"}}, "dependencies": {"type": "array"},
        "scaleBy": {"type": "number", "exclusiveMinimum": True, "minimum": 0}, "version": {"type": "string"}}}

    def group_writes(with_id: bool) -> dict[str, Any]:
        params = [group_id] if with_id else []
        return {
            "post": _op("create a group and its apps, as one deployment", {
                "201": _json(_ref("DeploymentResult"), "deployment"), "409": _error("the group exists, or locked"),
                "422": _error("bad fields, each at its path")}, params=[*params, _FORCE], body=group_update,
                tag="groups"),
            "put": _op("replace the group's apps (created when missing), or scale them all with scaleBy", {
                "200": _json({"oneOf": [_ref("DeploymentResult"), {"type": "object", "required": ["steps"]}]},
                             "deployment, or the steps with dryRun"),
                "404": _error("scaleBy on no such group"), "409": _error("locked"),
                "422": _error("bad fields, each at its path")},
                params=[*params, _FORCE, _bool("dryRun", "only show the steps")], body=group_update, tag="groups"),
            "delete": _op("remove every app of the group, as one deployment", {
                "200": _json(_ref("DeploymentResult"), "deployment"), "404": _error("no such group"),
                "409": _error("locked")}, params=[*params, _FORCE], tag="groups"),
        }

    signatures = {"type": "object", "required": ["signatures"], "properties": {"signatures": {
        "type": "array", "items": _ref("Signature")}}}
    kill_params = [_bool("scale", "lower instances by the number killed"),
                   _bool("wipe", "forget the tasks (resident apps)"), _FORCE]
    paths: dict[str, Any] = {
        "/ping": {"get": _op("liveness", {"200": {"description": "pong", "content": {
            "text/plain": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "string"}}}}},
                             tag="misc")},
        "/v2/info": {"get": _op("about this server", {"200": {**_json(_ref("Info"), "info"), "headers": {
            "X-Pacer-Health": {"description": "ready or degraded (details: /pacer/v1/health)",
                               "schema": {"type": "string", "enum": ["ready", "degraded"]}},
            "X-Pacer-Health-Reason": {"description": "when degraded: 'part: reason' per degraded part, '; ' between",
                                      "schema": {"type": "string"}}}}}, tag="misc")},
        "/v2/leader": {"get": _op("the leader", {"200": _json({"type": "object", "properties": {
            "leader": {"type": "string"}}}, "leader")}, tag="misc")},
        "/metrics": {"get": _op("metrics, Marathon's JSON shape", {"200": _json(_ref("Metrics"), "metrics")},
                                tag="misc")},
        "/metrics/prometheus": {"get": _op("metrics, Prometheus text format", {"200": {
            "description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}, tag="misc")},
        "/v2/apps": {
            "get": _op("list apps", {"200": _json(apps_list, "apps")}, params=[
                {"name": "cmd", "in": "query", "schema": {"type": "string"}},
                {"name": "id", "in": "query", "schema": {"type": "string"}},
                {"name": "label", "in": "query", "schema": {"type": "string"}}, _EMBED]),
            "post": _op("create an app", {
                "201": _json(_ref("AppInfo"), "created"), "400": _error("malformed JSON"),
                "409": _error("exists or locked"), "422": _error("invalid app")}, params=[_FORCE], body=_ref("App")),
            "put": _op("create or update apps", {**_DR, "400": _error("malformed JSON"), "409": _error("locked"),
                                                 "422": _error("invalid app")},
                       params=[_FORCE, _bool("partialUpdate", "merge over the current apps", True)],
                       body={"type": "array", "items": _ref("App")}),
            "patch": _op("update apps", {**_DR, "400": _error("malformed JSON"), "409": _error("locked"),
                                         "422": _error("invalid app")},
                         params=[_FORCE], body={"type": "array", "items": _ref("App")}),
        },
        "/v2/apps/{appId}": {
            "get": _op("one app", {"200": _json({"type": "object", "required": ["app"], "properties": {
                "app": _ref("AppInfo")}}, "the app"), "404": _error("no such app")}, params=[_APP_ID, _EMBED]),
            "put": _op("create or update an app (or roll back with only `version`)", {
                **_DR, "201": _json(_ref("DeploymentResult"), "created"), "400": _error("malformed JSON"),
                "404": _error("no such version"), "409": _error("locked"), "422": _error("invalid app")},
                params=[_APP_ID, _FORCE, _bool("partialUpdate", "merge over the current app", True)],
                body={"oneOf": [_ref("App"), _ref("Rollback")]}),
            "patch": _op("update an app", {**_DR, "400": _error("malformed JSON"), "404": _error("no such app"),
                                           "409": _error("locked"), "422": _error("invalid app")},
                         params=[_APP_ID, _FORCE], body=_ref("App")),
            "delete": _op("delete an app", {**_DR, "404": _error("no such app"), "409": _error("locked")},
                          params=[_APP_ID, _bool("force", "override the lock of a running deployment", True)]),
        },
        "/v2/apps/{appId}/restart": {"post": _op("restart every task, rolling", {
            **_DR, "404": _error("no such app"), "409": _error("locked")}, params=[_APP_ID, _FORCE])},
        "/v2/apps/{appId}/tasks": {
            "get": _op("tasks of an app", {"200": _json(tasks_list, "tasks"), "404": _error("no such app")},
                       params=[_APP_ID], tag="tasks"),
            "delete": _op("kill tasks of an app", {
                "200": _json({"oneOf": [tasks_list, _ref("DeploymentResult")]}, "killed tasks, or the deployment"),
                "400": _error("scale and wipe"), "404": _error("no such app"), "409": _error("locked")},
                params=[_APP_ID, {"name": "host", "in": "query", "schema": {"type": "string"}}, *kill_params],
                tag="tasks"),
        },
        "/v2/apps/{appId}/tasks/{taskId}": {"delete": _op("kill one task", {
            "200": _json({"type": "object"}, "the killed task, or the deployment"), "400": _error("scale and wipe"),
            "404": _error("no such app or task"), "409": _error("locked")},
            params=[_APP_ID, _TASK_ID, *kill_params], tag="tasks")},
        "/v2/apps/{appId}/versions": {"get": _op("stored versions, newest first", {
            "200": _json({"type": "object", "required": ["versions"], "properties": {
                "versions": {"type": "array", "items": {"type": "string"}}}}, "versions"),
            "404": _error("no such app")}, params=[_APP_ID])},
        "/v2/apps/{appId}/versions/{version}": {"get": _op("one stored version", {
            "200": _json(_ref("App"), "the app as it was"), "404": _error("no such app or version")},
            params=[_APP_ID, {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/v2/groups": {"get": _op("the root group (groups follow from path ids)", {
            "200": _json(_ref("Group"), "root group")}, tag="groups"), **group_writes(False)},
        "/v2/groups/{groupId}": {"get": _op("one group", {
            "200": _json(_ref("Group"), "group"), "404": _error("no such group")},
            params=[group_id], tag="groups"), **group_writes(True)},
        "/v2/tasks": {"get": _op("every task", {"200": _json(tasks_list, "tasks")}, params=[
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["running", "staging"]}}],
            tag="tasks")},
        "/v2/tasks/delete": {"post": _op("kill tasks by id", {
            "200": _json({"oneOf": [tasks_list, _ref("DeploymentResult")]}, "killed tasks, or the deployment"),
            "400": _error("bad task id, scale and wipe, or malformed JSON"), "409": _error("locked"),
            "422": _error("bad body")}, params=kill_params, tag="tasks",
            body={"type": "object", "required": ["ids"], "properties": {"ids": {"type": "array",
                                                                               "items": {"type": "string"}}}})},
        "/v2/deployments": {"get": _op("running deployments", {"200": _json(
            {"type": "array", "items": _ref("Deployment")}, "deployments")}, tag="deployments")},
        "/v2/deployments/{deploymentId}": {"delete": _op(
            "cancel a deployment: roll back (a new deployment), or with force stop where it is", {
                **_DR, "202": {"description": "stopped without rollback"}, "404": _error("no such deployment")},
            params=[{"name": "deploymentId", "in": "path", "required": True, "schema": {"type": "string"}},
                    _bool("force", "stop without rollback")], tag="deployments")},
        "/v2/queue": {"get": _op("apps waiting to launch tasks", {"200": _json({
            "type": "object", "required": ["queue"], "properties": {"queue": {"type": "array",
                                                                            "items": _ref("QueueItem")}}}, "queue")},
            params=[{"name": "embed", "in": "query", "schema": {"type": "string", "enum": ["lastUnusedOffers"]}}],
            tag="queue")},
        "/v2/queue/{appId}/delay": {"delete": _op("reset the launch backoff", {
            "204": {"description": "reset"}, "404": _error("not in the queue")}, params=[_APP_ID], tag="queue")},
        "/v2/events": {"get": _op("server-sent events (Accept: text/event-stream)", {
            "200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "405": _error("no Accept: text/event-stream")},
            params=[{"name": "event_type", "in": "query", "style": "form", "explode": True,
                     "schema": {"type": "array", "items": {"type": "string"}}}], tag="events")},
        "/pacer/v1/apps/{appId}/explain": {"get": _op("why an app waits, per agent (pacer)", {
            "200": _json({"type": "object", "required": ["appId", "agents"]}, "explanation"),
            "404": _error("no such app")}, params=[_APP_ID], tag="pacer")},
        "/pacer/v1/apps/{appId}/autoscale": {"get": _op("an app's autoscaling policy, last measurement and "
                                                        "decisions (pacer)", {
            "200": _json({"type": "object", "required": ["appId", "policy"]}, "autoscaling status"),
            "404": _error("no such app")}, params=[_APP_ID], tag="pacer")},
        "/pacer/v1/apps/{appId}/logs": {"get": _op("output of an app's tasks, text (pacer)", {
            "200": {"description": "lines", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "404": _error("no such app")}, params=[_APP_ID, _bool("follow", "stream new lines"),
                                                   {"name": "tail", "in": "query",
                                                    "schema": {"type": "integer", "minimum": 0}}], tag="pacer")},
        "/pacer/v1/tasks/{taskId}/logs": {"get": _op("output of one task, text (pacer)", {
            "200": {"description": "lines", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "404": _error("no such task")}, params=[_TASK_ID, _bool("follow", "stream new lines"),
                                                    {"name": "tail", "in": "query",
                                                     "schema": {"type": "integer", "minimum": 0}}], tag="pacer")},
        "/pacer/v1/deployments": {"get": _op("deployments with status and reason (pacer)", {
            "200": _json({"type": "array", "items": {"type": "object"}}, "deployments")}, tag="pacer")},
        "/pacer/v1/agents": {"get": _op("agents (pacer)", {"200": _json({"type": "object", "required": ["agents"]},
                                                                          "agents")}, tag="pacer")},
        "/pacer/v1/pulls": {"get": _op("image pulls under way on the agents, with progress (pacer)", {
            "200": _json({"type": "object", "required": ["pulls"], "properties": {"pulls": {"type": "array", "items": {
                "type": "object", "required": ["agent", "image", "status", "message", "taskIds"], "properties": {
                    "agent": {"type": "string"}, "image": {"type": "string"},
                    "status": {"type": "string", "enum": ["queued", "pulling", "done", "failed"]},
                    "downloadedBytes": {"type": "integer"}, "totalBytes": {"type": "integer"},
                    "percent": {"type": "integer", "nullable": True}, "layers": {"type": "integer"},
                    "layersDone": {"type": "integer"}, "startedAt": {"type": "string"},
                    "taskIds": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"}}}}}}, "pulls")},
            params=[_query("app", "only the pulls this app's tasks wait for")], tag="pacer")},
        "/pacer/v1/signatures": {
            "get": _op("trusted image signatures (pacer)", {"200": _json(signatures, "signatures")},
                       params=[_query("image", "only this image reference"), _query("imageId", "only this image id")],
                       tag="pacer"),
            "post": _op("add a signature of an image (pacer image sign prints one)", {
                "201": _json(_ref("Signature"), "the stored signature"),
                "400": _error("malformed JSON"), "422": _error("a bad field, or a signature that does not verify")},
                body={"type": "object", "required": ["image", "imageId", "publicKey", "signature"],
                      "properties": {"image": {"type": "string"}, "imageId": {"type": "string"},
                                     "publicKey": {"type": "string"}, "signature": {"type": "string"},
                                     "signedAt": {"type": "number", "minimum": 0}}}, tag="pacer"),
            "delete": _op("forget the signatures matching every filter given (at least one)", {
                "200": _json({"type": "object", "required": ["removed"], "properties": {
                    "removed": {"type": "array", "items": _ref("Signature")}}}, "the removed signatures"),
                "422": _error("no filter given")},
                params=[_query("imageId", "image id"), _query("keyId", "key id"), _query("image", "image reference")],
                tag="pacer"),
        },
        "/pacer/v1/health": {"get": _op(
            "readiness: 200 when every part of the engine works, 503 when one is degraded (pacer)", {
                "200": _json(_ref("Health"), "ready"),
                "503": _json(_ref("Health"), "degraded: each part that is, with its reason and since when")},
            tag="pacer")},
        "/pacer/v1/policies": {"get": _op("each agent's isolation policy and who enforces it (pacer)", {
            "200": _json({"type": "object", "required": ["agents"]}, "policies")}, tag="pacer")},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "pacer: Marathon REST API v2", "version": "0.1.0",
                 "description": "Marathon's REST API (v2) served by pacer, plus pacer's own /pacer/v1 endpoints. "
                                "Authenticate with 'Authorization: Bearer <token>' or 'token=<token>'."},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }
