//! Marathon's `fetch` and `user` (issue 4) on a real one-machine cluster's
//! :8080: an app fetches a shell script from the agent's disk (`file://`,
//! executable) and a `.tar.gz` from a small HTTP server this test runs on
//! 127.0.0.1 (extracted), and runs as `nobody`; its stdout shows the
//! script ran, the archive was unpacked and who ran it. An app whose URI
//! answers 404 fails with a message naming the URI.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// Serves the files of `dir` (read once, now) over HTTP/1.1 on 127.0.0.1:
/// GET /NAME answers the file with a Content-Length, /stall nothing at
/// all, anything else 404.
/// The server is a task of the test's runtime and ends with it.
async fn serve_files(dir: &Path) -> String {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            let name = format!("/{}", e.file_name().to_string_lossy());
            files.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                if path == "/stall" {
                    // Answers nothing while the test runs.
                    tokio::time::sleep(Duration::from_secs(300)).await;
                    return;
                }
                let answer = match files.get(&path) {
                    Some(body) => {
                        let mut a = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        a.extend_from_slice(body);
                        a
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n"
                        .to_vec(),
                };
                let _ = conn.write_all(&answer).await;
            });
        }
    });
    addr
}

async fn get(c: &Cluster, url: &str) -> Result<Value, String> {
    let r = c.http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

async fn post_app(c: &Cluster, base: &str, app: &Value) {
    let r = c
        .http
        .post(format!("{base}/v2/apps"))
        .json(app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// A file of task `task`'s sandbox on machine 0, read through the agent's
/// `/files/read` as `corral task log` does.
async fn sandbox_file(c: &Cluster, task: &str, name: &str) -> Result<(PathBuf, String), String> {
    let tasks = get(c, &c.agent_url(0, "/v1/agent/tasks")).await?;
    let sandbox = tasks
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["id"] == task)
        .and_then(|t| t["sandbox"].as_str())
        .ok_or(format!("no sandbox for {task} in {tasks}"))?
        .to_string();
    let path = format!("{sandbox}/{name}");
    let r = c
        .http
        .get(c.agent_url(0, &format!("/files/read?path={}&offset=0", encode(&path))))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    let data = body["data"]
        .as_str()
        .ok_or(format!("{path}: {body}"))?
        .to_string();
    Ok((PathBuf::from(sandbox), data))
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn must(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_fetch_their_uris_and_run_as_their_user_issue_4() {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 1,
            servers: 1,
            ..ClusterSpec::default()
        },
    );
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}:8080", c.machines[leader].ip);
    // Tasks for another user need every directory above their sandbox to
    // be searchable by that user; the test's temp dir is 0700.
    std::fs::set_permissions(c.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let user = if root {
        "nobody".to_string()
    } else {
        let out = Command::new("id").arg("-un").output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };

    phase("a script on the agent's disk, a .tar.gz over HTTP from 127.0.0.1");
    let files = c.dir.path().join("files");
    std::fs::create_dir_all(files.join("bundle")).unwrap();
    std::fs::write(files.join("hello.sh"), "#!/bin/sh\necho 'the script ran'\n").unwrap();
    std::fs::write(
        files.join("bundle/greeting.txt"),
        "the archive was unpacked\n",
    )
    .unwrap();
    let served = c.dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    must(
        Command::new("tar")
            .arg("-C")
            .arg(&files)
            .arg("-czf")
            .arg(served.join("bundle.tar.gz"))
            .arg("bundle"),
    );
    let http = serve_files(&served).await;

    phase(&format!("create /fetched: fetch both, run as {user:?}"));
    let script = files.join("hello.sh");
    let app = json!({
        "id": "/fetched",
        "cmd": "./hello.sh && cat bundle/greeting.txt && id -un && exec sleep 3600",
        "instances": 1,
        "cpus": 0.1,
        "mem": 32,
        "user": user,
        "fetch": [
            {"uri": format!("file://{}", script.display()), "executable": true, "extract": false},
            {"uri": format!("http://{http}/bundle.tar.gz"), "extract": true}
        ]
    });
    post_app(&c, &base, &app).await;

    phase("its stdout shows the script, the archive's file and the user");
    let task = wait_for("a RUNNING /fetched task", T, || async {
        let tasks = get(&c, &format!("{base}/v2/apps/fetched/tasks")).await?;
        tasks["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["state"] == "TASK_RUNNING")
            .and_then(|t| t["id"].as_str().map(str::to_string))
            .ok_or(tasks.to_string())
    })
    .await;
    let want = format!("the script ran\nthe archive was unpacked\n{user}\n");
    let (sandbox, stdout) = wait_for("the task's stdout", T, || async {
        let (sandbox, out) = sandbox_file(&c, &task, "stdout").await?;
        if out == want {
            Ok((sandbox, out))
        } else {
            Err(format!("stdout {out:?}, want {want:?}"))
        }
    })
    .await;
    assert_eq!(stdout, want);
    let (_, stderr) = sandbox_file(&c, &task, "stderr").await.unwrap();
    for line in [
        format!("Fetching URI 'http://{http}/bundle.tar.gz'"),
        "Extracted '".to_string(),
        "Successfully fetched all URIs into '".to_string(),
    ] {
        assert!(
            stderr.contains(&line),
            "missing {line:?} in stderr:\n{stderr}"
        );
    }
    if root {
        // The sandbox and what was fetched belong to the task's user.
        let uid = Command::new("id").args(["-u", "nobody"]).output().unwrap();
        let uid: u32 = String::from_utf8(uid.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        for owned in [
            sandbox.clone(),
            sandbox.join("hello.sh"),
            sandbox.join("bundle/greeting.txt"),
        ] {
            let meta = std::fs::metadata(&owned).unwrap();
            assert_eq!(meta.uid(), uid, "{} belongs to nobody", owned.display());
        }
        let mode = std::fs::metadata(sandbox.join("hello.sh")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755, "executable: true");
    }

    phase("create /broken: its URI answers 404");
    let missing = format!("http://{http}/missing.tgz");
    let app = json!({
        "id": "/broken",
        "cmd": "echo never",
        "instances": 1,
        "cpus": 0.1,
        "mem": 32,
        "fetch": [{"uri": missing}]
    });
    post_app(&c, &base, &app).await;

    phase("its task fails with a message naming the URI");
    let want = format!("fetch {missing}: HTTP 404 Not Found");
    let failure = wait_for("the last task failure of /broken", T, || async {
        let a = get(
            &c,
            &format!("{base}/v2/apps/broken?embed=app.lastTaskFailure"),
        )
        .await?;
        let f = a["app"]["lastTaskFailure"].clone();
        if f["message"].as_str().is_some_and(|m| m.contains(&want)) {
            Ok(f)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert_eq!(failure["state"], "TASK_FAILED", "{failure}");
    let failed_task = failure["taskId"].as_str().unwrap().to_string();
    let (_, stderr) = sandbox_file(&c, &failed_task, "stderr").await.unwrap();
    assert!(
        stderr.contains(&format!("Fetching URI '{missing}'")) && stderr.contains(&want),
        "the fetcher's lines and the failure are in the task's stderr:\n{stderr}"
    );

    phase("create /stranger: its user does not exist on the agent");
    let app = json!({
        "id": "/stranger", "cmd": "echo never", "instances": 1, "cpus": 0.1, "mem": 32,
        "user": "no-such-user-issue-4"
    });
    post_app(&c, &base, &app).await;
    let want = r#"user "no-such-user-issue-4" does not exist on this agent"#;
    wait_for("the last task failure of /stranger", T, || async {
        let a = get(
            &c,
            &format!("{base}/v2/apps/stranger?embed=app.lastTaskFailure"),
        )
        .await?;
        let f = &a["app"]["lastTaskFailure"];
        if f["state"] == "TASK_FAILED" && f["message"].as_str().is_some_and(|m| m.contains(want)) {
            Ok(())
        } else {
            Err(a.to_string())
        }
    })
    .await;

    phase("create /stalled: its server never answers; deleting the app (forced: it is still deploying) stops the fetch");
    let app = json!({
        "id": "/stalled", "cmd": "echo never", "instances": 1, "cpus": 0.1, "mem": 32,
        "fetch": [{"uri": format!("http://{http}/stall")}]
    });
    post_app(&c, &base, &app).await;
    let agent_task = |state: &'static str| {
        let c = &c;
        async move {
            let tasks = get(c, &c.agent_url(0, "/v1/agent/tasks")).await?;
            tasks
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| {
                    t["id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("stalled."))
                        && t["state"] == state
                })
                .cloned()
                .ok_or(tasks.to_string())
        }
    };
    wait_for("the /stalled task to be fetching", T, || {
        agent_task("starting")
    })
    .await;
    let r = c
        .http
        .delete(format!("{base}/v2/apps/stalled?force=true"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    // Well before the fetcher's 30 s read timeout.
    let ended = wait_for("the /stalled task to end", Duration::from_secs(10), || {
        agent_task("finished")
    })
    .await;
    assert_eq!(
        ended["signal"], 15,
        "ended as killed before its command ran: {ended}"
    );
}
