"""The PyPI `fleet` client (0.1.3), unchanged, against corral's fleet API v1.

Usage: python3 fleet_scenario.py http://HOST:PORT

Issue 5, point 6: the client fetches /fleet/v1/discovery first, then lists
machines, creates a unit (launched) and gets it, lists units and unit
states (waiting, with a deadline, until the unit runs), sets its desired
state to loaded, then destroys it; it also checks that a bad request comes
back as the client's own APIError. Prints one line of JSON summing up what
came back, for crates/corral/tests/fleet_client.rs to assert on; any
exception exits non-zero with its traceback.
"""

import json
import sys
import time

from fleet import v1 as fleet

UNIT = """[Unit]
Description=made by the python fleet client

[Service]
ExecStart=/bin/sh -c 'echo hello from %n; exec sleep 600'
"""


def wait_for(what, check, seconds=30):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}; last saw {last!r}")


def main():
    client = fleet.Client(sys.argv[1])
    machines = [{"id": m.id, "ip": m.primaryIP, "metadata": m.metadata} for m in client.list_machines()]

    made = client.create_unit("pyfleet.service", fleet.Unit(from_string=UNIT))
    got = client.get_unit("pyfleet.service")
    listed = [u.name for u in client.list_units()]

    def running():
        states = [s for s in client.list_unit_states() if s.name == "pyfleet.service"]
        ok = [s for s in states if s.systemdActiveState == "active" and s.systemdSubState == "running"]
        return ok

    states = wait_for("pyfleet.service to run", running)
    on_machine = list(client.list_unit_states(machine_id=states[0].machineID))
    by_name = list(client.list_unit_states(unit_name="pyfleet.service"))

    client.set_unit_desired_state("pyfleet.service", "loaded")
    loaded = client.get_unit("pyfleet.service").desiredState
    stopped = wait_for(
        "pyfleet.service to stop",
        lambda: [
            s.systemdActiveState
            for s in client.list_unit_states(unit_name="pyfleet.service")
            if s.systemdActiveState in ("inactive", "failed")
        ],
    )

    try:
        client.get_unit("nosuch.service")
        missing = "found"
    except fleet.APIError as e:
        missing = e.code

    client.destroy_unit("pyfleet.service")
    after = [u.name for u in client.list_units()]
    gone = wait_for(
        "the destroyed unit's state to go",
        lambda: "yes" if not list(client.list_unit_states(unit_name="pyfleet.service")) else None,
    )

    print(json.dumps({
        "machines": machines,
        "created": {"name": made.name, "desiredState": made.desiredState},
        "got": {"name": got.name, "desiredState": got.desiredState, "options": len(got.options)},
        "listed": listed,
        "running_on": states[0].machineID,
        "hash": states[0].hash,
        "on_machine": [s.name for s in on_machine],
        "by_name": [s.name for s in by_name],
        "loaded": loaded,
        "stopped": stopped,
        "missing": missing,
        "after": after,
        "state_gone": gone,
    }))


if __name__ == "__main__":
    main()
