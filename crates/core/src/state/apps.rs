//! Applying the app commands: definitions, versions and the deployments
//! that lock an app while its instances move.

use crate::app::{App, AppId, AppSpec, Deployment, DeploymentChange, MAX_VERSIONS};
use crate::command::Response;
use crate::event::Event;

use super::State;

impl State {
    /// Deployments holding `app`.
    pub fn deployments_of(&self, app: &AppId) -> Vec<String> {
        self.deployments
            .values()
            .filter(|d| d.apps.contains(app))
            .map(|d| d.id.clone())
            .collect()
    }

    /// `Locked` while other deployments hold `app` and the write is not
    /// forced; a forced write drops them.
    fn take_lock(&mut self, app: &AppId, force: bool, events: &mut Vec<Event>) -> Option<Response> {
        let holders = self.deployments_of(app);
        if holders.is_empty() {
            return None;
        }
        if !force {
            return Some(Response::Locked {
                deployments: holders,
            });
        }
        for id in holders {
            self.deployments.remove(&id);
            events.push(Event::DeploymentEnded {
                id,
                outcome: "replaced by a forced change".into(),
            });
        }
        None
    }

    fn start_deployment(
        &mut self,
        id: &str,
        app: &AppId,
        change: DeploymentChange,
        version_ms: u64,
        now: u64,
        events: &mut Vec<Event>,
    ) {
        self.deployments.insert(
            id.to_string(),
            Deployment {
                id: id.to_string(),
                version_ms,
                apps: vec![app.clone()],
                change,
                started_at_ms: now,
            },
        );
        events.push(Event::DeploymentStarted {
            id: id.to_string(),
            apps: vec![app.clone()],
        });
        events.push(Event::AppChanged {
            id: app.clone(),
            removed: change == DeploymentChange::Delete,
        });
    }

    pub(super) fn put_app(
        &mut self,
        spec: &AppSpec,
        deployment: &str,
        force: bool,
        now: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        if self.deployments.contains_key(deployment) {
            return Response::Refused {
                reason: format!("deployment id {deployment} is already in use"),
            };
        }
        if let Some(locked) = self.take_lock(&spec.id, force, events) {
            return locked;
        }
        let (version, change, created) = match self.apps.get_mut(&spec.id) {
            None => {
                self.apps.insert(
                    spec.id.clone(),
                    App {
                        spec: spec.clone(),
                        version_ms: now,
                        config_version_ms: now,
                        scaled_at_ms: now,
                        versions: Vec::new(),
                    },
                );
                (now, DeploymentChange::Create, true)
            }
            Some(app) => {
                // Versions are distinct timestamps, even within one ms.
                let version = now.max(app.version_ms + 1);
                let change = if app.spec.same_config(spec) {
                    app.scaled_at_ms = version;
                    DeploymentChange::Scale
                } else {
                    app.config_version_ms = version;
                    DeploymentChange::Upgrade
                };
                app.remember(version);
                app.spec = spec.clone();
                (version, change, false)
            }
        };
        self.start_deployment(deployment, &spec.id, change, version, now, events);
        Response::AppWritten {
            deployment: deployment.to_string(),
            version_ms: version,
            created,
        }
    }

    /// Why a change to the existing app `id` under a new deployment may
    /// not go ahead (unknown app, deployment id taken, locked); `None` when
    /// it may (a forced change has then dropped the locking deployments).
    fn change_existing(
        &mut self,
        id: &AppId,
        deployment: &str,
        force: bool,
        events: &mut Vec<Event>,
    ) -> Option<Response> {
        if !self.apps.contains_key(id) {
            return Some(Response::Refused {
                reason: format!("App '{id}' does not exist"),
            });
        }
        if self.deployments.contains_key(deployment) {
            return Some(Response::Refused {
                reason: format!("deployment id {deployment} is already in use"),
            });
        }
        self.take_lock(id, force, events)
    }

    pub(super) fn restart_app(
        &mut self,
        id: &AppId,
        deployment: &str,
        force: bool,
        now: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        if let Some(refused) = self.change_existing(id, deployment, force, events) {
            return refused;
        }
        let Some(app) = self.apps.get_mut(id) else {
            return Response::Refused {
                reason: format!("App '{id}' does not exist"),
            };
        };
        let version = now.max(app.version_ms + 1);
        app.remember(version);
        app.config_version_ms = version;
        self.start_deployment(
            deployment,
            id,
            DeploymentChange::Restart,
            version,
            now,
            events,
        );
        Response::AppWritten {
            deployment: deployment.to_string(),
            version_ms: version,
            created: false,
        }
    }

    pub(super) fn delete_app(
        &mut self,
        id: &AppId,
        deployment: &str,
        force: bool,
        now: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        if let Some(refused) = self.change_existing(id, deployment, force, events) {
            return refused;
        }
        self.apps.remove(id);
        self.start_deployment(deployment, id, DeploymentChange::Delete, now, now, events);
        Response::AppWritten {
            deployment: deployment.to_string(),
            version_ms: now,
            created: false,
        }
    }
}

impl App {
    /// Keeps the current definition as an earlier version and moves to
    /// `version`.
    fn remember(&mut self, version: u64) {
        self.versions.push((self.version_ms, self.spec.clone()));
        if self.versions.len() > MAX_VERSIONS {
            self.versions.remove(0);
        }
        self.version_ms = version;
    }
}
