//! Converts the replicated state and Raft membership into corral's wire
//! views ([`corral_api::native`]). Read-only; used by several routes.

use corral_api::native::{ports_to_string, ClusterView, MachineView, ResourcesView, ServerView};
use corral_core::{Agent, AgentStatus};

use crate::context::MasterCtx;

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
