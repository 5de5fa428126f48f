//! Marathon's REST API v2 on the wire (Marathon 1.x, as the PyPI `marathon`
//! 0.13.0 client parses it): the app JSON in both directions, tasks,
//! deployments, the launch queue, `/v2/info`, error bodies and the
//! `/v2/events` stream.
//!
//! One concept per file:
//! - [`time`]: ISO-8601 UTC timestamps with milliseconds (`…T09:09:17.614Z`).
//! - [`app`]: what `POST`/`PUT /v2/apps` accept ([`app::AppRequest`]),
//!   turned into a core `AppSpec` by [`app::to_spec`] with Marathon's
//!   defaults and validation.
//! - [`app_view`]: what `GET /v2/apps` shows ([`app_view::AppView`]), and
//!   `embed=` parsing.
//! - [`task`]: a task as `/v2/tasks` and `/v2/apps/{id}/tasks` show it.
//! - [`deployment`]: `/v2/deployments` entries, their steps, and the
//!   `{deploymentId, version}` result of every change.
//! - [`queue`]: `/v2/queue` items, with corral's reason for the wait.
//! - [`info`]: `/v2/info` and `/v2/leader`.
//! - [`error`]: Marathon's error bodies and their status codes.
//! - [`event`]: `/v2/events` server-sent events.
//!
//! Invariants:
//! - Every JSON object a view serialises carries only keys marathon-python
//!   0.13.0 accepts (its models take keyword arguments only, and an unknown
//!   key raises); the tests compare key sets with its whitelists.
//! - Every timestamp is `YYYY-MM-DDTHH:MM:SS.mmmZ`, never `+00:00`.
//! - Pure: no IO, no clock. Times arrive as ms since the epoch.

pub mod app;
pub mod app_view;
pub mod deployment;
pub mod error;
pub mod event;
pub mod info;
pub mod queue;
pub mod task;
pub mod time;

/// The keys marathon-python 0.13.0 accepts, object by object (§1.13 of the
/// API reference), for the tests of every view.
#[cfg(test)]
pub(crate) mod whitelist;
