//! Calls to the Marathon-compatible app API, and what its error answers
//! mean on the command line ([`explain`]).
//!
//! The requests go through [`corral_api::Client`] (each server in turn,
//! retries while no leader is known). Marathon's error bodies
//! (`{message, details?, deployments?}`) are not corral's `ApiError`, so the
//! client hands them over whole as the message text; [`explain`] reads them
//! as Marathon's [`ErrorBody`].
//!
//! Invariant: [`explain`] is pure; exit codes follow the crate's rule (2 =
//! the user's input: an invalid definition, an unknown app, an id that
//! exists; 1 = anything else, including an app locked by a deployment).

use corral_api::client::Method;
use corral_api::marathon::deployment::{DeploymentResult, DEPLOYMENT_ID_HEADER};
use corral_api::marathon::error::ErrorBody;
use corral_api::{Client, ClientError};
use corral_core::app::AppId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CliError;

/// What a request was about, for the words of its errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The definition was read from this file (`-` for stdin).
    pub file: Option<&'a str>,
    /// The app the request names.
    pub app: Option<&'a AppId>,
}

impl<'a> Subject<'a> {
    /// Nothing in particular (listings).
    pub fn none() -> Subject<'a> {
        Subject::default()
    }

    pub fn app(app: &'a AppId) -> Subject<'a> {
        Subject {
            app: Some(app),
            file: None,
        }
    }

    pub fn file(file: &'a str) -> Subject<'a> {
        Subject {
            file: Some(file),
            app: None,
        }
    }

    pub fn with_file(self, file: &'a str) -> Subject<'a> {
        Subject {
            file: Some(file),
            ..self
        }
    }
}

/// An error answer as the command line shows it: lines for stderr before
/// the error (one per invalid field), and the error itself.
#[derive(Debug)]
pub struct Explained {
    pub lines: Vec<String>,
    pub error: CliError,
}

/// What the app API's error answer `status` with `body` means.
pub fn explain(status: u16, body: &str, subject: Subject<'_>) -> Explained {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .map_or_else(|| body.trim().to_string(), |b| b.message.clone());
    let plain = |error: CliError| Explained {
        lines: Vec::new(),
        error,
    };
    let usage = |m: String| plain(CliError::usage(m));
    let failed = |m: String| plain(CliError::Failed(anyhow::anyhow!(m)));
    match (status, subject.app) {
        (404, Some(id)) if message.starts_with("App '") => {
            usage(format!("app {id} does not exist"))
        }
        (409, _) if parsed.as_ref().is_some_and(|b| b.deployments.is_some()) => {
            let ids: Vec<String> = parsed
                .and_then(|b| b.deployments)
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.id)
                .collect();
            let what = subject
                .app
                .map_or_else(|| "the app".to_string(), |id| format!("app {id}"));
            failed(format!(
                "{what} is locked by deployment{} {}; wait for it (corral deployments) \
                 or override it with --force",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", ")
            ))
        }
        (400 | 422, _) if parsed.as_ref().is_some_and(|b| b.details.is_some()) => {
            let details = parsed.and_then(|b| b.details).unwrap_or_default();
            let prefix = match (subject.file, subject.app) {
                (Some(f), _) => format!("{f}: "),
                (None, Some(id)) => format!("{id}: "),
                (None, None) => String::new(),
            };
            let n = details.len();
            Explained {
                lines: details
                    .into_iter()
                    .map(|d| format!("{prefix}{}: {}", d.path, d.errors.join(", ")))
                    .collect(),
                error: CliError::usage(format!(
                    "{prefix}{message} ({n} problem{} above)",
                    if n == 1 { "" } else { "s" }
                )),
            }
        }
        (400..=499, _) if status != 404 => usage(message),
        _ => failed(format!("{message} (HTTP {status})")),
    }
}

/// A client error as the command line shows it (printing any detail
/// lines to stderr first).
pub fn cli_error(e: ClientError, subject: Subject<'_>) -> CliError {
    match e {
        ClientError::Rejected {
            status, message, ..
        } => {
            let x = explain(status, &message, subject);
            for l in &x.lines {
                eprintln!("{l}");
            }
            x.error
        }
        other => CliError::Failed(other.into()),
    }
}

/// The app API of a cluster.
pub struct Apps {
    pub client: Client,
}

impl Apps {
    /// GET `path`, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        subject: Subject<'_>,
    ) -> Result<T, CliError> {
        self.client
            .get(path)
            .await
            .map_err(|e| cli_error(e, subject))
    }

    /// A change (`PUT`/`POST`/`DELETE`) answered with `{deploymentId, version}`.
    pub async fn change<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        subject: Subject<'_>,
    ) -> Result<DeploymentResult, CliError> {
        self.client
            .call(method, path, body)
            .await
            .map_err(|e| cli_error(e, subject))
    }

    /// `POST /v2/apps`: the created app (as JSON) and the deployment that
    /// starts it (the `Marathon-Deployment-Id` header, else the app's first
    /// deployment).
    pub async fn create(
        &self,
        body: &serde_json::Value,
        subject: Subject<'_>,
    ) -> Result<(serde_json::Value, String), CliError> {
        let resp = self
            .client
            .send(Method::POST, "/v2/apps", Some(body))
            .await
            .map_err(|e| cli_error(e, subject))?;
        let header = resp
            .headers()
            .get(DEPLOYMENT_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let url = resp.url().to_string();
        let app: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| CliError::Failed(anyhow::anyhow!("unexpected answer from {url}: {e}")))?;
        let deployment = header
            .or_else(|| app["deployments"][0]["id"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok((app, deployment))
    }
}

/// The URL path of an app (`/v2/apps/shop/web`).
pub fn app_path(id: &AppId) -> String {
    format!("/v2/apps{}", crate::url_encode(&id.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(status, body, subject, exit code, stderr lines then the message)`.
    #[test]
    fn error_answers() {
        let app = AppId::parse("/shop/web").unwrap();
        let cases: &[(u16, &str, Subject, u8, &str)] = &[
            (
                422,
                r#"{"message":"Object is not valid","details":[
                    {"path":"/cpus","errors":["must be ≥ 0.001"]},
                    {"path":"/mem","errors":["must be ≥ 0","must be finite"]}]}"#,
                Subject::file("web.json"),
                2,
                "web.json: /cpus: must be ≥ 0.001\n\
                 web.json: /mem: must be ≥ 0, must be finite\n\
                 web.json: Object is not valid (2 problems above)",
            ),
            (
                400,
                r#"{"message":"Invalid JSON","details":[{"path":"/","errors":["invalid type: string \"x\", expected f64"]}]}"#,
                Subject::app(&app),
                2,
                "/shop/web: /: invalid type: string \"x\", expected f64\n\
                 /shop/web: Invalid JSON (1 problem above)",
            ),
            (
                409,
                r#"{"message":"An app with id [/shop/web] already exists."}"#,
                Subject::file("-"),
                2,
                "An app with id [/shop/web] already exists.",
            ),
            (
                409,
                r#"{"message":"App is locked by one or more deployments.","deployments":[{"id":"d1"},{"id":"d2"}]}"#,
                Subject::app(&app),
                1,
                "app /shop/web is locked by deployments d1, d2; wait for it \
                 (corral deployments) or override it with --force",
            ),
            (
                404,
                r#"{"message":"App '/shop/web' does not exist"}"#,
                Subject::app(&app),
                2,
                "app /shop/web does not exist",
            ),
            (
                400,
                r#"{"message":"the body's id /a is not the path's /shop/web"}"#,
                Subject::app(&app),
                2,
                "the body's id /a is not the path's /shop/web",
            ),
            (
                502,
                r#"{"message":"the leader 10.0.0.1:8080 is unreachable: refused"}"#,
                Subject::none(),
                1,
                "the leader 10.0.0.1:8080 is unreachable: refused (HTTP 502)",
            ),
            (
                404,
                r#"{"message":"no such resource in this Marathon-compatible API"}"#,
                Subject::app(&app),
                1,
                "no such resource in this Marathon-compatible API (HTTP 404)",
            ),
            (500, "  boom\n", Subject::none(), 1, "boom (HTTP 500)"),
        ];
        for (status, body, subject, code, want) in cases {
            let x = explain(*status, body, *subject);
            let (got_code, msg) = match &x.error {
                CliError::Usage(m) => (2, m.clone()),
                CliError::Failed(e) => (1, format!("{e:#}")),
            };
            let mut got = x.lines.clone();
            got.push(msg);
            assert_eq!(got.join("\n"), *want, "HTTP {status}");
            assert_eq!(got_code, *code, "HTTP {status}: {want}");
        }
    }
}
