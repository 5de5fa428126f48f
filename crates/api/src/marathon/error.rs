//! Marathon's error bodies and the status codes that go with them
//! (MarathonExceptionMapper): `{"message"}` everywhere, plus `details` for
//! invalid input (422, and 400 for bad JSON) and `deployments` when a
//! deployment locks the app (409). marathon-python raises on the status
//! and reads `message` and `details`.

use serde::{Deserialize, Serialize};

use corral_core::app::AppId;

/// What an error response carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Detail>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<DeploymentRef>>,
}

/// One invalid field: a JSON path (`/cpus`, `/healthChecks(0)/protocol`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub path: String,
    pub errors: Vec<String>,
}

/// A deployment named by its id (`deployments: [{"id"}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub id: String,
}

/// The 422 body: every problem of a request, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Invalid {
    /// Always [`Invalid::MESSAGE`], as in Marathon.
    pub message: String,
    pub details: Vec<Detail>,
}

impl Invalid {
    pub const MESSAGE: &'static str = "Object is not valid";

    pub fn new(details: Vec<Detail>) -> Invalid {
        Invalid {
            message: Invalid::MESSAGE.to_string(),
            details,
        }
    }
}

impl std::fmt::Display for Invalid {
    /// `Object is not valid: /cpus: must be ≥ 0.001; /id: ...` (one line).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for (i, d) in self.details.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{}: {}", d.path, d.errors.join(", "))?;
        }
        Ok(())
    }
}

/// Collects problems by path, in the order found (several errors on one
/// path share one [`Detail`], as in Marathon).
#[derive(Debug, Default)]
pub struct Problems(Vec<Detail>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, error: impl Into<String>) {
        let (path, error) = (path.into(), error.into());
        match self.0.iter_mut().find(|d| d.path == path) {
            Some(d) => d.errors.push(error),
            None => self.0.push(Detail {
                path,
                errors: vec![error],
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some problem is on `path` or below it.
    pub fn under(&self, path: &str) -> bool {
        self.0.iter().any(|d| d.path.starts_with(path))
    }

    /// `Ok(value)` when nothing was found.
    pub fn into_result<T>(self, value: T) -> Result<T, Invalid> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Invalid::new(self.0))
        }
    }
}

/// Every error the Marathon API answers with; [`MarathonError::status`] and
/// [`MarathonError::body`] give the response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarathonError {
    /// 400: the body is not JSON, or not the JSON of the resource.
    #[error("Invalid JSON: {0}")]
    BadJson(String),
    /// 400: a query parameter or path part that is not understood.
    #[error("{0}")]
    BadRequest(String),
    /// 422: the request is JSON but not a valid definition.
    #[error("{0}")]
    Invalid(Invalid),
    /// 409: `POST /v2/apps` for an id that exists.
    #[error("An app with id [{0}] already exists.")]
    AppExists(AppId),
    /// 409: a deployment of the app is running and `force` was not given.
    #[error(
        "App is locked by one or more deployments. Override with the option '?force=true'. \
         View details at '/v2/deployments/<DEPLOYMENT_ID>'."
    )]
    Locked { deployments: Vec<String> },
    /// 404: no such app.
    #[error("App '{0}' does not exist")]
    AppNotFound(AppId),
    /// 404: no such task (of that app).
    #[error("Task '{0}' does not exist")]
    TaskNotFound(String),
    /// 404: no such deployment.
    #[error("DeploymentPlan {0} does not exist")]
    DeploymentNotFound(String),
    /// 404: `DELETE /v2/queue/{id}/delay` for an app that waits for nothing.
    #[error("Application {0} not found in tasks queue.")]
    NotQueued(AppId),
    /// 404: `GET /v2/leader` while no leader is known.
    #[error("There is no leader")]
    NoLeader,
    /// 503: no leader to serve a leader-only request; retry.
    #[error("Could not determine the current leader")]
    LeaderUnknown,
    /// 503: the write did not commit in time; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl MarathonError {
    pub fn status(&self) -> u16 {
        match self {
            MarathonError::BadJson(_) | MarathonError::BadRequest(_) => 400,
            MarathonError::Invalid(_) => 422,
            MarathonError::AppExists(_) | MarathonError::Locked { .. } => 409,
            MarathonError::AppNotFound(_)
            | MarathonError::TaskNotFound(_)
            | MarathonError::DeploymentNotFound(_)
            | MarathonError::NotQueued(_)
            | MarathonError::NoLeader => 404,
            MarathonError::LeaderUnknown | MarathonError::Unavailable(_) => 503,
        }
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            MarathonError::Invalid(inv) => ErrorBody {
                message: inv.message.clone(),
                details: Some(inv.details.clone()),
                deployments: None,
            },
            MarathonError::BadJson(why) => ErrorBody {
                message: "Invalid JSON".to_string(),
                details: Some(vec![Detail {
                    path: "/".to_string(),
                    errors: vec![why.clone()],
                }]),
                deployments: None,
            },
            MarathonError::Locked { deployments } => ErrorBody {
                message: self.to_string(),
                details: None,
                deployments: Some(
                    deployments
                        .iter()
                        .map(|id| DeploymentRef { id: id.clone() })
                        .collect(),
                ),
            },
            _ => ErrorBody {
                message: self.to_string(),
                details: None,
                deployments: None,
            },
        }
    }
}

impl From<Invalid> for MarathonError {
    fn from(inv: Invalid) -> MarathonError {
        MarathonError::Invalid(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(err: MarathonError, status: u16, body: serde_json::Value) {
        assert_eq!(err.status(), status, "{err:?}");
        assert_eq!(serde_json::to_value(err.body()).unwrap(), body, "{err:?}");
    }

    #[test]
    fn bodies_and_statuses() {
        let app = AppId::parse("/shop/web").unwrap();
        check(
            MarathonError::Invalid(Invalid::new(vec![Detail {
                path: "/cpus".into(),
                errors: vec!["must be ≥ 0.001".into()],
            }])),
            422,
            json!({"message": "Object is not valid",
                   "details": [{"path": "/cpus", "errors": ["must be ≥ 0.001"]}]}),
        );
        check(
            MarathonError::BadJson("expected value at line 1 column 1".into()),
            400,
            json!({"message": "Invalid JSON",
                   "details": [{"path": "/", "errors": ["expected value at line 1 column 1"]}]}),
        );
        check(
            MarathonError::Locked {
                deployments: vec!["d1".into(), "d2".into()],
            },
            409,
            json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                   "deployments": [{"id": "d1"}, {"id": "d2"}]}),
        );
        check(
            MarathonError::AppExists(app.clone()),
            409,
            json!({"message": "An app with id [/shop/web] already exists."}),
        );
        check(
            MarathonError::AppNotFound(app.clone()),
            404,
            json!({"message": "App '/shop/web' does not exist"}),
        );
        check(
            MarathonError::DeploymentNotFound("d9".into()),
            404,
            json!({"message": "DeploymentPlan d9 does not exist"}),
        );
        check(
            MarathonError::NotQueued(app),
            404,
            json!({"message": "Application /shop/web not found in tasks queue."}),
        );
        check(
            MarathonError::NoLeader,
            404,
            json!({"message": "There is no leader"}),
        );
        check(
            MarathonError::LeaderUnknown,
            503,
            json!({"message": "Could not determine the current leader"}),
        );
    }

    #[test]
    fn problems_group_by_path_in_order() {
        let mut p = Problems::default();
        p.add("/cpus", "must be ≥ 0.001");
        p.add("/mem", "must be ≥ 0");
        p.add("/cpus", "must be finite");
        assert!(p.under("/cpus"));
        assert!(!p.under("/disk"));
        let inv = p.into_result(()).unwrap_err();
        assert_eq!(
            inv.to_string(),
            "Object is not valid: /cpus: must be ≥ 0.001, must be finite; /mem: must be ≥ 0"
        );
        assert_eq!(Problems::default().into_result(7), Ok(7));
    }
}
