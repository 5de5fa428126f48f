"""Feeds corral's Marathon JSON to marathon-python 0.13.0's own models, the
way its client parses responses, and prints the request bodies its client
sends, for the Rust side to read back.

stdin: {"app", "apps", "tasks", "deployments", "queue", "info", "leader",
        "deployment_result", "invalid", "sse"} as corral serialises them.
stdout: one JSON object: what the models made of them ("parsed") and the
        bodies create_app / scale_app / update_app would send ("requests").
Any refusal by the models raises, and the exit status is non-zero.
"""
import collections
import collections.abc
import importlib.metadata
import json
import sys

# marathon 0.13.0 serialises with collections.Iterable, gone since Python
# 3.10 (fixed on its main branch, never released); parsing does not need it.
collections.Iterable = collections.abc.Iterable

import requests  # noqa: E402
from marathon.exceptions import MarathonHttpError  # noqa: E402
from marathon.models import (  # noqa: E402
    MarathonApp,
    MarathonConstraint,
    MarathonDeployment,
    MarathonHealthCheck,
    MarathonInfo,
    MarathonQueueItem,
    MarathonTask,
)
from marathon.models.app import PortDefinition  # noqa: E402
from marathon.models.endpoint import MarathonEndpoint  # noqa: E402
from marathon.models.events import EventFactory  # noqa: E402

version = importlib.metadata.version("marathon")
if version != "0.13.0":
    sys.exit(f"marathon {version} is installed; the tests pin 0.13.0 (scripts/install-test-deps)")

given = json.load(sys.stdin)

# GET /v2/apps/{id} -> {"app": ...}; GET /v2/apps -> {"apps": [...]}
app = MarathonApp.from_json(given["app"])
apps = [MarathonApp.from_json(a) for a in given["apps"]]
# GET /v2/tasks -> {"tasks": [...]}, and list_endpoints built from them
tasks = [MarathonTask.from_json(t) for t in given["tasks"]]
endpoints = MarathonEndpoint.from_tasks(tasks)
# GET /v2/deployments -> [...]
deployments = [MarathonDeployment.from_json(d) for d in given["deployments"]]
# GET /v2/queue -> {"queue": [...]}
queue = [MarathonQueueItem.from_json(q) for q in given["queue"]]
info = MarathonInfo.from_json(given["info"])

# event_stream(): keeps "data:" lines, parses them, refuses unknown types.
factory = EventFactory()
events = []
for line in given["sse"].encode("utf8").splitlines():
    parts = line.decode("utf8").split(":", 1)
    if parts[0] == "data":
        data = json.loads(parts[1].strip())
        assert "eventType" in data, data
        events.append(factory.process(data))


def http_error(status, body):
    response = requests.models.Response()
    response.status_code = status
    response.headers["content-type"] = "application/json"
    response._content = json.dumps(body).encode()
    return MarathonHttpError(response)


invalid = http_error(422, given["invalid"])

# The bodies the client sends.
create = MarathonApp(
    cmd="python3 -m http.server $PORT0",
    cpus=0.1,
    mem=32,
    instances=2,
    constraints=[MarathonConstraint("hostname", "UNIQUE")],
    health_checks=[MarathonHealthCheck(protocol="HTTP", path="/", port_index=0)],
    port_definitions=[PortDefinition(port=0, protocol="tcp", name="http")],
    labels={"team": "shop"},
)
create.id = "/shop/web"  # create_app sets it
scale = MarathonApp(instances=5)
# update_app after get_app: the app as parsed, version cleared, minimal JSON.
update = MarathonApp.from_json(given["app"])
update.mem = 256
update.version = None

print(json.dumps({
    "parsed": {
        "app_id": app.id,
        "app_tasks": len(app.tasks),
        "app_deployments": [d.id for d in app.deployments],
        "app_version_info": app.version_info.last_config_change_at.isoformat(),
        "app_last_failure": app.last_task_failure.timestamp.isoformat(),
        "apps": [a.id for a in apps],
        "task_started_at": [t.started_at.isoformat() if t.started_at else None for t in tasks],
        "endpoints": [[e.app_id, e.service_port, e.host, e.task_port] for e in endpoints],
        "deployment_steps": [[[a.action for a in s.actions] for s in d.steps] for d in deployments],
        "queue": [[q.app.id, q.count, q.delay.time_left_seconds, q.processed_offers_summary.get("waitingReason")] for q in queue],
        "info": [info.name, info.version, info.elected, info.leader, info.http_config.http_port, info.zookeeper_config.zk],
        "leader": given["leader"]["leader"],
        "deployment_result": given["deployment_result"]["deploymentId"],
        "events": [type(e).__name__ for e in events],
        "invalid": [invalid.status_code, invalid.error_message, invalid.error_details],
    },
    "requests": {
        "create": create.to_json(minimal=True),
        "scale": scale.to_json(minimal=True),
        "update": update.to_json(minimal=True),
    },
}))
