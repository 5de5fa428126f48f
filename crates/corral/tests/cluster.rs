//! The spine, end to end through the real binary: 3 servers + an agent-only
//! machine form a cluster; kv writes survive 3 rounds of SIGKILLing the
//! leader; agents follow the leader on their own; stale leaders are fenced;
//! silent agents go unreachable and come back; TTL keys expire.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use corral_api::client::Method;
use corral_api::native::{KvList, KvNode, KvPutBody, KvWriteResult};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_survives_leader_kills_and_keeps_agents() {
    phase("start 3 servers and 1 agent-only machine");
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 4,
            servers: 3,
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    let view = c.must_all_agents_registered(T).await;
    assert_eq!(view.machines.len(), 4, "all machines admitted");
    assert_eq!(view.servers.len(), 3);
    let worker = view
        .machines
        .iter()
        .find(|m| m.hostname == "m4")
        .expect("m4 listed");
    assert_eq!(worker.server_id, None);
    assert_eq!(
        worker.metadata.get("role").map(String::as_str),
        Some("worker")
    );
    assert!(
        worker.resources.cpus >= 1.0 && worker.resources.mem_mb > 0,
        "resources detected: {worker:?}"
    );
    assert_eq!(worker.resources.ports, "31000-32000");

    phase("kv writes on the leader are readable on every server");
    let mut acked = BTreeMap::new();
    for i in 0..10 {
        let (k, v) = (format!("/round0/k{i}"), format!("v{i}"));
        c.must_put(&k, &v).await;
        acked.insert(k, v);
    }
    for i in 0..3 {
        c.must_hold(i, &acked).await;
    }
    // A linearizable read through a follower is redirected to the leader.
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let r = c
        .http
        .get(c.api_url(follower, "/v1/kv/round0/k1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        loc,
        format!("//{}/v1/kv/round0/k1", c.machines[leader].api_addr())
    );
    let n: KvNode = c.client().get("/v1/kv/round0/k1").await.unwrap();
    assert_eq!(n.value, "v1");

    let mut leader = leader;
    for round in 1..=3 {
        phase(&format!(
            "round {round}: SIGKILL the leader ({})",
            c.machines[leader].name
        ));
        let old_term = c.cluster_view(leader).await.unwrap().term;
        let old_leader = leader;
        c.kill(old_leader);
        let killed_at = Instant::now();

        phase("a new leader is elected and accepts writes");
        leader = c.must_leader(T).await;
        assert_ne!(leader, old_leader);
        let k = format!("/round{round}/after-kill");
        c.must_put(&k, "x").await;
        eprintln!(
            "    failover: first write acknowledged {:?} after the kill",
            killed_at.elapsed()
        );
        acked.insert(k, "x".into());
        for i in 0..5 {
            let (k, v) = (format!("/round{round}/k{i}"), format!("r{round}v{i}"));
            c.must_put(&k, &v).await;
            acked.insert(k, v);
        }

        phase("every agent (the killed machine's too, once back) re-registers with the new leader");
        let view = c.must_all_agents_registered(T).await;
        assert!(
            view.term > old_term,
            "term advanced: {} > {old_term}",
            view.term
        );

        phase("a follower's /master/redirect points to the new leader");
        let f = (0..3)
            .find(|i| *i != leader && c.machines[*i].is_running())
            .unwrap();
        let r = c
            .http
            .get(c.api_url(f, "/master/redirect"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("//{}", c.machines[leader].api_addr())
        );
        let r = c
            .http
            .get(c.api_url(f, "/master/state"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            307,
            "leader-only endpoint redirects on a follower"
        );

        phase("fencing: an agent refuses commands from the old term, accepts the new");
        let (status, body) = c.ping_agent(3, old_term).await;
        assert_eq!(status, 409, "stale epoch refused: {body}");
        assert_eq!(body["code"], "stale_epoch");
        assert_eq!(body["field"], "epoch");
        let (status, body) = c.ping_agent(3, view.term).await;
        assert_eq!(status, 200, "current epoch accepted: {body}");
        assert_eq!(body["epoch"], view.term);

        phase("the killed server restarts from its data dir and catches up");
        c.start_machine(old_leader);
        c.must_hold(old_leader, &acked).await;
        c.must_all_agents_registered(T).await;
    }

    phase("no acknowledged write was lost, on any server");
    for i in 0..3 {
        c.must_hold(i, &acked).await;
    }

    phase("an agent that goes silent is marked unreachable, and comes back");
    c.kill(3);
    let reason = wait_for("m4 unreachable", T, || async {
        let v = c.cluster_view(c.leader_index().await?).await?;
        let m = v
            .machines
            .iter()
            .find(|m| m.hostname == "m4")
            .ok_or("m4 gone")?;
        match (&m.status[..], &m.unreachable_reason) {
            ("unreachable", Some(r)) => Ok(r.clone()),
            (s, _) => Err(format!("m4 is {s}")),
        }
    })
    .await;
    assert!(reason.contains("no heartbeat"), "reason says why: {reason}");
    c.start_machine(3);
    c.must_all_agents_registered(T).await;

    phase("TTL keys expire on the leader's clock; the expiry is committed everywhere");
    let body = KvPutBody {
        value: "alive".into(),
        ttl: Some(1),
    };
    let _: KvWriteResult = c
        .client()
        .call(Method::PUT, "/v1/kv/ttl/key", Some(&body))
        .await
        .unwrap();
    for i in 0..3 {
        let name = c.machines[i].name.clone();
        wait_for(&format!("/ttl/key gone on {name}"), T, || async {
            let r = c
                .http
                .get(c.api_url(i, "/v1/kv/ttl/key?stale=true"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() == 404 {
                Ok(())
            } else {
                Err(format!("status {}", r.status()))
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesos_endpoints_and_metrics() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();

    phase("/health, /version and /metrics/snapshot answer locally on a follower");
    let r = c
        .http
        .get(c.api_url(follower, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = c.get_json(&c.api_url(follower, "/version")).await;
    let version = v["version"].as_str().unwrap();
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "numeric version: {version}"
    );
    let m: serde_json::Value = c.get_json(&c.api_url(follower, "/metrics/snapshot")).await;
    assert_eq!(m["master/elected"], 0.0);
    assert_eq!(m["master/slaves_active"], 3.0);
    let m: serde_json::Value = c.get_json(&c.api_url(leader, "/metrics/snapshot")).await;
    assert_eq!(m["master/elected"], 1.0);
    let text = c
        .http
        .get(c.api_url(follower, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("corral_master_slaves_active 3"),
        "prometheus text: {text}"
    );

    phase("/master/state on the leader is Mesos-shaped");
    for path in ["/master/state", "/state.json", "/state"] {
        let s: serde_json::Value = c.get_json(&c.api_url(leader, path)).await;
        assert_eq!(
            s["leader"],
            format!("master@{}", c.machines[leader].api_addr()),
            "{path}"
        );
        assert_eq!(s["activated_slaves"], 3);
        assert_eq!(s["deactivated_slaves"], 0);
        // Only the built-in app scheduler (Marathon's role) is registered.
        let names: Vec<&str> = s["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(names, ["marathon"], "{path}");
        let slaves = s["slaves"].as_array().unwrap();
        assert_eq!(slaves.len(), 3);
        for sl in slaves {
            for field in [
                "id",
                "hostname",
                "pid",
                "resources",
                "attributes",
                "active",
                "registered_time",
            ] {
                assert!(!sl[field].is_null(), "slave field {field} in {sl}");
            }
            assert!(sl["pid"].as_str().unwrap().starts_with("slave(1)@"));
            assert_eq!(sl["resources"]["ports"], "[31000-32000]");
        }
    }
    let r = c
        .http
        .get(c.api_url(leader, "/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307, "/redirect answers 307 on the leader too");

    phase("the HTML page shows the leader, servers and machines");
    let html = c
        .http
        .get(c.api_url(follower, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&c.machines[leader].api_addr()) && html.contains("m3"),
        "{html}"
    );

    phase("bad kv input gets 4xx with a JSON error naming the field");
    let put = |path: &str, body: String| {
        c.http
            .put(c.api_url(leader, path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = put("/v1/kv/a%20b", r#"{"value":"x"}"#.into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["field"], "key");
    let big = "x".repeat(corral_core::kv::MAX_VALUE_BYTES + 1);
    let r = put("/v1/kv/big", format!(r#"{{"value":"{big}"}}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["field"],
        "value"
    );
    let r = put("/v1/kv/k", r#"{"value": 1}"#.into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = put("/v1/kv/k", r#"{"value":"x","bogus":1}"#.into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["field"],
        "bogus"
    );
    let r = put("/v1/kv/k", r#"{"value":"x","ttl":0}"#.into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was written by any of those.
    let l: KvList = c.client().get("/v1/kv?prefix=/").await.unwrap();
    assert!(l.nodes.is_empty(), "bad input changed nothing: {l:?}");

    phase("with no quorum, a server knows no leader: leader-only endpoints answer 503 JSON");
    let mut c = c;
    let survivor = follower;
    for i in 0..3 {
        if i != survivor {
            c.kill(i);
        }
    }
    let body = wait_for("the survivor to give up on the leader", T, || async {
        let r = c
            .http
            .get(c.api_url(survivor, "/master/state"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 503 {
            return Err(format!("status {}", r.status()));
        }
        r.json::<serde_json::Value>()
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("No leader"),
        "{body}"
    );
    let r = c
        .http
        .get(c.api_url(survivor, "/master/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = c
        .http
        .get(c.api_url(survivor, "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "/health still answers locally");
}
