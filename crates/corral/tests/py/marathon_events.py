#!/usr/bin/env python3
"""The PyPI `marathon` client (0.13.0), unchanged, against corral's
/v2/groups and /v2/events through one server (a follower): a group of two
apps where web depends on db, read back, scaled by 2 and deleted, while
`event_stream()` parses every event of the stream. Prints one `ok <step>`
line per step; any failure raises (non-zero exit). Usage:
    marathon_events.py http://FOLLOWER:8080
"""
import queue
import sys
import threading
import time

from marathon_harness import DEADLINE, ok, wait  # noqa: E402  (must precede marathon)

from marathon import MarathonClient, MarathonApp  # noqa: E402
from marathon.exceptions import MarathonHttpError, NotFoundError  # noqa: E402
from marathon.models.group import MarathonGroup  # noqa: E402



class Events:
    """marathon-python's own event_stream() read in a thread: every
    event parsed (an unknown or malformed event raises in there)."""

    def __init__(self, client, types=None):
        self.q = queue.Queue()
        self.seen = []
        t = threading.Thread(target=self._read, args=(client, types), daemon=True)
        t.start()

    def _read(self, client, types):
        try:
            for ev in client.event_stream(event_types=types):
                self.q.put(ev)
        except Exception as e:  # reported to the main thread
            self.q.put(e)

    def until(self, what, match):
        """Events up to the first one `match` accepts (deadline)."""
        end = time.time() + DEADLINE
        while time.time() < end:
            try:
                ev = self.q.get(timeout=max(0.0, end - time.time()))
            except queue.Empty:
                break
            if isinstance(ev, Exception):
                raise AssertionError("event_stream() failed: %r" % ev)
            self.seen.append(ev)
            if match(ev):
                return ev
        raise AssertionError("no %s within %d s; seen: %s" % (
            what, DEADLINE, [e.event_type for e in self.seen]))


def running(c, app_id, n):
    a = c.get_app(app_id)
    return a.instances == n and a.tasks_running == n and not a.deployments and a


def main():
    follower = sys.argv[1]
    c = MarathonClient([follower])

    attached = lambda e: e.event_type == "event_stream_attached"  # noqa: E731
    events = Events(c)
    events.until("event_stream_attached", attached)
    only = Events(c, ["event_stream_attached", "deployment_success"])
    only.until("the filtered stream's event_stream_attached", attached)
    ok("event_stream() attached through a follower")

    group = MarathonGroup(id="/shop", apps=[
        MarathonApp(id="web", cmd="sleep 3600", instances=1, cpus=0.1, mem=32, dependencies=["db"]),
        MarathonApp(id="db", cmd="sleep 3600", instances=1, cpus=0.1, mem=32),
    ])
    r = c.create_group(group)
    assert "deploymentId" in r and "version" in r, r
    ok("create_group: a deployment result")

    # marathon-python keeps only the id of a deployment_success: the
    # deployment's apps come from its deployment_info.
    started = {}

    def deployed(app_id):
        def match(e):
            if e.event_type == "deployment_info":
                started[e.plan.id] = [a["id"] for a in e.plan.target.apps]
            return e.event_type == "deployment_success" and app_id in started.get(e.id, [])
        return match
    db_done = events.until("db's deployment_success", deployed("/shop/db"))
    events.until("web's deployment_info", lambda e: e.event_type == "deployment_info"
                 and [a["id"] for a in e.plan.target.apps] == ["/shop/web"])
    before = [e.event_type for e in events.seen]
    assert "status_update_event" in before, before
    ok("web deployed after db's deployment finished (%s)" % db_done.id)

    wait("both running", lambda: running(c, "/shop/web", 1) and running(c, "/shop/db", 1))
    g = c.get_group("/shop")
    assert sorted(a.id for a in g.apps) == ["/shop/db", "/shop/web"], g.apps
    assert g.id == "/shop" and g.groups == [] and g.version, g
    web = [a for a in g.apps if a.id == "/shop/web"][0]
    assert web.dependencies == ["/shop/db"], web.dependencies
    assert [x.id for x in c.list_groups()] == ["/shop"], c.list_groups()
    ok("get_group('/shop') lists both apps; list_groups() the group")

    try:
        c.get_group("/nothing")
        raise AssertionError("an unknown group must be 404")
    except NotFoundError:
        ok("get_group of an unknown group: 404")

    c.scale_group("/shop", 2)
    wait("both at 2", lambda: running(c, "/shop/web", 2) and running(c, "/shop/db", 2))
    ok("scale_group('/shop', 2) doubled every app")

    c.delete_group("/shop")
    wait("no apps, no tasks", lambda: not c.list_apps() and not c.list_tasks())
    terminated = set()
    events.until("both app_terminated_event", lambda e: e.event_type == "app_terminated_event"
                 and (terminated.add(e.app_id) or terminated == {"/shop/web", "/shop/db"}))
    try:
        c.get_group("/shop")
        raise AssertionError("a deleted group must be 404")
    except NotFoundError:
        ok("delete_group removed both apps; app_terminated_event for each")

    # create web, db; scale web, db; delete web, db: six deployments.
    for _ in range(6):
        only.until("deployment_success", lambda e: e.event_type == "deployment_success")
    kinds = {e.event_type for e in only.seen}
    assert kinds == {"event_stream_attached", "deployment_success"}, kinds
    kinds = {e.event_type for e in events.seen}
    want = {"event_stream_attached", "api_post_event", "deployment_info",
            "status_update_event", "deployment_success", "app_terminated_event"}
    assert want <= kinds, kinds
    ok("event_stream() parsed %d events of %d types; the filtered one only the two asked for"
       % (len(events.seen), len(kinds)))


if __name__ == "__main__":
    main()
