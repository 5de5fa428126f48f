//! A small HTTP client for corral's API: tries each configured server in
//! turn, follows 307 redirects to the leader (method and body kept), and
//! turns error bodies into [`ClientError::Rejected`] with the server's message.

use std::time::Duration;

pub use reqwest::Method;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::native::{ApiError, ClusterView};

/// Why a call failed. `Unreachable` and `NoLeader` are worth retrying;
/// `Rejected` with a 4xx status is the caller's input.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no server answered at {endpoints}: {last}; is the cluster up? (corral up, or set CORRAL_ENDPOINT)")]
    Unreachable { endpoints: String, last: String },
    #[error("{message} (HTTP {status}{})", field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("the cluster has no leader right now (HTTP 503): {0}; retry in a moment")]
    NoLeader(String),
    #[error("unexpected answer from {url}: {detail}")]
    BadResponse { url: String, detail: String },
}

impl ClientError {
    /// True for failures that may go away by retrying (no leader, no server).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::NoLeader(_)
        )
    }
}

/// Talks to one of several servers' master API.
#[derive(Debug, Clone)]
pub struct Client {
    endpoints: Vec<String>,
    http: reqwest::Client,
    /// How long to keep retrying while no leader is known or no server answers.
    retry_for: Duration,
}

impl Client {
    /// `endpoints` are `host:port` (or `http://host:port`) of servers' master API.
    pub fn new(endpoints: Vec<String>) -> Client {
        Client::with_timeout(endpoints, Duration::from_secs(10))
    }

    /// Like [`Client::new`] with a per-request timeout.
    pub fn with_timeout(endpoints: Vec<String>, timeout: Duration) -> Client {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_millis(500))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("reqwest client with static settings");
        let endpoints = endpoints
            .into_iter()
            .map(|e| {
                let e = e.trim().trim_end_matches('/').to_string();
                if e.starts_with("http://") || e.starts_with("https://") {
                    e
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        Client {
            endpoints,
            http,
            retry_for: Duration::ZERO,
        }
    }

    /// The same client without a limit on a whole request, for streams
    /// that stay open (`kv watch`); connecting is still limited.
    pub fn streaming(&self) -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("reqwest client with static settings");
        Client {
            endpoints: self.endpoints.clone(),
            http,
            retry_for: self.retry_for,
        }
    }

    /// Keeps retrying for up to `d` while the cluster has no leader (an
    /// election) or no server answers (one restarting), instead of failing
    /// at once. Interactive commands and tests want this; the agent's own
    /// loops do not.
    pub fn retrying(mut self, d: Duration) -> Client {
        self.retry_for = d;
        self
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The underlying reqwest client (for streaming calls).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GET `path` (with query) and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// Sends `body` as JSON with `method` to `path` and decodes the JSON answer.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let resp = self.send(method, path, body).await?;
        let url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|e| ClientError::BadResponse {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse {
            url,
            detail: format!(
                "{e}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ),
        })
    }

    /// Sends the request to the first server that answers and returns the
    /// successful response (2xx); error statuses become [`ClientError`].
    /// Retryable failures are retried for the client's `retry_for`.
    pub async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let deadline = tokio::time::Instant::now() + self.retry_for;
        let mut pause = Duration::from_millis(20);
        loop {
            match self.send_once(method.clone(), path, body).await {
                Err(e) if e.is_retryable() && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                other => return other,
            }
        }
    }

    async fn send_once<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut last = String::from("no endpoints configured");
        let mut no_leader = None;
        for base in &self.endpoints {
            let url = format!("{base}{path}");
            let mut req = self.http.request(method.clone(), &url);
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => {
                    // This server knows no leader; another one might.
                    no_leader = Some(error_message(resp).await.1);
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let (code, message, field) = error_message(resp).await;
                    return Err(ClientError::Rejected {
                        status,
                        code,
                        message,
                        field,
                    });
                }
                Err(e) => last = format!("{url}: {}", short_error(&e)),
            }
        }
        match no_leader {
            Some(msg) => Err(ClientError::NoLeader(msg)),
            None => Err(ClientError::Unreachable {
                endpoints: self.endpoints.join(","),
                last,
            }),
        }
    }

    /// `GET /v1/cluster`.
    pub async fn cluster(&self) -> Result<ClusterView, ClientError> {
        self.get("/v1/cluster").await
    }
}

/// Decodes an error body: corral's [`ApiError`], or any text.
async fn error_message(resp: reqwest::Response) -> (String, String, Option<String>) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<ApiError>(&text) {
        Ok(e) => (e.code, e.message, e.field),
        Err(_) => {
            let msg = if text.trim().is_empty() {
                status.to_string()
            } else {
                text.trim().to_string()
            };
            (status.as_str().to_string(), msg, None)
        }
    }
}

fn short_error(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    }
}
