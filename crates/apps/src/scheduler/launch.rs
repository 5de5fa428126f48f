//! The TaskInfo an app instance is launched with: its resources, its
//! command, the URIs its agent fetches first (the app's `fetch`, `destPath`
//! as `output_file`), the user it runs as (the app's `user`), and
//! Marathon's environment (MARATHON_APP_*, PORT_<NAME>; the master adds
//! HOST, PORT0.., PORTS and MESOS_TASK_ID). Pure.

use std::collections::BTreeMap;

use corral_api::mesos_v1::{self, CommandInfo, CommandUri, Environment, Id, TaskInfo, Variable};
use corral_core::app::AppSpec;
use corral_core::{MachineId, Resources, TaskId};

use super::placement::needs;

/// The environment variable that records which config version an
/// instance runs (Marathon's own name for it).
pub const VERSION_ENV: &str = "MARATHON_APP_VERSION";

/// The command line: `cmd`, or `args` quoted for `/bin/sh -c`.
pub fn command_line(spec: &AppSpec) -> String {
    match &spec.cmd {
        Some(cmd) => cmd.clone(),
        None => spec
            .args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Marathon's task environment for `spec` at `version` (ISO timestamp)
/// with host `ports`, over the app's own `env`.
pub fn environment(spec: &AppSpec, version: &str, ports: &[u16]) -> BTreeMap<String, String> {
    let mut env = spec.env.clone();
    env.insert("MARATHON_APP_ID".into(), spec.id.0.clone());
    env.insert(VERSION_ENV.into(), version.to_string());
    env.insert("MARATHON_APP_RESOURCE_CPUS".into(), spec.cpus.to_string());
    env.insert("MARATHON_APP_RESOURCE_MEM".into(), spec.mem_mb.to_string());
    env.insert(
        "MARATHON_APP_RESOURCE_DISK".into(),
        spec.disk_mb.to_string(),
    );
    let label_names: Vec<String> = spec.labels.keys().map(|k| env_name(k)).collect();
    env.insert("MARATHON_APP_LABELS".into(), label_names.join(" "));
    for (k, v) in &spec.labels {
        env.insert(format!("MARATHON_APP_LABEL_{}", env_name(k)), v.clone());
    }
    for (def, port) in spec.port_definitions.iter().zip(ports) {
        if let Some(name) = &def.name {
            env.insert(format!("PORT_{}", env_name(name)), port.to_string());
        }
    }
    env
}

/// A label or port name as an environment variable name.
fn env_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The TaskInfo for instance `task` of `spec` at `version` on `agent`.
pub fn task_info(
    spec: &AppSpec,
    version: &str,
    task: &TaskId,
    agent: &MachineId,
    ports: &[u16],
) -> TaskInfo {
    let mut r: Resources = needs(spec);
    r.ports = ports.iter().map(|p| (*p, *p)).collect();
    let variables = environment(spec, version, ports)
        .into_iter()
        .map(|(name, value)| Variable { name, value })
        .collect();
    TaskInfo {
        name: spec.id.0.trim_start_matches('/').replace('/', "."),
        task_id: Id {
            value: task.0.clone(),
        },
        agent_id: Some(Id {
            value: agent.0.clone(),
        }),
        resources: mesos_v1::resources(&r),
        command: Some(CommandInfo {
            value: Some(command_line(spec)),
            environment: Some(Environment { variables }),
            uris: uris(spec),
            user: spec.user.clone(),
        }),
    }
}

/// The app's `fetch` as Mesos's `CommandInfo.uris`.
pub fn uris(spec: &AppSpec) -> Vec<CommandUri> {
    spec.fetch
        .iter()
        .map(|f| CommandUri {
            value: f.uri.clone(),
            executable: Some(f.executable),
            extract: Some(f.extract),
            cache: Some(f.cache),
            output_file: f.dest_path.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_quoted_and_env_is_marathons() {
        let mut spec: AppSpec = crate::scheduler::tests_support::spec();
        spec.cmd = None;
        spec.args = vec!["echo".into(), "it's".into(), "a b".into()];
        assert_eq!(command_line(&spec), r"'echo' 'it'\''s' 'a b'");
        spec.labels.insert("tier".into(), "front".into());
        spec.port_definitions[0].name = Some("http-api".into());
        let env = environment(&spec, "2026-01-01T00:00:00.000Z", &[31005]);
        assert_eq!(env["MARATHON_APP_ID"], "/web");
        assert_eq!(env["MARATHON_APP_VERSION"], "2026-01-01T00:00:00.000Z");
        assert_eq!(env["MARATHON_APP_LABELS"], "TIER");
        assert_eq!(env["MARATHON_APP_LABEL_TIER"], "front");
        assert_eq!(env["PORT_HTTP_API"], "31005");
        assert_eq!(env["MARATHON_APP_RESOURCE_CPUS"], "0.5");
    }

    #[test]
    fn fetch_and_user_reach_the_command_issue_4() {
        let mut spec: AppSpec = crate::scheduler::tests_support::spec();
        let info = task_info(
            &spec,
            "v",
            &TaskId("t".into()),
            &MachineId("a".into()),
            &[31000],
        );
        let cmd = info.command.unwrap();
        assert_eq!((cmd.uris.len(), cmd.user), (0, None));
        spec.user = Some("nobody".into());
        spec.fetch = vec![
            corral_core::app::Fetch {
                uri: "http://h/app.tgz".into(),
                extract: true,
                executable: false,
                cache: true,
                dest_path: None,
            },
            corral_core::app::Fetch {
                uri: "file:///opt/run.sh".into(),
                extract: false,
                executable: true,
                cache: false,
                dest_path: Some("bin/run".into()),
            },
        ];
        let info = task_info(
            &spec,
            "v",
            &TaskId("t".into()),
            &MachineId("a".into()),
            &[31000],
        );
        let cmd = info.command.unwrap();
        assert_eq!(cmd.user(), Some("nobody".to_string()));
        // What the master makes of them: the fetch list of the task.
        let got: Vec<String> = cmd
            .fetch()
            .iter()
            .map(|f| {
                format!(
                    "{} x={} e={} out={:?}",
                    f.uri, f.executable, f.extract, f.output_file
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "http://h/app.tgz x=false e=true out=None",
                "file:///opt/run.sh x=true e=false out=Some(\"bin/run\")",
            ]
        );
    }
}
