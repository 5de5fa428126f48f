#!/usr/bin/env python3
"""An unmodified-pymesos framework: runs N short command tasks on whatever
the cluster offers, plus one task that fails on purpose, and exits 0 when
every task ended as expected.

    python3 examples/pymesos/run_tasks.py --master 127.0.0.101:5050 --tasks 30

It is what a Mesos user would write; nothing in it knows about corral.
"""
import argparse
import logging
import socket
import sys
import threading

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

CPUS, MEM = 0.1, 32
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


def scalar(offer, name):
    return sum(r.scalar.value for r in offer.resources if r.name == name)


class Runner(Scheduler):
    def __init__(self, n, per_offer):
        self.per_offer = per_offer
        self.todo = [("ok-%d" % i, "echo hello from $HOSTNAME task %d" % i) for i in range(n)]
        self.todo.append(("fail-0", "exit 7"))
        self.want = {tid: ("TASK_FAILED" if tid.startswith("fail") else "TASK_FINISHED") for tid, _ in self.todo}
        self.final = {}
        self.agents = {}
        self.lock = threading.Lock()
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        print("registered as %s" % framework_id["value"], flush=True)

    def resourceOffers(self, driver, offers):
        with self.lock:
            for offer in offers:
                cpus, mem = scalar(offer, "cpus"), scalar(offer, "mem")
                tasks = []
                while self.todo and cpus >= CPUS and mem >= MEM and len(tasks) < self.per_offer:
                    tid, cmd = self.todo.pop(0)
                    tasks.append(Dict(
                        task_id=Dict(value=tid),
                        agent_id=offer.agent_id,
                        name=tid,
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
                    driver.declineOffer(offer.id, Dict(refuse_seconds=5))

    def statusUpdate(self, driver, update):
        state, tid = update.state, update.task_id.value
        if state in TERMINAL:
            with self.lock:
                self.final[tid] = (state, update.get("message", ""))
                self.agents[tid] = update.agent_id.value if update.get("agent_id") else "?"
                if len(self.final) == len(self.want):
                    self.done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True, help="host:port of any server")
    p.add_argument("--tasks", type=int, default=30)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--per-offer", type=int, default=10, help="most tasks launched on one offer (spreads them)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    framework = Dict(user="root", name="corral-pymesos-example", hostname=socket.gethostname())
    runner = Runner(args.tasks, args.per_offer)
    driver = MesosSchedulerDriver(runner, framework, args.master, use_addict=True)
    driver.start()
    finished = runner.done.wait(args.timeout)
    driver.stop()  # TEARDOWN
    driver.join()

    bad = {t: s for t, s in runner.final.items() if s[0] != runner.want[t]}
    print("tasks ended: %d of %d" % (len(runner.final), len(runner.want)))
    print("agents used: %d" % len(set(runner.agents.values())))
    for t, (state, msg) in sorted(runner.final.items()):
        if t.startswith("fail"):
            print("%s: %s (%s)" % (t, state, msg))
    if not finished or bad:
        print("FAILED: missing %s, unexpected %s" % (sorted(set(runner.want) - set(runner.final)), bad))
        return 1
    print("all tasks ended as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
