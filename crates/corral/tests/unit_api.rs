//! Issue 5: corral's own unit API in batches (`POST /v1/units`, what
//! `corral start a b c ...` sends). Every entry is checked before any is
//! written; an instance may follow its template in the same batch.

use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_all_or_nothing_and_instances_follow_their_template_issue_5() {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 1,
            servers: 1,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let url = format!("http://{}/v1/units", c.machines[0].api_addr());
    let post = |body: Value| {
        let r = c.http.post(&url).json(&body).send();
        async move {
            let r = r.await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let template = "[Service]\nExecStart=/bin/sleep 300\n";

    phase("a bad entry: 400 naming it, and nothing written");
    let (status, body) = post(json!({"units": [
        {"name": "b@.service", "text": template},
        {"name": "b@1.service", "desired": "launched"},
        {"name": "b@2.service", "text": "[Service\nExecStart=/bin/true\n", "desired": "launched"},
    ]}))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "units[2].text", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 1"),
        "{body}"
    );
    let (status, body) =
        post(json!({"units": [{"name": "orphan@1.service", "desired": "launched"}]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("orphan@.service"),
        "{body}"
    );
    let list: Value = c.get_json(&url).await;
    assert_eq!(list["units"], json!([]), "nothing was written");

    phase("a template and 20 instances in one batch: all run");
    let mut units = vec![json!({"name": "b@.service", "text": template})];
    units
        .extend((1..=20).map(|i| json!({"name": format!("b@{i}.service"), "desired": "launched"})));
    let (status, body) = post(json!({ "units": units })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["written"], 21);
    wait_for("20 instances active/running", T, || async {
        let list: Value = c.get_json(&url).await;
        let running = list["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["states"][0]["active"] == "active" && u["states"][0]["sub"] == "running")
            .count();
        if running == 20 {
            Ok(())
        } else {
            Err(format!("{running} of 20 running"))
        }
    })
    .await;

    phase("the same batch again changes nothing; a desired state alone is a change");
    let (status, body) = post(json!({ "units": units })).await;
    assert_eq!((status, body["written"].clone()), (200, json!(0)), "{body}");
    let (status, body) =
        post(json!({"units": [{"name": "b@1.service", "desired": "loaded"}]})).await;
    assert_eq!((status, body["written"].clone()), (200, json!(1)), "{body}");
    for i in 1..=20 {
        let r = c
            .http
            .delete(format!("{url}/b@{i}.service"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}
