#!/usr/bin/env python3
"""The PyPI `marathon` client (0.13.0), unchanged, against corral's :8080.
Runs the issue's user scenario and prints one `ok <step>` line per step;
any failure raises (non-zero exit). Usage:
    marathon_scenario.py http://FOLLOWER:8080 http://LEADER:8080
"""
import sys
import time

from marathon_harness import ok, wait  # must come before marathon is imported

from marathon import MarathonClient, MarathonApp  # noqa: E402
from marathon.exceptions import MarathonHttpError, ConflictError, NotFoundError  # noqa: E402
from marathon.util import to_datetime  # noqa: E402


def settled(c, app_id, n):
    """The app runs n instances of its current version and no deployment."""
    a = c.get_app(app_id)
    versions = {to_datetime(t.version) for t in a.tasks}
    return a.tasks_running == n and not a.deployments and len(a.tasks) == n and \
        (n == 0 or versions == {a.version_info.last_config_change_at}) and a


def main():
    follower, leader = sys.argv[1], sys.argv[2]
    c = MarathonClient([follower])
    lc = MarathonClient([leader])

    assert c.ping().strip() in (b"pong", "pong"), c.ping()
    info = c.get_info()
    assert info.name == "marathon" and info.elected, info
    assert c.get_leader() == lc.get_leader(), (c.get_leader(), lc.get_leader())
    ok("info, leader and ping through a follower")

    app = c.create_app("sleeper", MarathonApp(cmd="sleep 3600", instances=5, cpus=0.1, mem=32))
    assert app and app.id == "/sleeper", app
    deps = c.list_deployments()
    assert any("/sleeper" in d.affected_apps for d in deps), deps
    ok("create: 201 with the app, a deployment listed")

    a = wait("5 running", lambda: settled(c, "sleeper", 5))
    hosts = {t.host for t in a.tasks}
    assert len(hosts) == 3, hosts
    assert [x.id for x in c.list_apps()] == ["/sleeper"]
    assert len(c.list_tasks("sleeper")) == 5
    ok("5 instances running on %d hosts, deployment finished" % len(hosts))

    try:
        c.create_app("sleeper", MarathonApp(cmd="sleep 1", instances=1, cpus=0.1, mem=32))
        raise AssertionError("a duplicate create must fail")
    except ConflictError:
        ok("duplicate create: 409")
    try:
        c.create_app("bad", MarathonApp(cmd="sleep 1", instances=1, cpus=-1, mem=32))
        raise AssertionError("negative cpus must fail")
    except MarathonHttpError as e:
        assert e.status_code == 422 and "/cpus" in str(e.error_details), (e.status_code, e.error_details)
        ok("invalid app: 422 naming /cpus")

    c.scale_app("sleeper", 2)
    wait("scaled to 2", lambda: settled(c, "sleeper", 2))
    ok("scale down to 2")

    victim = c.list_tasks("sleeper")[0].id
    c.kill_task("sleeper", victim)
    wait("replacement", lambda: settled(c, "sleeper", 2) and victim not in {t.id for t in c.get_app("sleeper").tasks})
    ok("killed task replaced")

    before = {t.id for t in c.get_app("sleeper").tasks}
    upd = c.get_app("sleeper")
    upd.cmd = "sleep 3601"
    c.update_app("sleeper", upd)
    a = wait("upgrade", lambda: settled(c, "sleeper", 2))
    assert a.cmd == "sleep 3601" and not before & {t.id for t in a.tasks}, a
    assert len(c.list_versions("sleeper")) >= 2
    ok("rolling upgrade to a new command")

    before = {t.id for t in a.tasks}
    c.restart_app("sleeper")
    a = wait("restart", lambda: settled(c, "sleeper", 2) and not before & {t.id for t in c.get_app("sleeper").tasks})
    ok("restart replaced every instance")

    c.create_app("huge", MarathonApp(cmd="sleep 1", instances=1, cpus=500, mem=32))
    q = wait("queue entry", lambda: [i for i in c.list_queue() if i.app.id == "/huge"])
    reason = q[0].processed_offers_summary.get("waitingReason", "")
    assert "lack 500 cpus" in reason, reason
    ok("unplaceable app queued with its reason: " + reason)
    c.delete_app("huge", force=True)

    c.delete_app("sleeper")
    wait("no tasks", lambda: not c.list_tasks() and not c.list_apps())
    ok("delete stops every instance")


if __name__ == "__main__":
    main()
