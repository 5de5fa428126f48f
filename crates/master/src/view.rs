//! Converts the replicated state and Raft membership into corral's wire
//! views ([`corral_api::native`]). Read-only; used by several routes.

use corral_api::mesos::MESOS_COMPAT_VERSION;
use corral_api::mesos_v1::{Address, MasterInfo};
use corral_api::native::{ports_to_string, ClusterView, MachineView, ResourcesView, ServerView};
use corral_core::{Agent, AgentStatus};

use crate::context::MasterCtx;

/// Mesos's MasterInfo for server `server_id` serving its API on
/// `api_addr` (`ip:port`): what SUBSCRIBED carries and what the
/// leader-detection znode holds.
pub fn master_info(server_id: u64, api_addr: &str) -> MasterInfo {
    let (host, port) = api_addr.rsplit_once(':').unwrap_or((api_addr, "5050"));
    let port = port.parse().unwrap_or(5050);
    // Mesos sends the IPv4 address as a u32 in network byte order.
    let ip = host
        .parse::<std::net::Ipv4Addr>()
        .map(|a| u32::from_le_bytes(a.octets()))
        .unwrap_or(0);
    MasterInfo {
        id: format!("corral-master-{server_id}"),
        ip,
        port,
        pid: corral_api::mesos::master_pid(api_addr),
        hostname: host.to_string(),
        version: MESOS_COMPAT_VERSION.to_string(),
        address: Address {
            hostname: host.to_string(),
            ip: host.to_string(),
            port,
        },
    }
}

pub fn resources(r: &corral_core::Resources) -> ResourcesView {
    ResourcesView {
        cpus: r.cpus,
        mem_mb: r.mem_mb,
        disk_mb: r.disk_mb,
        ports: ports_to_string(&r.ports),
    }
}

pub fn machine(a: &Agent, leader_id: Option<u64>) -> MachineView {
    MachineView {
        id: a.info.id.0.clone(),
        hostname: a.info.hostname.clone(),
        ip: a.info.ip.clone(),
        agent_port: a.info.agent_port,
        metadata: a.info.attributes.clone(),
        server_id: a.info.server_id,
        leader: a.info.server_id.is_some() && a.info.server_id == leader_id,
        status: match a.status {
            AgentStatus::Active => "active".into(),
            AgentStatus::Unreachable => "unreachable".into(),
        },
        resources: resources(&a.info.resources),
        registered_at_ms: a.registered_at_ms,
        reregistered_at_ms: a.reregistered_at_ms,
        unreachable_since_ms: a.unreachable_since_ms,
        unreachable_reason: a.unreachable_reason.clone(),
        version: a.info.version.clone(),
    }
}

/// The cluster as this server sees it (possibly stale on a follower).
pub fn cluster(ctx: &MasterCtx) -> ClusterView {
    let leader = ctx.store.leader();
    let leader_id = leader.as_ref().map(|(id, _)| *id);
    let servers: Vec<ServerView> = ctx
        .store
        .members()
        .into_iter()
        .map(|(id, node, voter)| ServerView {
            id,
            api_addr: node.api_addr,
            raft_addr: node.raft_addr,
            voter,
            leader: Some(id) == leader_id,
        })
        .collect();
    let (machines, revision) = ctx.store.read(|s| {
        (
            s.agents
                .values()
                .map(|a| machine(a, leader_id))
                .collect::<Vec<_>>(),
            s.revision,
        )
    });
    ClusterView {
        answered_by: ctx.store.id(),
        leader: servers.iter().find(|s| s.leader).cloned(),
        term: ctx.store.term(),
        revision,
        servers,
        machines,
    }
}
