//! Checking an ACCEPT with LAUNCH against the offers it uses. Pure: the
//! offers and the tasks in, the launch to commit (or why each task is
//! refused) out.
//!
//! Each task's `command.uris` must be fetchable by an agent (`file://`, an
//! absolute path or `http://`; https is refused: the agent's fetcher has no
//! TLS) and `command.user` must be a user name; whether that user exists is
//! the agent's to say (TASK_FAILED). `FrameworkInfo.user` is not applied:
//! only `CommandInfo.user` (and Marathon's `user`) switch users.

use std::collections::BTreeSet;

use corral_core::allocator::OutstandingOffer;
use corral_core::{MachineId, Resources, TaskSpec};

/// A launch that fits its offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub agent: MachineId,
    pub tasks: Vec<TaskSpec>,
    /// What the offers held beyond the tasks: declined back to the pool.
    pub unused: Resources,
}

/// Why tasks are refused (each gets TASK_ERROR with this message).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub String);

/// Checks `tasks` against `offers` (all of the accepting framework).
pub fn plan(offers: &[OutstandingOffer], tasks: Vec<TaskSpec>) -> Result<Plan, Refusal> {
    let first = offers
        .first()
        .ok_or_else(|| Refusal("the ACCEPT names no valid outstanding offer".into()))?;
    if offers.iter().any(|o| o.agent != first.agent) {
        return Err(Refusal(
            "the offers of one ACCEPT must all be on the same agent".into(),
        ));
    }
    let offered = offers
        .iter()
        .fold(Resources::default(), |acc, o| acc.plus(&o.resources));
    let mut ids = BTreeSet::new();
    let mut need = Resources::default();
    for t in &tasks {
        if t.id.0.is_empty() || !ids.insert(&t.id) {
            return Err(Refusal(format!(
                "task id {:?} is empty or used twice in this ACCEPT",
                t.id.0
            )));
        }
        if t.command.trim().is_empty() {
            return Err(Refusal(format!(
                "task {} has no command.value; only command tasks run here",
                t.id
            )));
        }
        if t.resources.cpus <= 0.0 && t.resources.mem_mb == 0 {
            return Err(Refusal(format!(
                "task {} asks for no cpus and no mem",
                t.id
            )));
        }
        for (i, f) in t.fetch.iter().enumerate() {
            if let Err(e) = f.check() {
                let field = e.field();
                let given = match field {
                    "output_file" => f.output_file.clone().unwrap_or_default(),
                    _ => f.uri.clone(),
                };
                return Err(Refusal(format!(
                    "task {}: command.uris[{i}].{field} {given:?} {e}",
                    t.id
                )));
            }
        }
        if let Some(user) = &t.user {
            corral_core::task::check_user(user)
                .map_err(|e| Refusal(format!("task {}: command.user {e}", t.id)))?;
        }
        need = need.plus(&t.resources);
    }
    if !offered.contains(&need) {
        return Err(Refusal(format!(
            "the tasks need {} cpus, {} MB mem, {} MB disk, ports {:?}, more than the offers hold ({} cpus, {} MB, {} MB, ports {:?})",
            need.cpus, need.mem_mb, need.disk_mb, need.ports, offered.cpus, offered.mem_mb, offered.disk_mb, offered.ports
        )));
    }
    Ok(Plan {
        agent: first.agent.clone(),
        unused: offered.minus(&need),
        tasks,
    })
}

/// The environment a task starts with: its own variables, then `HOST`
/// (the agent's address), `PORT0..N` and `PORTS` for the ports it was
/// given (in range order), and Mesos's `MESOS_TASK_ID`.
pub fn task_env(spec: &TaskSpec, host: &str) -> std::collections::BTreeMap<String, String> {
    let mut env = spec.env.clone();
    let ports: Vec<u16> = spec
        .resources
        .ports
        .iter()
        .flat_map(|(a, b)| *a..=*b)
        .collect();
    for (i, p) in ports.iter().enumerate() {
        env.insert(format!("PORT{i}"), p.to_string());
    }
    if let Some(first) = ports.first() {
        env.insert("PORT".into(), first.to_string());
    }
    env.insert(
        "PORTS".into(),
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    env.insert("HOST".into(), host.to_string());
    env.insert("MESOS_TASK_ID".into(), spec.id.0.clone());
    env
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_core::allocator::OfferId;
    use corral_core::{FrameworkId, TaskId};

    use super::*;

    fn offer(agent: &str, cpus: f64, mem: u64) -> OutstandingOffer {
        OutstandingOffer {
            id: OfferId(format!("o-{agent}")),
            framework: FrameworkId("f".into()),
            agent: MachineId(agent.into()),
            resources: Resources {
                cpus,
                mem_mb: mem,
                disk_mb: 0,
                ports: vec![(31000, 31010)],
            },
            created_ms: 0,
        }
    }

    fn task(id: &str, cpus: f64, mem: u64, port: Option<u16>) -> TaskSpec {
        TaskSpec {
            id: TaskId(id.into()),
            name: id.into(),
            resources: Resources {
                cpus,
                mem_mb: mem,
                disk_mb: 0,
                ports: port.map(|p| vec![(p, p)]).unwrap_or_default(),
            },
            command: "sleep 1".into(),
            env: BTreeMap::new(),
            ..Default::default()
        }
    }

    #[test]
    fn environment() {
        let mut t = task("web-1", 0.1, 32, Some(31005));
        t.resources.ports.push((31010, 31011));
        t.env.insert("MINE".into(), "x".into());
        let env = task_env(&t, "127.0.0.102");
        let got: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got.join(" "),
            "HOST=127.0.0.102 MESOS_TASK_ID=web-1 MINE=x PORT=31005 PORT0=31005 PORT1=31010 PORT2=31011 PORTS=31005,31010,31011"
        );
        let none = task_env(&task("t", 0.1, 32, None), "h");
        assert_eq!(none["PORTS"], "");
        assert!(!none.contains_key("PORT0"));
    }

    #[test]
    fn launches() {
        let p = plan(
            &[offer("a1", 2.0, 1024)],
            vec![
                task("t1", 0.5, 128, Some(31000)),
                task("t2", 0.5, 128, None),
            ],
        )
        .unwrap();
        assert_eq!(p.agent, MachineId("a1".into()));
        assert_eq!(
            (p.unused.cpus, p.unused.mem_mb, p.unused.ports.clone()),
            (1.0, 768, vec![(31001, 31010)])
        );
        let why = |r: Result<Plan, Refusal>| r.unwrap_err().0;
        assert!(
            why(plan(&[], vec![task("t", 0.1, 1, None)])).contains("no valid outstanding offer")
        );
        assert!(why(plan(
            &[offer("a1", 1.0, 64), offer("a2", 1.0, 64)],
            vec![task("t", 0.1, 1, None)]
        ))
        .contains("same agent"));
        assert!(
            why(plan(&[offer("a1", 1.0, 64)], vec![task("t", 2.0, 1, None)]))
                .contains("more than the offers hold")
        );
        assert!(why(plan(
            &[offer("a1", 1.0, 64)],
            vec![task("t", 0.1, 1, Some(40000))]
        ))
        .contains("more than the offers hold"));
        assert!(why(plan(
            &[offer("a1", 1.0, 64)],
            vec![task("t", 0.1, 1, None), task("t", 0.1, 1, None)]
        ))
        .contains("used twice"));
        let mut no_cmd = task("t", 0.1, 1, None);
        no_cmd.command = " ".into();
        assert!(why(plan(&[offer("a1", 1.0, 64)], vec![no_cmd])).contains("no command.value"));
        assert!(
            why(plan(&[offer("a1", 1.0, 64)], vec![task("t", 0.0, 0, None)]))
                .contains("no cpus and no mem")
        );
    }

    /// One case a line, split by ` | `: the task's URIs (`uri>output_file`
    /// or `uri`, comma-separated, `-` for none), its user (`-` for none),
    /// and `ok` or the refusal.
    fn check_fetch_cases(table: &str) {
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let [uris, user, want] = cols[..] else {
                panic!("a case has 3 columns: {line}");
            };
            let mut t = task("t1", 0.1, 1, None);
            if uris != "-" {
                t.fetch = uris
                    .split(',')
                    .map(|u| {
                        let (uri, out) = match u.split_once('>') {
                            Some((uri, out)) => (uri, Some(out.to_string())),
                            None => (u, None),
                        };
                        corral_core::task::FetchUri {
                            uri: uri.into(),
                            output_file: out,
                            ..Default::default()
                        }
                    })
                    .collect();
            }
            t.user = (user != "-").then(|| user.to_string());
            let got = match plan(&[offer("a1", 1.0, 64)], vec![t]) {
                Ok(p) => {
                    assert_eq!(p.tasks[0].user.as_deref(), (user != "-").then_some(user));
                    "ok".to_string()
                }
                Err(r) => r.0,
            };
            assert_eq!(got, want, "case: {line}");
        }
    }

    #[test]
    fn fetch_and_user_issue_4() {
        check_fetch_cases(
            r#"
            -                                        | -      | ok
            file:///opt/run.sh,http://h:8000/a.tgz   | nobody | ok
            /opt/run.sh>bin/run                      | -      | ok
            /opt/run.sh,ftp://h/a.tgz                | -      | task t1: command.uris[1].value "ftp://h/a.tgz" has scheme "ftp", which corral cannot fetch: give file:///PATH, an absolute path or http://HOST/PATH
            https://h/a.tgz                          | -      | task t1: command.uris[0].value "https://h/a.tgz" is https, and corral's fetcher has no TLS: serve the file over http:// or copy it to the agents and give file:///PATH
            run.sh                                   | -      | task t1: command.uris[0].value "run.sh" is a relative path: give an absolute path or file:///PATH
            /opt/run.sh>../x                         | -      | task t1: command.uris[0].output_file "../x" is not a relative path inside the sandbox: give a name like "bin/tool"
            http://h/                                | -      | task t1: command.uris[0].value "http://h/" has no file name to save it under (it ends in "/"): give output_file
            -                                        | a b    | task t1: command.user "a b" is not a user name: give the name of a user that exists on the agents
            "#,
        );
    }
}
