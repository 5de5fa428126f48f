#!/usr/bin/env python3
"""An unmodified-pymesos framework that a test drives line by line, so a
test can act on the cluster (kill a leader, restart an agent) between
steps. pymesos is used exactly as a Mesos user would use it; the master is
given as `host:port` or `zk://h1:2181,h2:2181/mesos`.

stdin, one command per line:
    launch N SECONDS [HOST]
                       launch N tasks `sleep SECONDS` (ids t-0, t-1, ...),
                       only on offers of agent HOST when given
    reconcile          ask for the state of every task (implicit reconciliation)
    kill ID            kill one task
    stop               tear the framework down and exit
stdout, one event per line:
    registered FWID | reregistered FWID | disconnected
    update ID STATE REASON AGENT     (every status update, as it arrives)
"""
import argparse
import logging
import socket
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

CPUS, MEM = 0.1, 16


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


class Driven(Scheduler):
    def __init__(self):
        self.todo = []
        self.launched = 0
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        say("registered", framework_id["value"])

    def reregistered(self, driver, master_info):
        say("reregistered", driver.framework_id)

    def disconnected(self, driver):
        say("disconnected")

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                pick = [t for t in self.todo if t[2] in (None, offer.hostname)]
                cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
                mem = sum(r.scalar.value for r in offer.resources if r.name == "mem")
                tasks = []
                while pick and cpus >= CPUS and mem >= MEM and len(tasks) < 2:
                    tid, cmd, _ = pick.pop(0)
                    self.todo = [t for t in self.todo if t[0] != tid]
                    tasks.append(Dict(
                        task_id=Dict(value=tid), agent_id=offer.agent_id, name=tid,
                        command=Dict(value=cmd),
                        resources=[
                            Dict(name="cpus", type="SCALAR", scalar=Dict(value=CPUS)),
                            Dict(name="mem", type="SCALAR", scalar=Dict(value=MEM)),
                        ],
                    ))
                    cpus -= CPUS
                    mem -= MEM
                if tasks:
                    driver.launchTasks(offer.id, tasks, Dict(refuse_seconds=0.1))
                else:
                    driver.declineOffer(offer.id, Dict(refuse_seconds=1))

    def statusUpdate(self, driver, update):
        agent = update.agent_id.value if update.get("agent_id") else "-"
        say("update", update.task_id.value, update.state, update.get("reason") or "-", agent)

    def launch(self, n, seconds, host=None):
        with self.lock:
            for _ in range(n):
                self.todo.append(("t-%d" % self.launched, "exec sleep %s" % seconds, host))
                self.launched += 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--failover-timeout", type=float, default=120)
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    framework = Dict(user="root", name="corral-driven", hostname=socket.gethostname(),
                     failover_timeout=args.failover_timeout)
    sched = Driven()
    driver = MesosSchedulerDriver(sched, framework, args.master, use_addict=True)
    driver.start()
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "launch":
            sched.launch(int(cmd[1]), cmd[2], cmd[3] if len(cmd) > 3 else None)
            driver.reviveOffers()
        elif cmd[0] == "reconcile":
            driver.reconcileTasks([])
        elif cmd[0] == "kill":
            driver.killTask(Dict(value=cmd[1]))
        elif cmd[0] == "stop":
            break
    driver.stop()
    driver.join()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
