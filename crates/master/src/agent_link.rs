//! Sending commands to agents (launch, kill). Every command carries this
//! leader's term as its epoch, so an agent refuses it once a newer leader
//! has spoken to it.

use std::time::Duration;

use corral_api::native::{AgentCommand, AgentCommandAck, AgentCommandEnvelope, ApiError};
use corral_core::MachineId;

use crate::context::MasterCtx;

/// Sends `command` to `agent`'s :5051 API; its answer names the tasks
/// of a launch or kill it refused.
pub async fn send(
    ctx: &MasterCtx,
    agent: &MachineId,
    command: AgentCommand,
) -> Result<AgentCommandAck, String> {
    let addr = ctx
        .store
        .read(|s| {
            s.agents
                .get(agent)
                .map(|a| format!("{}:{}", a.info.ip, a.info.agent_port))
        })
        .ok_or_else(|| format!("machine {agent} is not in the cluster"))?;
    let env = AgentCommandEnvelope {
        epoch: ctx.store.term(),
        leader_id: ctx.store.id(),
        command,
    };
    let resp = ctx
        .http
        .post(format!("http://{addr}/v1/agent/command"))
        .timeout(Duration::from_secs(5))
        .json(&env)
        .send()
        .await
        .map_err(|e| format!("agent {addr} unreachable: {e}"))?;
    if resp.status().is_success() {
        return resp
            .json::<AgentCommandAck>()
            .await
            .map_err(|e| format!("agent {addr} answered with no command acknowledgement: {e}"));
    }
    let status = resp.status();
    let msg = resp
        .json::<ApiError>()
        .await
        .map(|e| e.message)
        .unwrap_or_else(|_| status.to_string());
    Err(format!("agent {addr} refused: {msg}"))
}
