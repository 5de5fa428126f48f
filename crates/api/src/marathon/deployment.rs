//! Deployments as Marathon shows them (`GET /v2/deployments`, a top-level
//! array) and the result every change returns (`{deploymentId, version}`
//! plus the `Marathon-Deployment-Id` header).
//!
//! Marathon's steps are derived from what was asked: creating an app is
//! `StartApplication` then `ScaleApplication`; a scale is
//! `ScaleApplication`; a configuration change and a restart are
//! `RestartApplication`; a delete is `StopApplication`. Every affected app
//! appears in every step.

use serde::{Deserialize, Serialize};

use corral_core::app::{AppId, Deployment, DeploymentChange};

use super::time::iso8601;

/// The response header naming the deployment a change started.
pub const DEPLOYMENT_ID_HEADER: &str = "Marathon-Deployment-Id";

/// The body of `PUT`/`DELETE /v2/apps/{id}`, restarts and scale-kills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentResult {
    pub deployment_id: String,
    pub version: String,
}

impl DeploymentResult {
    pub fn new(deployment_id: &str, version_ms: u64) -> DeploymentResult {
        DeploymentResult {
            deployment_id: deployment_id.to_string(),
            version: iso8601(version_ms),
        }
    }
}

/// One entry of `GET /v2/deployments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: String,
    pub version: String,
    pub affected_apps: Vec<String>,
    /// Always empty: corral has no pods.
    pub affected_pods: Vec<String>,
    pub steps: Vec<Step>,
    pub current_actions: Vec<CurrentAction>,
    /// 1-based.
    pub current_step: u32,
    pub total_steps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub action: ActionKind,
    /// The app's id.
    pub app: String,
}

/// An action of the current step, with its readiness results (corral
/// keeps none yet: always `[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentAction {
    pub action: ActionKind,
    pub app: String,
    pub readiness_check_results: Vec<serde_json::Value>,
}

/// Marathon's action names (the app ones; corral has no pods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    /// A new app: its definition is stored, no instance yet.
    StartApplication,
    /// Instances start or stop to reach the app's count.
    ScaleApplication,
    /// Instances are replaced by ones of the current definition.
    RestartApplication,
    /// Every instance stops and the app goes.
    StopApplication,
}

/// The steps a change of `apps` goes through.
pub fn steps(change: DeploymentChange, apps: &[AppId]) -> Vec<Step> {
    let kinds: &[ActionKind] = match change {
        DeploymentChange::Create => &[ActionKind::StartApplication, ActionKind::ScaleApplication],
        DeploymentChange::Scale => &[ActionKind::ScaleApplication],
        DeploymentChange::Upgrade | DeploymentChange::Restart => &[ActionKind::RestartApplication],
        DeploymentChange::Delete => &[ActionKind::StopApplication],
    };
    kinds
        .iter()
        .map(|kind| Step {
            actions: apps
                .iter()
                .map(|app| Action {
                    action: *kind,
                    app: app.0.clone(),
                })
                .collect(),
        })
        .collect()
}

/// The deployment at `current_step` (1-based; clamped to its steps). While
/// instances start, a deployment is at its last step.
pub fn deployment_view(d: &Deployment, current_step: u32) -> DeploymentView {
    let steps = steps(d.change, &d.apps);
    let total = steps.len() as u32;
    let current = current_step.clamp(1, total.max(1));
    let current_actions = steps
        .get(current as usize - 1)
        .map(|s| {
            s.actions
                .iter()
                .map(|a| CurrentAction {
                    action: a.action,
                    app: a.app.clone(),
                    readiness_check_results: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    DeploymentView {
        id: d.id.clone(),
        version: iso8601(d.version_ms),
        affected_apps: d.apps.iter().map(|a| a.0.clone()).collect(),
        affected_pods: Vec::new(),
        steps,
        current_actions,
        current_step: current,
        total_steps: total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::whitelist;
    use serde_json::json;

    fn deployment(change: DeploymentChange, apps: &[&str]) -> Deployment {
        Deployment {
            id: "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43".into(),
            version_ms: 1_443_604_157_614,
            apps: apps.iter().map(|a| AppId::parse(a).unwrap()).collect(),
            change,
            started_at_ms: 1_443_604_157_614,
        }
    }

    #[test]
    fn a_create_has_two_steps() {
        let view = deployment_view(&deployment(DeploymentChange::Create, &["/shop/web"]), 2);
        let got = serde_json::to_value(&view).unwrap();
        whitelist::check(&got, &whitelist::DEPLOYMENT, "deployment");
        assert_eq!(
            got,
            json!({
                "id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43",
                "version": "2015-09-30T09:09:17.614Z",
                "affectedApps": ["/shop/web"],
                "affectedPods": [],
                "steps": [
                    {"actions": [{"action": "StartApplication", "app": "/shop/web"}]},
                    {"actions": [{"action": "ScaleApplication", "app": "/shop/web"}]}
                ],
                "currentActions": [{"action": "ScaleApplication", "app": "/shop/web", "readinessCheckResults": []}],
                "currentStep": 2,
                "totalSteps": 2
            })
        );
    }

    #[test]
    fn steps_per_change() {
        let cases = [
            (
                DeploymentChange::Create,
                "StartApplication,ScaleApplication",
            ),
            (DeploymentChange::Scale, "ScaleApplication"),
            (DeploymentChange::Upgrade, "RestartApplication"),
            (DeploymentChange::Restart, "RestartApplication"),
            (DeploymentChange::Delete, "StopApplication"),
        ];
        for (change, want) in cases {
            let d = deployment(change, &["/a", "/b"]);
            let view = deployment_view(&d, 99);
            let names: Vec<String> = view
                .steps
                .iter()
                .map(|s| {
                    assert_eq!(s.actions.len(), 2, "every app in every step");
                    serde_json::to_value(s.actions[0].action)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(names.join(","), want, "{change:?}");
            assert_eq!(
                view.current_step, view.total_steps,
                "clamped to the last step"
            );
            whitelist::check(
                &serde_json::to_value(&view).unwrap(),
                &whitelist::DEPLOYMENT,
                "deployment",
            );
        }
        let first = deployment_view(&deployment(DeploymentChange::Create, &["/a"]), 0);
        assert_eq!(first.current_step, 1);
        assert_eq!(
            first.current_actions[0].action,
            ActionKind::StartApplication
        );
    }

    #[test]
    fn the_result_of_a_change() {
        assert_eq!(
            serde_json::to_value(DeploymentResult::new("d-1", 0)).unwrap(),
            json!({"deploymentId": "d-1", "version": "1970-01-01T00:00:00.000Z"})
        );
        assert_eq!(DEPLOYMENT_ID_HEADER, "Marathon-Deployment-Id");
    }
}
