"""pymesos 0.3.15's own operator driver, unchanged, against a corral master.

Usage: python3 operator_v1.py HOST:PORT

Calls getHealth, getVersion, getMaster, getAgents, getFrameworks, getTasks,
getExecutors and getState (POST /api/v1/operator; a follower's 307 is
followed by the driver itself), then getFlags, which corral does not serve.
Prints one line of JSON summing up what came back, for
crates/corral/tests/operator_api.rs to assert on; any exception exits
non-zero with its traceback.
"""

import json
import sys

from pymesos.operator_v1 import MesosOperatorMasterDriver


def main():
    driver = MesosOperatorMasterDriver(sys.argv[1])
    health = driver.getHealth()
    version = driver.getVersion()
    master = driver.getMaster()
    agents = driver.getAgents()
    frameworks = driver.getFrameworks()
    tasks = driver.getTasks()
    executors = driver.getExecutors()
    state = driver.getState()
    try:
        driver.getFlags()
        flags = "answered"
    except RuntimeError as e:
        flags = str(e)

    summary = {
        "types": [
            d["type"]
            for d in (health, version, master, agents, frameworks, tasks, executors, state)
        ],
        "healthy": health["get_health"]["healthy"],
        "version": version["get_version"]["version_info"]["version"],
        "master": "%s:%s"
        % (
            master["get_master"]["master_info"]["address"]["ip"],
            master["get_master"]["master_info"]["port"],
        ),
        "agent_hosts": sorted(
            a["agent_info"]["hostname"] for a in agents["get_agents"]["agents"]
        ),
        "frameworks": [
            {
                "name": f["framework_info"]["name"],
                "id": f["framework_info"]["id"]["value"],
                "active": f["active"],
                "connected": f["connected"],
            }
            for f in frameworks["get_frameworks"]["frameworks"]
        ],
        "tasks": {
            t["task_id"]["value"]: [t["state"], t["agent_id"]["value"]]
            for t in tasks["get_tasks"]["tasks"]
        },
        "completed_tasks": {
            t["task_id"]["value"]: t["state"]
            for t in tasks["get_tasks"]["completed_tasks"]
        },
        "executors": len(executors["get_executors"]["executors"]),
        "state_keys": sorted(state["get_state"]),
        "state_agents": len(state["get_state"]["get_agents"]["agents"]),
        "flags": flags,
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
