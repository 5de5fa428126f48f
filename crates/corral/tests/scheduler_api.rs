//! The Mesos v1 scheduler API as a framework sees it on the wire: SUBSCRIBE
//! through a follower (307), the RecordIO stream (SUBSCRIBED, OFFERS,
//! HEARTBEATs), DECLINE filters, REVIVE, SUPPRESS,
//! Mesos-Stream-Id checks, TEARDOWN, and re-subscribing with the same
//! framework id to a new leader after a failover.

use std::path::Path;
use std::time::Duration;

use corral_testkit::scheduler::{
    call, next_offers, next_update, subscribe, subscribe_body, subscribe_with, subscribed,
    task_info, EventStream,
};
use corral_testkit::{phase, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(20);

/// A cluster whose scheduler streams heartbeat every 0.3 s, with its
/// leader elected and every agent registered.
async fn scheduler_cluster(machines: usize) -> (Cluster, usize) {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines,
            extra_args: vec!["--scheduler-heartbeat-secs=0.3".into()],
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    (c, leader)
}

/// Subscribes with `body`, launches one task running `cmd` on the first
/// offer, waits until it runs; returns the stream and the framework id.
async fn subscribe_and_run(
    c: &Cluster,
    leader: usize,
    body: Value,
    id: &str,
    cmd: &str,
) -> (EventStream, String) {
    let (mut s, fw) = subscribed(subscribe_with(c, leader, body).await).await;
    let offer = next_offers(&mut s, 1).await.remove(0);
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info(id, &offer["agent_id"], cmd)]}}]
    }});
    assert_eq!(call(c, leader, Some(&s.stream_id), launch).await.0, 202);
    next_update(&mut s, id, "TASK_RUNNING").await;
    (s, fw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_subscribe_stream_teardown_and_failover() {
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            extra_args: vec!["--scheduler-heartbeat-secs=0.3".into()],
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();

    phase("a follower redirects SUBSCRIBE to the leader");
    let r = c
        .http
        .post(c.api_url(follower, "/api/v1/scheduler"))
        .header("content-type", "application/json")
        .json(&subscribe_body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        format!("//{}/api/v1/scheduler", c.machines[leader].api_addr())
    );

    phase("SUBSCRIBE on the leader: SUBSCRIBED first, then heartbeats");
    let mut s = subscribe(&c, leader, None).await;
    let ev = s.next().await.unwrap();
    assert_eq!(ev["type"], "SUBSCRIBED", "{ev}");
    let fw = ev["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ev["subscribed"]["heartbeat_interval_seconds"], 0.3);
    assert_eq!(
        ev["subscribed"]["master_info"]["address"]["ip"],
        c.machines[leader].ip
    );
    let offers = next_offers(&mut s, 3).await;

    phase("OFFERS: every agent's free resources, with its metadata as attributes");
    for o in &offers {
        let names: Vec<&str> = o["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["cpus", "mem", "disk", "ports"], "{o}");
        assert_eq!(
            o["resources"][3]["ranges"]["range"][0],
            json!({"begin": 31000, "end": 32000})
        );
        assert!(
            o["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == "role" && a["text"]["value"] == "server"),
            "{o}"
        );
        assert_eq!(o["framework_id"]["value"], fw);
    }

    phase("calls need the framework id and the stream's id");
    let teardown = json!({"type": "TEARDOWN", "framework_id": {"value": fw}});
    assert_eq!(
        call(&c, leader, None, teardown.clone()).await.0,
        400,
        "no Mesos-Stream-Id"
    );
    assert_eq!(
        call(&c, leader, Some("bogus"), teardown.clone()).await.0,
        400,
        "wrong Mesos-Stream-Id"
    );
    let unknown = json!({"type": "TEARDOWN", "framework_id": {"value": "nope"}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), unknown).await.0, 400);
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1/scheduler"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "Content-Type missing");
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1/scheduler"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    phase("DECLINE with a long filter: nothing is offered again (three quiet heartbeats)");
    let ids: Vec<Value> = offers.iter().map(|o| o["id"].clone()).collect();
    let decline = json!({"type": "DECLINE", "framework_id": {"value": fw}, "decline": {"offer_ids": ids, "filters": {"refuse_seconds": 3600}}});
    let (status, _, len) = call(&c, leader, Some(&s.stream_id), decline).await;
    assert_eq!((status, len.as_deref()), (202, Some("0")));
    for _ in 0..3 {
        let ev = s.next().await.unwrap();
        assert_eq!(
            ev["type"], "HEARTBEAT",
            "nothing offered while filtered: {ev}"
        );
    }

    phase("REVIVE clears the filters: offers again; SUPPRESS is answered 202");
    let revive = json!({"type": "REVIVE", "framework_id": {"value": fw}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), revive).await.0, 202);
    assert_eq!(next_offers(&mut s, 3).await.len(), 3);
    let suppress = json!({"type": "SUPPRESS", "framework_id": {"value": fw}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), suppress).await.0, 202);
    let request =
        json!({"type": "REQUEST", "framework_id": {"value": fw}, "request": {"requests": []}});
    let (status, body, _) = call(&c, leader, Some(&s.stream_id), request).await;
    assert_eq!(status, 501, "not there, and says so: {body}");
    assert!(body.contains("REQUEST is not supported"), "{body}");

    phase("TEARDOWN: 202 with Content-Length 0, the stream ends, the id cannot come back");
    let (status, _, len) = call(&c, leader, Some(&s.stream_id), teardown).await;
    assert_eq!((status, len.as_deref()), (202, Some("0")));
    // Heartbeats already in flight may still arrive; then the stream ends.
    let mut extra = 0;
    while let Some(ev) = s.next().await {
        assert_eq!(ev["type"], "HEARTBEAT", "unexpected {ev}");
        extra += 1;
        assert!(extra < 10, "the torn-down stream keeps going");
    }
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1/scheduler"))
        .header("content-type", "application/json")
        .json(&subscribe_body(Some(&fw)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a removed framework does not come back");

    phase("kill the leader: the framework re-subscribes to the new leader with its id");
    let (mut s, fw) = subscribed(subscribe(&c, leader, None).await).await;
    c.kill(leader);
    assert!(
        s.next().await.is_none() || s.next().await.is_none(),
        "the old leader's stream ends"
    );
    let new_leader = c.must_leader(T).await;
    let mut s = subscribe(&c, new_leader, Some(&fw)).await;
    let ev = s.next().await.unwrap();
    assert_eq!(
        ev["subscribed"]["framework_id"]["value"], fw,
        "same framework, from the replicated state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_status_kill_and_reconcile_over_the_wire() {
    let (c, leader) = scheduler_cluster(3).await;
    let (mut s, fw) = subscribed(subscribe(&c, leader, None).await).await;
    let offers = next_offers(&mut s, 3).await;
    let accept = |offer: &Value, tasks: Vec<Value>| {
        json!({"type": "ACCEPT", "framework_id": {"value": fw}, "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
            "filters": {"refuse_seconds": 0.1}
        }})
    };

    phase(
        "ACCEPT with LAUNCH: exit 0 is FINISHED, exit 3 is FAILED with the status, a sleeper RUNS",
    );
    let (a, b) = (&offers[0], &offers[1]);
    let call1 = accept(
        a,
        vec![
            task_info("ok-1", &a["agent_id"], "test \"$WHO\" = corral"),
            task_info("fail-1", &a["agent_id"], "exit 3"),
        ],
    );
    assert_eq!(call(&c, leader, Some(&s.stream_id), call1).await.0, 202);
    let mut with_port = task_info(
        "ported",
        &b["agent_id"],
        &format!("test \"$PORT0\" = 31007 && test \"$PORTS\" = 31007 && test \"$HOST\" = {} && test \"$MESOS_TASK_ID\" = ported", b["hostname"].as_str().unwrap()),
    );
    with_port["resources"].as_array_mut().unwrap().push(json!({"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31007, "end": 31007}]}}));
    let call2 = accept(
        b,
        vec![
            task_info("sleeper", &b["agent_id"], "exec sleep 300"),
            with_port,
        ],
    );
    assert_eq!(call(&c, leader, Some(&s.stream_id), call2).await.0, 202);
    let st = next_update(&mut s, "ok-1", "TASK_FINISHED").await;
    assert_eq!(st["agent_id"], a["agent_id"]);
    assert_eq!(st["source"], "SOURCE_AGENT");
    let st = next_update(&mut s, "fail-1", "TASK_FAILED").await;
    assert_eq!(st["message"], "Command exited with status 3", "{st}");
    next_update(&mut s, "sleeper", "TASK_RUNNING").await;
    let st = next_update(&mut s, "ported", "TASK_FINISHED").await;
    assert_eq!(
        st["source"], "SOURCE_AGENT",
        "PORT0, PORTS, HOST and MESOS_TASK_ID were set"
    );
    assert_eq!(
        st["source"], "SOURCE_AGENT",
        "PORT0, PORTS, HOST and MESOS_TASK_ID were set"
    );

    phase("KILL ends the sleeper as TASK_KILLED");
    let kill = json!({"type": "KILL", "framework_id": {"value": fw}, "kill": {"task_id": {"value": "sleeper"}}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), kill).await.0, 202);
    next_update(&mut s, "sleeper", "TASK_KILLED").await;

    phase("invalid launches get TASK_ERROR with a reason; nothing runs");
    let stale = accept(a, vec![task_info("late", &a["agent_id"], "true")]);
    assert_eq!(call(&c, leader, Some(&s.stream_id), stale).await.0, 202);
    let st = next_update(&mut s, "late", "TASK_ERROR").await;
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("no valid outstanding offer"),
        "{st}"
    );
    let fresh = next_offers(&mut s, 1).await;
    let mut greedy = task_info("greedy", &fresh[0]["agent_id"], "true");
    greedy["resources"][0]["scalar"]["value"] = json!(1000.0);
    assert_eq!(
        call(
            &c,
            leader,
            Some(&s.stream_id),
            accept(&fresh[0], vec![greedy])
        )
        .await
        .0,
        202
    );
    let st = next_update(&mut s, "greedy", "TASK_ERROR").await;
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("more than the offers hold"),
        "{st}"
    );

    phase("RECONCILE answers the latest state of named tasks, LOST for unknown ones");
    let rec = json!({"type": "RECONCILE", "framework_id": {"value": fw}, "reconcile": {"tasks": [{"task_id": {"value": "ok-1"}}, {"task_id": {"value": "ghost"}}]}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), rec).await.0, 202);
    let st = next_update(&mut s, "ok-1", "TASK_FINISHED").await;
    assert_eq!(st["reason"], "REASON_RECONCILIATION");
    next_update(&mut s, "ghost", "TASK_LOST").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_machines_tasks_are_lost_and_killed_when_it_returns() {
    let (mut c, leader) = scheduler_cluster(4).await;
    let (mut s, fw) = subscribed(subscribe(&c, leader, None).await).await;
    let offers = next_offers(&mut s, 4).await;
    let worker_ip = c.machines[3].ip.clone();
    let offer = offers
        .iter()
        .find(|o| o["hostname"] == worker_ip.as_str())
        .expect("an offer from the worker");

    phase("a task runs on the agent-only machine");
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info("far", &offer["agent_id"], "exec sleep 300")]}}]
    }});
    assert_eq!(call(&c, leader, Some(&s.stream_id), launch).await.0, 202);
    next_update(&mut s, "far", "TASK_RUNNING").await;
    let r = c
        .http
        .get(c.agent_url(3, "/v1/agent/tasks"))
        .send()
        .await
        .unwrap();
    let tasks: Vec<Value> = r.json().await.unwrap();
    let pid = tasks
        .iter()
        .find(|t| t["id"] == "far")
        .and_then(|t| t["pid"].as_u64())
        .expect("a pid") as i32;

    phase("the machine goes away: after the timeouts its task is reported LOST, with the reason");
    c.kill(3);
    let st = next_update(&mut s, "far", "TASK_LOST").await;
    assert_eq!(st["reason"], "REASON_SLAVE_REMOVED", "{st}");
    assert!(
        st["message"].as_str().unwrap().contains("unreachable"),
        "{st}"
    );
    // SAFETY: probing the task's pid with signal 0.
    assert!(
        unsafe { libc::kill(pid, 0) } == 0,
        "the task itself still runs on the cut-off machine"
    );

    phase("the machine returns: the task given up on is killed there, so nothing runs twice");
    c.start_machine(3);
    corral_testkit::wait_for("the lost task's process to be killed", T, || async {
        // SAFETY: as above.
        if unsafe { libc::kill(pid, 0) } == 0 {
            Err("still running".to_string())
        } else {
            Ok(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_gone_past_its_failover_timeout_is_removed_and_its_tasks_killed() {
    let (c, leader) = scheduler_cluster(3).await;
    let mut body = subscribe_body(None);
    body["subscribe"]["framework_info"]["failover_timeout"] = json!(1.0);
    let (s, fw) = subscribe_and_run(&c, leader, body, "orphan", "exec sleep 300").await;

    phase("the framework disconnects and does not come back within 1 s");
    drop(s);
    let state = corral_testkit::wait_for(
        "the framework to be removed and its task killed",
        T,
        || async {
            let v: Value = c
                .http
                .get(c.api_url(leader, "/master/state"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let done = &v["completed_frameworks"][0];
            if done["id"] == fw.as_str() && done["completed_tasks"][0]["state"] == "TASK_KILLED" {
                Ok(v)
            } else {
                Err(format!(
                    "frameworks {} completed {}",
                    v["frameworks"], v["completed_frameworks"]
                ))
            }
        },
    )
    .await;
    assert!(
        state["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] == "marathon"),
        "only the built-in app scheduler is left: {state}"
    );
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1/scheduler"))
        .header("content-type", "application/json")
        .json(&subscribe_body(Some(&fw)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "it cannot come back under that id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_teardown_removes_the_framework_and_kills_its_tasks() {
    let (c, leader) = scheduler_cluster(3).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let (mut s, fw) =
        subscribe_and_run(&c, leader, subscribe_body(None), "svc", "exec sleep 300").await;

    phase("POST /master/teardown: bad input is refused, a follower redirects, the leader removes");
    let teardown = |i: usize, body: &str| {
        let (http, url, body) = (
            c.http.clone(),
            c.api_url(i, "/master/teardown"),
            body.to_string(),
        );
        async move {
            http.post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(teardown(leader, "").await, 400);
    assert_eq!(teardown(leader, "frameworkId=nope").await, 404);
    assert_eq!(teardown(follower, &format!("frameworkId={fw}")).await, 307);
    assert_eq!(teardown(leader, &format!("frameworkId={fw}")).await, 200);
    let mut extra = 0;
    while s.next().await.is_some() {
        extra += 1;
        assert!(extra < 20, "the removed framework's stream keeps going");
    }
    corral_testkit::wait_for("svc to be killed", T, || async {
        let v: Value = c
            .http
            .get(c.api_url(leader, "/master/tasks"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match v["tasks"][0]["state"].as_str() {
            Some("TASK_KILLED") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// The next UPDATE of `task`, skipping everything else; None if
/// `heartbeats` HEARTBEATs pass first.
async fn update_within_heartbeats(
    s: &mut EventStream,
    task: &str,
    heartbeats: usize,
) -> Option<Value> {
    let mut seen = 0;
    while seen < heartbeats {
        let ev = s.next().await.expect("the stream stays open");
        match ev["type"].as_str() {
            Some("HEARTBEAT") => seen += 1,
            Some("UPDATE") if ev["update"]["status"]["task_id"]["value"] == task => {
                return Some(ev["update"]["status"].clone())
            }
            _ => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_updates_are_resent_until_acknowledged() {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 1,
            servers: 1,
            extra_args: vec![
                "--scheduler-heartbeat-secs=0.3".into(),
                "--status-update-retry-secs=0.5".into(),
            ],
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let ack = |fw: &str, st: &Value| {
        json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fw}, "acknowledge": {
            "agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]}})
    };

    phase("an update carries a uuid and comes again, the same, until it is acknowledged");
    let (mut s, fw) = subscribe_and_run(&c, 0, subscribe_body(None), "nap", "sleep 2").await;
    let again = update_within_heartbeats(&mut s, "nap", 10)
        .await
        .expect("the unacknowledged RUNNING is sent again");
    assert_eq!(again["state"], "TASK_RUNNING");
    let uuid = again["uuid"].as_str().expect("a uuid").to_string();
    assert!(uuid.len() >= 22, "base64 of 16 bytes: {uuid}");
    assert_eq!(
        call(&c, 0, Some(&s.stream_id), ack(&fw, &again)).await.0,
        202
    );
    // The retries were 0.5 s then 1 s apart; 2 s of heartbeats see none.
    let next = update_within_heartbeats(&mut s, "nap", 7).await;
    assert!(
        next.as_ref().is_none_or(|st| st["state"] != "TASK_RUNNING"),
        "an acknowledged update is not sent again: {next:?}"
    );

    phase("a status recorded while the framework is away reaches it when it subscribes again");
    drop(s);
    c.must_task_state("nap", "TASK_FINISHED", T).await;
    let (mut s, _) = subscribed(subscribe(&c, 0, Some(&fw)).await).await;
    let done = update_within_heartbeats(&mut s, "nap", 10)
        .await
        .expect("FINISHED on the new stream, without a RECONCILE");
    assert_eq!(done["state"], "TASK_FINISHED");
    assert_ne!(done["uuid"], Value::from(uuid.clone()));

    phase("a uuid this master never sent is refused, naming the field");
    let mut bad = ack(&fw, &done);
    bad["acknowledge"]["uuid"] = json!("bm90LW91cnM=");
    let (code, body, _) = call(&c, 0, Some(&s.stream_id), bad).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("acknowledge.uuid"), "{body}");
    assert_eq!(
        call(&c, 0, Some(&s.stream_id), ack(&fw, &done)).await.0,
        202
    );
    let after = update_within_heartbeats(&mut s, "nap", 5).await;
    assert!(after.is_none(), "acknowledged: {after:?}");
}
