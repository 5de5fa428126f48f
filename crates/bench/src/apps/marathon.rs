//! A small client of one server's Marathon API (:8080) as the app
//! benchmarks drive it, and the pure readers of its answers (tested as
//! data below). Owns no timing policy: callers decide when to call.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::SIMULATED_ONLY;

/// Bound on one request (the embedded listing may be large; Marathon's
/// users saw 30 s at 4k tasks).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The Marathon API of one server.
#[derive(Clone)]
pub struct AppsApi {
    http: reqwest::Client,
    pub base: String,
}

/// Staged and running instances of one app, as `/v2/apps` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub staged: u64,
    pub running: u64,
}

impl AppsApi {
    /// The API on `ip`:8080 (followers proxy to the leader themselves).
    pub fn new(ip: &str) -> Result<AppsApi> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(AppsApi {
            http,
            base: format!("http://{ip}:8080"),
        })
    }

    /// One request: its status and JSON answer (`null` when empty).
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .bytes()
            .await
            .with_context(|| format!("{method} {url}: reading the answer"))?;
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&text)
                .with_context(|| format!("{method} {url}: HTTP {status}, not JSON"))?
        };
        Ok((status, v))
    }

    /// A request that must answer `want`.
    async fn must(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> Result<Value> {
        let (status, v) = self.call(method.clone(), path, body).await?;
        if status != want {
            bail!(
                "{method} {}{path}: HTTP {status}, not {want}: {v}",
                self.base
            );
        }
        Ok(v)
    }

    /// `POST /v2/apps` (201).
    pub async fn create(&self, app: &Value) -> Result<Value> {
        self.must(Method::POST, "/v2/apps", Some(app), 201).await
    }

    /// `PUT /v2/apps{id}` with `{"instances": n}`; the deployment's id.
    pub async fn scale(&self, id: &str, n: u64) -> Result<String> {
        let body = json!({ "instances": n });
        let v = self
            .must(Method::PUT, &format!("/v2/apps{id}"), Some(&body), 200)
            .await?;
        deployment_id(&v)
    }

    /// `DELETE /v2/apps{id}`; the deployment's id.
    pub async fn delete(&self, id: &str) -> Result<String> {
        let v = self
            .must(Method::DELETE, &format!("/v2/apps{id}"), None, 200)
            .await?;
        deployment_id(&v)
    }

    /// `GET /v2/apps{id}` (tasks, counts and deployments embedded).
    pub async fn app(&self, id: &str) -> Result<Value> {
        let mut v = self
            .must(Method::GET, &format!("/v2/apps{id}"), None, 200)
            .await?;
        Ok(v["app"].take())
    }

    /// `GET /v2/apps?id=..`: apps whose id contains `part`, with counts.
    pub async fn apps_like(&self, part: &str) -> Result<Value> {
        self.must(Method::GET, &format!("/v2/apps?id={part}"), None, 200)
            .await
    }

    /// The counts of app `id` (from the list, which embeds no tasks).
    pub async fn counts(&self, id: &str) -> Result<Counts> {
        let list = self.apps_like(id).await?;
        counts_in(&list, id).ok_or_else(|| anyhow!("app {id} is not listed"))
    }

    /// `GET /v2/deployments`.
    pub async fn deployments(&self) -> Result<Value> {
        self.must(Method::GET, "/v2/deployments", None, 200).await
    }

    /// `GET /v2/queue`: what waits to launch, and why.
    pub async fn queue(&self) -> Result<Value> {
        self.must(Method::GET, "/v2/queue", None, 200).await
    }

    /// How many live tasks `GET /v2/apps{id}/tasks` lists.
    pub async fn live_tasks(&self, id: &str) -> Result<usize> {
        let v = self
            .must(Method::GET, &format!("/v2/apps{id}/tasks"), None, 200)
            .await?;
        v["tasks"]
            .as_array()
            .map(Vec::len)
            .ok_or_else(|| anyhow!("GET /v2/apps{id}/tasks: no tasks list: {v}"))
    }

    /// A GET timed from sending it to its last body byte; the body.
    pub async fn timed_get(&self, path: &str) -> Result<(Duration, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let t = Instant::now();
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("GET {url}: reading the answer"))?;
        let took = t.elapsed();
        if status != 200 {
            bail!(
                "GET {url}: HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok((took, body.to_vec()))
    }
}

/// An app of `instances` × `cmd` with `cpus` and `mem` MB each; with
/// `simulated`, held to simulated agents by a constraint (so the real
/// machines of the cluster never start a process for it).
pub fn app_request(
    id: &str,
    instances: u64,
    cmd: &str,
    cpus: f64,
    mem: f64,
    simulated: bool,
) -> Value {
    let mut app = json!({"id": id, "cmd": cmd, "cpus": cpus, "mem": mem, "instances": instances});
    if simulated {
        app["constraints"] = json!([SIMULATED_ONLY]);
    }
    app
}

/// The counts of app `id` in a `/v2/apps` answer.
pub fn counts_in(list: &Value, id: &str) -> Option<Counts> {
    let app = list["apps"].as_array()?.iter().find(|a| a["id"] == id)?;
    Some(Counts {
        staged: app["tasksStaged"].as_u64()?,
        running: app["tasksRunning"].as_u64()?,
    })
}

/// `(apps, instances running, instances staged)` of a `/v2/apps` answer.
pub fn running_total(list: &Value) -> (usize, u64, u64) {
    let apps = list["apps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let sum = |key: &str| apps.iter().filter_map(|a| a[key].as_u64()).sum();
    (apps.len(), sum("tasksRunning"), sum("tasksStaged"))
}

/// Tasks embedded in a `/v2/apps?embed=apps.tasks` answer.
pub fn embedded_tasks(list: &Value) -> usize {
    list["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["tasks"].as_array())
        .map(Vec::len)
        .sum()
}

/// Ids of the deployments in a `/v2/deployments` answer that move `app`
/// (all of them when `app` is `None`).
pub fn deployments_of(list: &Value, app: Option<&str>) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|d| {
            app.is_none_or(|id| {
                d["affectedApps"]
                    .as_array()
                    .is_some_and(|apps| apps.iter().any(|a| a == id))
            })
        })
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect()
}

/// What `/v2/queue` says of app `id`: instances waiting, launch delay
/// left, why it waits, and the app's last task failure.
pub fn queue_summary(queue: &Value, id: &str) -> String {
    let Some(item) = queue["queue"]
        .as_array()
        .and_then(|q| q.iter().find(|i| i["app"]["id"] == id))
    else {
        return "not queued".into();
    };
    let failure = &item["app"]["lastTaskFailure"];
    format!(
        "queued {} (delay {} s left{}), waiting: {}; last task failure: {}",
        item["count"],
        item["delay"]["timeLeftSeconds"],
        if item["delay"]["overdue"] == true {
            ", overdue"
        } else {
            ""
        },
        item["processedOffersSummary"]["waitingReason"]
            .as_str()
            .unwrap_or("-"),
        match failure["state"].as_str() {
            Some(state) => format!(
                "{state} {}",
                failure["message"].as_str().unwrap_or_default()
            ),
            None => "none".into(),
        }
    )
}

/// The `deploymentId` of a write's answer.
fn deployment_id(answer: &Value) -> Result<String> {
    answer["deploymentId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no deploymentId in {answer}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let app = app_request("/b/x", 10, "sleep 3600", 0.01, 1.0, true);
        assert_eq!(
            app,
            json!({"id": "/b/x", "cmd": "sleep 3600", "cpus": 0.01, "mem": 1.0, "instances": 10,
                   "constraints": [["simulated", "IS", "true"]]})
        );
        let real = app_request("/b/y", 1, "sleep 300", 0.1, 16.0, false);
        assert!(real.get("constraints").is_none(), "{real}");
    }

    #[test]
    fn answers() {
        let list = json!({"apps": [
            {"id": "/b/x", "tasksStaged": 2, "tasksRunning": 8, "tasks": [{}, {}]},
            {"id": "/b/xy", "tasksStaged": 0, "tasksRunning": 5, "tasks": [{}]},
            {"id": "/b/z", "tasksRunning": 1}
        ]});
        assert_eq!(
            counts_in(&list, "/b/x"),
            Some(Counts {
                staged: 2,
                running: 8
            })
        );
        assert_eq!(counts_in(&list, "/b/z"), None, "no counts embedded");
        assert_eq!(counts_in(&list, "/b"), None);
        assert_eq!(running_total(&list), (3, 14, 2));
        assert_eq!(running_total(&json!({})), (0, 0, 0));
        assert_eq!(embedded_tasks(&list), 3);

        let deps = json!([
            {"id": "d1", "affectedApps": ["/b/x"]},
            {"id": "d2", "affectedApps": ["/b/xy", "/c"]}
        ]);
        assert_eq!(deployments_of(&deps, Some("/b/x")), ["d1"]);
        assert_eq!(deployments_of(&deps, Some("/c")), ["d2"]);
        assert!(deployments_of(&deps, Some("/b")).is_empty());
        assert_eq!(deployments_of(&deps, None), ["d1", "d2"]);
        assert_eq!(
            deployment_id(&json!({"deploymentId": "d9", "version": "v"})).unwrap(),
            "d9"
        );
        assert!(deployment_id(&json!({"message": "locked"})).is_err());

        let queue = json!({"queue": [{
            "app": {"id": "/b/x", "lastTaskFailure": {"state": "TASK_KILLED", "message": "killed"}},
            "count": 385, "delay": {"timeLeftSeconds": 290, "overdue": false},
            "processedOffersSummary": {"waitingReason": "delayed 290.0 s after failures"}
        }]});
        assert_eq!(
            queue_summary(&queue, "/b/x"),
            "queued 385 (delay 290 s left), waiting: delayed 290.0 s after failures; last task failure: TASK_KILLED killed"
        );
        assert_eq!(queue_summary(&queue, "/b/y"), "not queued");
    }
}
