//! `corral app ...` and `corral deployments` through the real binary
//! against a 3-machine cluster, the app API found from CORRAL_ENDPOINT (a
//! follower's master address first: its app port proxies to the leader):
//! add, list, show, deployments, scale, status (running/wanted, and why an
//! impossible app waits), a locked app and --force, invalid definitions
//! (exit 2 naming the field), remove, and an unknown app.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use corral_testkit::cli::{err, must_exit, must_succeed, out};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// Runs `corral ARGS` in `dir` with `env`, feeding `stdin` if given.
fn corral_with(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CORRAL_ENDPOINT")
        .env_remove("CORRAL_APPS_ENDPOINT")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run corral");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("wait for corral")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_commands_drive_the_app_api() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let ep = format!(
        "{},{}",
        c.machines[follower].api_addr(),
        c.machines[leader].api_addr()
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let env = [("CORRAL_ENDPOINT", ep.as_str())];
    let corral = {
        let d = d.clone();
        let ep = ep.clone();
        move |args: &[&str]| corral_with(&d, &[("CORRAL_ENDPOINT", ep.as_str())], args, None)
    };
    let file = |name: &str, body: Value| -> String {
        let p = d.join(name);
        std::fs::write(&p, body.to_string()).unwrap();
        p.display().to_string()
    };

    phase("app add: a sleep app with 3 instances");
    let sleepy = file(
        "sleepy.json",
        json!({"id": "/sleepy", "cmd": "sleep 600", "instances": 3, "cpus": 0.1, "mem": 32}),
    );
    let o = must_succeed(corral(&["app", "add", &sleepy]), "app add");
    assert!(
        o.starts_with("added /sleepy: deployment ") && o.trim().len() > 30,
        "{o}"
    );

    phase("app list --json shows 3 running");
    wait_for("3 running instances of /sleepy", T, || {
        let o = corral(&["app", "list", "--json"]);
        async move {
            let apps: Value =
                serde_json::from_slice(&o.stdout).map_err(|e| format!("{e}: {}", err(&o)))?;
            let app = apps
                .as_array()
                .and_then(|a| a.iter().find(|a| a["id"] == "/sleepy"))
                .ok_or_else(|| format!("no /sleepy in {apps}"))?;
            (app["tasksRunning"] == 3)
                .then_some(())
                .ok_or_else(|| app.to_string())
        }
    })
    .await;
    let o = must_succeed(corral(&["app", "list"]), "app list");
    let mut lines = o.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "INSTANCES",
            "RUNNING",
            "HEALTHY",
            "CPUS",
            "MEM",
            "DEPLOYMENTS",
            "CMD"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..6], ["/sleepy", "3", "3", "-", "0.1", "32"], "{o}");
    assert_eq!(&row[row.len() - 2..], ["sleep", "600"], "{o}");

    phase("the app API named directly with CORRAL_APPS_ENDPOINT");
    let apps_ep = format!("{}:8080", c.machines[follower].ip);
    let o = corral_with(
        &d,
        &[
            ("CORRAL_ENDPOINT", "127.0.0.1:1"),
            ("CORRAL_APPS_ENDPOINT", &apps_ep),
        ],
        &["app", "list"],
        None,
    );
    assert!(must_succeed(o, "app list with CORRAL_APPS_ENDPOINT").contains("/sleepy"));

    phase("app show: the app and its 3 tasks");
    let o = must_succeed(corral(&["app", "show", "sleepy"]), "app show");
    assert!(o.contains("id:           /sleepy"), "{o}");
    let tasks: Vec<&str> = o
        .lines()
        .skip_while(|l| !l.starts_with("TASK"))
        .skip(1)
        .collect();
    assert_eq!(tasks.len(), 3, "{o}");
    assert!(tasks.iter().all(|t| t.contains("TASK_RUNNING")), "{o}");
    let v: Value = serde_json::from_slice(&corral(&["app", "show", "/sleepy", "--json"]).stdout)
        .expect("show --json is JSON");
    assert_eq!(v["tasks"].as_array().map(Vec::len), Some(3), "{v}");

    phase("deployments");
    let o = corral(&["deployments", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("deployments --json is JSON");
    assert!(v.is_array(), "{v}");
    let o = must_succeed(corral(&["deployments"]), "deployments");
    assert_eq!(
        o.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ID", "APPS", "ACTIONS", "STEP"]
    );

    phase("app scale to 1; app status says 1/1");
    let o = must_succeed(corral(&["app", "scale", "/sleepy", "1"]), "app scale");
    assert!(o.starts_with("scaling /sleepy: deployment "), "{o}");
    wait_for(
        "app status /sleepy to say 1/1, its deployment done",
        T,
        || {
            let o = corral(&["app", "status", "/sleepy"]);
            async move {
                let text = out(&o);
                (o.status.success()
                    && text.contains("running: 1/1")
                    && text.contains("deployment: none"))
                .then_some(())
                .ok_or_else(|| format!("{text}{}", err(&o)))
            }
        },
    )
    .await;

    phase("an impossible app (500 cpus, from stdin): app status says why it waits");
    let huge = json!({"id": "/huge", "cmd": "sleep 600", "cpus": 500, "mem": 32}).to_string();
    let o = corral_with(&d, &env, &["app", "add", "-"], Some(&huge));
    assert!(must_succeed(o, "app add -").starts_with("added /huge: deployment "));
    let status = wait_for("app status /huge to give a reason", T, || {
        let o = corral(&["app", "status", "/huge"]);
        async move {
            let text = out(&o);
            (o.status.success() && text.contains("lack"))
                .then_some(text.clone())
                .ok_or_else(|| format!("{text}{}", err(&o)))
        }
    })
    .await;
    assert!(status.contains("running: 0/1"), "{status}");
    assert!(
        status.contains("waiting: 1 instance to launch: "),
        "{status}"
    );
    assert!(status.contains("deployment: "), "{status}");
    let v: Value = serde_json::from_slice(&corral(&["app", "status", "/huge", "--json"]).stdout)
        .expect("status --json is JSON");
    assert!(
        v["queue"]["processedOffersSummary"]["waitingReason"]
            .as_str()
            .is_some_and(|r| r.contains("lack")),
        "{v}"
    );

    let show = out(&corral(&["app", "show", "/huge"]));
    assert!(
        show.contains("waiting:") && show.contains("lack"),
        "app show says why it waits: {show}"
    );
    let shown: Value = serde_json::from_slice(&corral(&["app", "show", "/huge", "--json"]).stdout)
        .expect("show --json is JSON");
    assert!(
        shown["waiting"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("lack")),
        "the app's JSON (embed=app.waiting) carries the reason: {shown}"
    );

    phase("a change of an app its deployment still holds: exit 1 naming it, then --force");
    let o = corral(&["app", "scale", "/huge", "2"]);
    must_exit(&o, 1, "scale a locked app");
    let deployment = v["deployments"][0]["id"].as_str().unwrap().to_string();
    assert!(err(&o).contains(&deployment), "{}", err(&o));
    assert!(err(&o).contains("--force"), "{}", err(&o));

    phase("invalid definitions exit 2 naming the field");
    let bad = file("bad.json", json!({"id": "/bad", "cmd": "x", "cpus": -1}));
    let o = corral(&["app", "add", &bad]);
    must_exit(&o, 2, "add an invalid app");
    assert!(err(&o).contains(&format!("{bad}: /cpus: ")), "{}", err(&o));
    let not_json = d.join("not.json");
    std::fs::write(&not_json, "{ nope").unwrap();
    let o = corral(&["app", "add", &not_json.display().to_string()]);
    must_exit(&o, 2, "add a file that is not JSON");
    assert!(err(&o).contains("not JSON"), "{}", err(&o));
    let o = corral(&["app", "add", &sleepy]);
    must_exit(&o, 2, "add an app that exists");
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    let o = corral(&["app", "show", "Not An Id"]);
    must_exit(&o, 2, "a bad app id");

    phase("app remove both apps (the locked one with --force)");
    let o = must_succeed(corral(&["app", "remove", "/sleepy"]), "remove /sleepy");
    assert!(o.starts_with("removing /sleepy: deployment "), "{o}");
    must_exit(
        &corral(&["app", "remove", "/huge"]),
        1,
        "remove a locked app",
    );
    let o = corral(&["app", "remove", "/huge", "--force", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("remove --json is JSON");
    assert_eq!(v["id"], "/huge", "{v}");
    assert!(v["deploymentId"].is_string(), "{v}");
    wait_for("every app gone", T, || {
        let o = corral(&["app", "list", "--json"]);
        async move {
            let apps: Value =
                serde_json::from_slice(&o.stdout).map_err(|e| format!("{e}: {}", err(&o)))?;
            (apps.as_array().is_some_and(Vec::is_empty))
                .then_some(())
                .ok_or_else(|| apps.to_string())
        }
    })
    .await;

    phase("an unknown app");
    let o = corral(&["app", "show", "/gone"]);
    must_exit(&o, 2, "show an unknown app");
    assert!(err(&o).contains("app /gone does not exist"), "{}", err(&o));
}
