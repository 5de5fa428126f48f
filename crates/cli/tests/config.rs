//! corral.toml as data: text in, the validated config or the one-line error
//! out; and the plan `corral up` derives from it, as text.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use corral_cli::config::{
    check_plan, parse_metadata, plan, AgentsConfig, Config, MachinePlan, Ports,
};

/// Parses `text` and expects this exact one-line error naming `field`.
#[track_caller]
fn check_err(text: &str, field: Option<&str>, expected: &str) {
    let err = match Config::parse(text) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    };
    let line = err.to_string();
    assert!(!line.contains('\n'), "error is not one line: {line:?}");
    assert_eq!(line, expected, "for {text:?}");
    assert_eq!(err.field(), field, "blamed field for {text:?}");
}

/// Renders a plan as text: one line per machine, then its argument list.
fn render(plan: &[MachinePlan]) -> String {
    let mut out = String::new();
    for m in plan {
        let p = m.ports;
        out.push_str(&format!(
            "{} {} master={} apps={} agent={} raft={} server={} dir={}\n  {}\n",
            m.name,
            m.ip,
            p.master,
            p.apps,
            p.agent,
            p.raft,
            m.server_id.map_or("-".to_string(), |id| id.to_string()),
            m.data_dir.display(),
            m.command_line()
        ));
    }
    out
}

#[track_caller]
fn check_plan_text(text: &str, fallback: bool, expected: &str) {
    let config = Config::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let got = render(&plan(&config, fallback));
    let expected = expected.trim_start_matches('\n');
    assert_eq!(
        got, expected,
        "plan for {text:?} (fallback {fallback}):\n{got}"
    );
}

#[test]
fn empty_file_is_all_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.machines, 3);
    assert_eq!(c.servers, 3);
    assert_eq!(c.data_dir, PathBuf::from(".corral"));
    assert_eq!(c.base_ip, Ipv4Addr::new(127, 0, 0, 101));
    assert_eq!(
        c.ports,
        Ports {
            master: 5050,
            apps: 8080,
            agent: 5051,
            raft: 2380,
            zk: 2181
        }
    );
    assert_eq!(
        c.agents,
        AgentsConfig {
            heartbeat_ms: 1000,
            max_missed_heartbeats: 5
        }
    );
    assert!(c.machine.is_empty());
    assert!(c.warnings().is_empty());
}

#[test]
fn the_documented_example_parses() {
    let c = Config::parse(
        r#"
machines = 3
servers = 3
data_dir = ".corral"
base_ip = "127.0.0.101"
[ports]
master = 5050
apps = 8080
agent = 5051
raft = 2380
[machine.1]
metadata = "zookeeper=true,mesos-master=true"
[machine.2]
metadata = { zookeeper = true, rack = 2 }
cpus = 1.5
mem_mb = 512
disk_mb = 1024
ports = "31000-31100,31200-31300"
[agents]
heartbeat_ms = 1000
max_missed_heartbeats = 5
"#,
    )
    .unwrap();
    let m1 = &c.machine[&1];
    assert_eq!(m1.metadata["zookeeper"], "true");
    assert_eq!(m1.metadata["mesos-master"], "true");
    let m2 = &c.machine[&2];
    assert_eq!(m2.metadata["rack"], "2");
    assert_eq!(m2.cpus, Some(1.5));
    assert_eq!(m2.mem_mb, Some(512));
    assert_eq!(m2.disk_mb, Some(1024));
    assert_eq!(m2.ports.as_deref(), Some("31000-31100,31200-31300"));
}

#[test]
fn even_servers_warn_but_parse() {
    let c = Config::parse("machines = 4\nservers = 2").unwrap();
    assert_eq!(
        c.warnings(),
        vec![
            "warning: servers = 2 is even: 2 servers tolerate no more failures than 1 \
             (use 1, 3 or 5)"
        ]
    );
}

#[test]
fn top_level_bad_values() {
    check_err(
        "machines = 0",
        Some("machines"),
        "corral.toml: machines = 0 is out of range (1 to 9)",
    );
    check_err(
        "machines = 10",
        Some("machines"),
        "corral.toml: machines = 10 is out of range (1 to 9)",
    );
    check_err(
        "machines = \"3\"",
        Some("machines"),
        "corral.toml: machines: invalid type: string \"3\", expected i64 (line 1, column 12)",
    );
    check_err(
        "servers = 4",
        Some("servers"),
        "corral.toml: servers = 4 is more than machines = 3",
    );
    check_err(
        "servers = 0",
        Some("servers"),
        "corral.toml: servers = 0 is out of range (at least 1)",
    );
    check_err(
        "data_dir = \"\"",
        Some("data_dir"),
        "corral.toml: data_dir = \"\" is empty",
    );
    check_err(
        "data_dir = 5",
        Some("data_dir"),
        "corral.toml: data_dir: invalid type: integer `5`, expected a string (line 1, column 12)",
    );
    check_err(
        "base_ip = \"abc\"",
        Some("base_ip"),
        "corral.toml: base_ip = \"abc\" is not an IPv4 address like \"127.0.0.101\"",
    );
    check_err(
        "base_ip = \"0.0.0.0\"",
        Some("base_ip"),
        "corral.toml: base_ip = \"0.0.0.0\" is not a host address",
    );
    check_err(
        "base_ip = \"127.255.255.254\"",
        Some("base_ip"),
        "corral.toml: base_ip = \"127.255.255.254\" leaves no room for 3 machines",
    );
}

#[test]
fn ports_bad_values() {
    check_err(
        "[ports]\nmaster = 70000",
        Some("ports.master"),
        "corral.toml: ports.master: invalid value: integer `70000`, expected u16 (line 2, column 10)",
    );
    check_err(
        "[ports]\napps = \"x\"",
        Some("ports.apps"),
        "corral.toml: ports.apps: invalid type: string \"x\", expected u16 (line 2, column 8)",
    );
    check_err(
        "[ports]\nagent = 0",
        Some("ports.agent"),
        "corral.toml: ports.agent = 0 is not a port",
    );
    check_err(
        "[ports]\nraft = 65530",
        Some("ports.raft"),
        "corral.toml: ports.raft = 65530 is too high: fallback addressing needs up to 65530 + 20 \
         for 3 machines",
    );
    check_err(
        "[ports]\napps = 5050",
        Some("ports.apps"),
        "corral.toml: ports.apps = 5050 is the same as ports.master",
    );
}

#[test]
fn machine_overrides_bad_values() {
    check_err(
        "[machine.4]\ncpus = 1",
        Some("machine.4"),
        "corral.toml: machine.4: no such machine (machines are numbered 1 to 3)",
    );
    check_err(
        "[machine.x]\ncpus = 1",
        Some("machine.x"),
        "corral.toml: machine.x: no such machine (machines are numbered 1 to 3)",
    );
    check_err(
        "[machine.1]\ncpus = 0",
        Some("machine.1.cpus"),
        "corral.toml: machine.1.cpus = 0 must be more than 0",
    );
    check_err(
        "[machine.1]\ncpus = \"a\"",
        Some("machine.1.cpus"),
        "corral.toml: machine.1.cpus: invalid type: string \"a\", expected f64 (line 2, column 8)",
    );
    check_err(
        "[machine.1]\nmem_mb = -5",
        Some("machine.1.mem_mb"),
        "corral.toml: machine.1.mem_mb: invalid value: integer `-5`, expected u64 (line 2, column 10)",
    );
    check_err(
        "[machine.1]\ndisk_mb = 0",
        Some("machine.1.disk_mb"),
        "corral.toml: machine.1.disk_mb = 0 must be more than 0",
    );
    check_err(
        "[machine.1]\nports = \"32000-31000\"",
        Some("machine.1.ports"),
        "corral.toml: machine.1.ports = \"32000-31000\": \"32000-31000\" is not a port range like \
         \"31000-32000\"",
    );
    check_err(
        "[machine.1]\nmetadata = \"zookeeper\"",
        Some("machine.1.metadata"),
        "corral.toml: machine.1.metadata: \"zookeeper\" is not key=value (line 2, column 12)",
    );
    check_err(
        "[machine.1]\nmetadata = 5",
        Some("machine.1.metadata"),
        "corral.toml: machine.1.metadata: invalid type: integer `5`, expected a \
         \"key=value,key=value\" string or a table (line 2, column 12)",
    );
    check_err(
        "[machine.1]\nmetadata = { rack = [1] }",
        Some("machine.1.metadata.rack"),
        "corral.toml: machine.1.metadata.rack: invalid type: sequence, expected a string, \
         boolean or number (line 2, column 21)",
    );
}

#[test]
fn agents_bad_values() {
    check_err(
        "[agents]\nheartbeat_ms = 0",
        Some("agents.heartbeat_ms"),
        "corral.toml: agents.heartbeat_ms = 0 is out of range (10 to 3600000)",
    );
    check_err(
        "[agents]\nheartbeat_ms = -1",
        Some("agents.heartbeat_ms"),
        "corral.toml: agents.heartbeat_ms: invalid value: integer `-1`, expected u64 \
         (line 2, column 16)",
    );
    check_err(
        "[agents]\nmax_missed_heartbeats = 0",
        Some("agents.max_missed_heartbeats"),
        "corral.toml: agents.max_missed_heartbeats = 0 is out of range (at least 1)",
    );
}

#[test]
fn unknown_keys_are_named() {
    check_err(
        "colour = \"red\"",
        Some("colour"),
        "corral.toml: colour: unknown key `colour`, expected one of `machines`, `servers`, \
         `data_dir`, `base_ip`, `ports`, `machine`, `agents` (line 1, column 1)",
    );
    check_err(
        "[ports]\nhttp = 80",
        Some("ports.http"),
        "corral.toml: ports.http: unknown key `http`, expected one of `master`, `apps`, \
         `agent`, `raft`, `zk` (line 2, column 1)",
    );
    check_err(
        "[machine.2]\nmemory = 5",
        Some("machine.2.memory"),
        "corral.toml: machine.2.memory: unknown key `memory`, expected one of `metadata`, \
         `cpus`, `mem_mb`, `disk_mb`, `ports` (line 2, column 1)",
    );
    check_err(
        "[agents]\nheartbeat = 5",
        Some("agents.heartbeat"),
        "corral.toml: agents.heartbeat: unknown key `heartbeat`, expected `heartbeat_ms` or \
         `max_missed_heartbeats` (line 2, column 1)",
    );
}

#[test]
fn not_toml_gives_line_and_column() {
    check_err(
        "machines = = 3",
        None,
        "corral.toml: line 1, column 12: extra `=`, expected nothing",
    );
    check_err(
        "machines = 3\nmachines = 4",
        None,
        "corral.toml: line 2, column 1: duplicate key",
    );
}

#[test]
fn errors_name_the_file_they_came_from() {
    let e = Config::parse_named("servers = 9", "lab/cluster.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "lab/cluster.toml: servers = 9 is more than machines = 3"
    );
}

#[test]
fn metadata_strings() {
    let m = parse_metadata("zookeeper=true, mesos-master=true,,").unwrap();
    assert_eq!(
        m,
        BTreeMap::from([
            ("mesos-master".to_string(), "true".to_string()),
            ("zookeeper".to_string(), "true".to_string()),
        ])
    );
    assert_eq!(parse_metadata("").unwrap(), BTreeMap::new());
    assert!(parse_metadata("-x=1").is_err());
    assert!(parse_metadata("a=b=c").is_err());
}

#[test]
fn load_missing_file_is_defaults_with_absolute_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(&dir.path().join("corral.toml")).unwrap();
    assert_eq!(c.machines, 3);
    assert_eq!(c.data_dir, dir.path().join(".corral"));
}

#[test]
fn load_names_the_path_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corral.toml");
    std::fs::write(&path, "servers = 4\n").unwrap();
    let e = Config::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: servers = 4 is more than machines = 3", path.display())
    );
}

#[test]
fn plan_default_three_servers() {
    check_plan_text(
        "",
        false,
        r#"
m1 127.0.0.101 master=5050 apps=8080 agent=5051 raft=2380 server=1 dir=.corral/m1
  node --name m1 --ip 127.0.0.101 --data-dir .corral/m1 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --server-id 1 --bootstrap 1=127.0.0.101:2380/127.0.0.101:5050,2=127.0.0.102:2380/127.0.0.102:5050,3=127.0.0.103:2380/127.0.0.103:5050 --servers 127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5
m2 127.0.0.102 master=5050 apps=8080 agent=5051 raft=2380 server=2 dir=.corral/m2
  node --name m2 --ip 127.0.0.102 --data-dir .corral/m2 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --server-id 2 --bootstrap 1=127.0.0.101:2380/127.0.0.101:5050,2=127.0.0.102:2380/127.0.0.102:5050,3=127.0.0.103:2380/127.0.0.103:5050 --servers 127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5
m3 127.0.0.103 master=5050 apps=8080 agent=5051 raft=2380 server=3 dir=.corral/m3
  node --name m3 --ip 127.0.0.103 --data-dir .corral/m3 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --server-id 3 --bootstrap 1=127.0.0.101:2380/127.0.0.101:5050,2=127.0.0.102:2380/127.0.0.102:5050,3=127.0.0.103:2380/127.0.0.103:5050 --servers 127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5
"#,
    );
}

#[test]
fn plan_one_server_two_workers_with_overrides() {
    check_plan_text(
        r#"
servers = 1
data_dir = "/var/corral"
[machine.1]
metadata = "zookeeper=true,mesos-master=true"
[machine.3]
metadata = { role = "edge", rack = 2 }
cpus = 2
mem_mb = 1024
disk_mb = 2048
ports = "40000-40100"
[agents]
heartbeat_ms = 200
max_missed_heartbeats = 3
"#,
        false,
        r#"
m1 127.0.0.101 master=5050 apps=8080 agent=5051 raft=2380 server=1 dir=/var/corral/m1
  node --name m1 --ip 127.0.0.101 --data-dir /var/corral/m1 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --server-id 1 --bootstrap 1=127.0.0.101:2380/127.0.0.101:5050 --servers 127.0.0.101:5050 --metadata mesos-master=true,role=server,zookeeper=true --heartbeat-ms 200 --max-missed-heartbeats 3
m2 127.0.0.102 master=5050 apps=8080 agent=5051 raft=2380 server=- dir=/var/corral/m2
  node --name m2 --ip 127.0.0.102 --data-dir /var/corral/m2 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --servers 127.0.0.101:5050 --metadata role=worker --heartbeat-ms 200 --max-missed-heartbeats 3
m3 127.0.0.103 master=5050 apps=8080 agent=5051 raft=2380 server=- dir=/var/corral/m3
  node --name m3 --ip 127.0.0.103 --data-dir /var/corral/m3 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --servers 127.0.0.101:5050 --metadata rack=2,role=edge --heartbeat-ms 200 --max-missed-heartbeats 3 --cpus 2 --mem-mb 1024 --disk-mb 2048 --ports 40000-40100
"#,
    );
}

#[test]
fn plan_fallback_offsets_ports_and_splits_task_ports() {
    check_plan_text(
        "machines = 4",
        true,
        r#"
m1 127.0.0.1 master=5050 apps=8080 agent=5051 raft=2380 server=1 dir=.corral/m1
  node --name m1 --ip 127.0.0.1 --data-dir .corral/m1 --master-port 5050 --app-port 8080 --agent-port 5051 --raft-port 2380 --zk-port 2181 --server-id 1 --bootstrap 1=127.0.0.1:2380/127.0.0.1:5050,2=127.0.0.1:2390/127.0.0.1:5060,3=127.0.0.1:2400/127.0.0.1:5070 --servers 127.0.0.1:5050,127.0.0.1:5060,127.0.0.1:5070 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5 --ports 31000-31099
m2 127.0.0.1 master=5060 apps=8090 agent=5061 raft=2390 server=2 dir=.corral/m2
  node --name m2 --ip 127.0.0.1 --data-dir .corral/m2 --master-port 5060 --app-port 8090 --agent-port 5061 --raft-port 2390 --zk-port 2191 --server-id 2 --bootstrap 1=127.0.0.1:2380/127.0.0.1:5050,2=127.0.0.1:2390/127.0.0.1:5060,3=127.0.0.1:2400/127.0.0.1:5070 --servers 127.0.0.1:5050,127.0.0.1:5060,127.0.0.1:5070 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5 --ports 31100-31199
m3 127.0.0.1 master=5070 apps=8100 agent=5071 raft=2400 server=3 dir=.corral/m3
  node --name m3 --ip 127.0.0.1 --data-dir .corral/m3 --master-port 5070 --app-port 8100 --agent-port 5071 --raft-port 2400 --zk-port 2201 --server-id 3 --bootstrap 1=127.0.0.1:2380/127.0.0.1:5050,2=127.0.0.1:2390/127.0.0.1:5060,3=127.0.0.1:2400/127.0.0.1:5070 --servers 127.0.0.1:5050,127.0.0.1:5060,127.0.0.1:5070 --metadata role=server --heartbeat-ms 1000 --max-missed-heartbeats 5 --ports 31200-31299
m4 127.0.0.1 master=5080 apps=8110 agent=5081 raft=2410 server=- dir=.corral/m4
  node --name m4 --ip 127.0.0.1 --data-dir .corral/m4 --master-port 5080 --app-port 8110 --agent-port 5081 --raft-port 2410 --zk-port 2211 --servers 127.0.0.1:5050,127.0.0.1:5060,127.0.0.1:5070 --metadata role=worker --heartbeat-ms 1000 --max-missed-heartbeats 5 --ports 31300-31399
"#,
    );
}

#[test]
fn plan_helpers() {
    let c = Config::parse("machines = 2\nservers = 1").unwrap();
    let p = plan(&c, false);
    assert_eq!(p[0].master_addr(), "127.0.0.101:5050");
    assert_eq!(p[0].log_path(), PathBuf::from(".corral/m1/node.log"));
    assert_eq!(p[0].metadata["role"], "server");
    assert!(p[0].is_server() && !p[1].is_server());
    // A worker listens only on its agent port.
    assert_eq!(
        p[1].listens(),
        vec![("agent", Ipv4Addr::new(127, 0, 0, 102), 5051)]
    );
    assert_eq!(check_plan(&p), Ok(()));
}

#[test]
fn fallback_collisions_are_caught_before_anything_starts() {
    // agent = master + 10: m1's agent port is m2's master port on 127.0.0.1.
    let c = Config::parse("[ports]\nmaster = 5050\nagent = 5060").unwrap();
    assert_eq!(check_plan(&plan(&c, false)), Ok(()));
    assert_eq!(
        check_plan(&plan(&c, true)),
        Err(
            "127.0.0.1:5060 would be both m1's agent port and m2's master port; choose [ports] \
             whose differences are not multiples of 10"
                .to_string()
        )
    );
}
