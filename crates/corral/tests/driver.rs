//! Conformance of task drivers (today: the process driver; Docker will run
//! the same cases): launch, exit codes, stdout/stderr in the sandbox, kill
//! with a grace period, escalation to SIGKILL, duplicate and bad ids, and
//! recovery of running tasks by a fresh driver (an agent restart).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use corral_agent::driver::process::ProcessDriver;
use corral_agent::driver::{DriverError, Exit, TaskSpec, TaskState};
use corral_testkit::{phase, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(15);

fn spec(id: &str, command: &str) -> TaskSpec {
    TaskSpec {
        id: id.into(),
        command: command.into(),
        env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        ..Default::default()
    }
}

async fn must_finish(d: &ProcessDriver, id: &str) -> Exit {
    wait_for(&format!("task {id} to finish"), T, || async {
        match d.state(id).map_err(|e| e.to_string())? {
            TaskState::Finished(exit) => Ok(exit),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

async fn must_run(d: &ProcessDriver, id: &str) -> u32 {
    wait_for(&format!("task {id} to run"), T, || async {
        match d.state(id).map_err(|e| e.to_string())? {
            TaskState::Running { pid } => Ok(pid),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// SIGKILLs the named tasks' process groups when the test ends, pass or fail.
struct KillOnDrop(ProcessDriver, Vec<&'static str>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for id in &self.1 {
            let _ = self.0.signal(id, libc::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_driver_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("sandboxes");
    let d = ProcessDriver::new(root.clone(), PathBuf::from(BIN)).unwrap();
    let _guard = KillOnDrop(d.clone(), vec!["sleeper", "stubborn", "survivor"]);

    phase("a task runs in its sandbox with its env; its exit code and output are kept");
    d.launch(&spec(
        "echo",
        "echo \"$GREETING from $(basename \"$PWD\")\"; echo oops >&2; exit 3",
    ))
    .unwrap();
    assert_eq!(must_finish(&d, "echo").await, Exit::Exited { code: 3 });
    let sandbox = d.sandbox("echo").unwrap();
    assert_eq!(
        std::fs::read_to_string(sandbox.join("stdout")).unwrap(),
        "hello from echo\n"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.join("stderr")).unwrap(),
        "oops\n"
    );

    phase("the same id cannot run twice; ids that would escape the sandbox root are refused");
    assert!(matches!(
        d.launch(&spec("echo", "true")),
        Err(DriverError::Duplicate(_))
    ));
    for bad in ["../x", "a/b", "", ".."] {
        assert!(
            matches!(d.launch(&spec(bad, "true")), Err(DriverError::BadId(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(d.state("nope"), Err(DriverError::Unknown(_))));

    phase("kill: SIGTERM to the whole process group within the grace period");
    d.launch(&spec("sleeper", "sleep 300 & sleep 300; wait"))
        .unwrap();
    let pid = must_run(&d, "sleeper").await;
    let exit = d.kill("sleeper", Duration::from_secs(5)).await.unwrap();
    assert_eq!(exit, Exit::Signaled { signal: 15 });
    wait_for("the task's children to die with it", T, || async {
        // SAFETY: probing our own task's process group with signal 0.
        let alive = unsafe { libc::kill(-(pid as i32), 0) } == 0;
        if alive {
            Err("process group still has members".to_string())
        } else {
            Ok(())
        }
    })
    .await;

    phase("kill: a task that ignores SIGTERM gets SIGKILL after the grace period");
    d.launch(&spec(
        "stubborn",
        "trap '' TERM; while :; do sleep 0.05; done",
    ))
    .unwrap();
    must_run(&d, "stubborn").await;
    let exit = d
        .kill("stubborn", Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(exit, Exit::Signaled { signal: 9 });

    phase("a fresh driver (a restarted agent) finds running and finished tasks");
    d.launch(&spec("survivor", "sleep 300")).unwrap();
    let pid = must_run(&d, "survivor").await;
    drop(d);
    let again = ProcessDriver::new(root, PathBuf::from(BIN)).unwrap();
    let found = again.recover().unwrap();
    let states: BTreeMap<String, TaskState> = found.into_iter().collect();
    assert_eq!(states["survivor"], TaskState::Running { pid });
    assert_eq!(
        states["echo"],
        TaskState::Finished(Exit::Exited { code: 3 })
    );
    assert_eq!(
        states["stubborn"],
        TaskState::Finished(Exit::Signaled { signal: 9 })
    );
    assert_eq!(
        again
            .kill("survivor", Duration::from_secs(5))
            .await
            .unwrap(),
        Exit::Signaled { signal: 15 }
    );
}
