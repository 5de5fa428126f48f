//! Sends the instances' requests (batches of [`BATCH`] launches in one
//! `POST /v1/units`, as `corral start` sends several units; or one DELETE
//! each), a fixed number in flight, and counts what came back. Owns no
//! policy beyond its bounds: it stops sending at its deadline and after
//! [`MAX_ERRORS`] failures.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Sent, UnitsApi};

/// Failed requests after which no more are sent.
const MAX_ERRORS: u64 = 10;
/// How often progress goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Instances launched per `POST /v1/units`.
pub const BATCH: usize = 500;

/// What is sent for each instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST /v1/units` with [`BATCH`] instances, each `{"desired":
    /// "launched"}` (from its template).
    Launch,
    /// `DELETE /v1/units/{name}`.
    Destroy,
}

/// Sends `op` for every name, `in_flight` at a time, from now until all
/// are answered (or `within` has passed, or [`MAX_ERRORS`] failed).
pub async fn send_all(
    api: &UnitsApi,
    names: Vec<String>,
    op: Op,
    in_flight: usize,
    within: Duration,
    what: &str,
) -> Sent {
    let total = names.len();
    let names = Arc::new(names);
    let next = Arc::new(AtomicUsize::new(0));
    let (ok, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let deadline = start + within;
    // Dropped (so aborted) when this returns, however it returns.
    let mut workers = JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (api, names, next) = (api.clone(), names.clone(), next.clone());
        let (ok, errors, first_error) = (ok.clone(), errors.clone(), first_error.clone());
        workers.spawn(async move {
            while Instant::now() < deadline && errors.load(Ordering::Relaxed) < MAX_ERRORS {
                let step = if op == Op::Launch { BATCH } else { 1 };
                let i = next.fetch_add(step, Ordering::Relaxed);
                let Some(chunk) = names
                    .get(i..(i + step).min(names.len()))
                    .filter(|c| !c.is_empty())
                else {
                    return;
                };
                let sent = match op {
                    Op::Launch => api.launch_many(chunk).await,
                    Op::Destroy => api.destroy(&chunk[0]).await,
                };
                match sent {
                    Ok(()) => ok.fetch_add(chunk.len() as u64, Ordering::Relaxed),
                    Err(e) => {
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| format!("{e:#}"));
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    let mut progress = tokio::time::interval(PROGRESS_EVERY);
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    progress.tick().await;
    let finished = loop {
        tokio::select! {
            joined = workers.join_next() => {
                if joined.is_none() {
                    break true;
                }
            }
            _ = tokio::time::sleep_until(deadline) => break false,
            _ = progress.tick() => eprintln!(
                "{what}: {} of {total} answered",
                ok.load(Ordering::Relaxed) + errors.load(Ordering::Relaxed)
            ),
        }
    };
    let took = start.elapsed();
    let (ok, errors) = (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let mut first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !finished {
        first_error.get_or_insert_with(|| format!("not all answered within {within:?}"));
    } else if ok + errors < total as u64 {
        first_error.get_or_insert_with(|| format!("stopped after {errors} failures"));
    }
    eprintln!(
        "{what}: {ok} of {total} answered with success in {:.2} s ({errors} failed)",
        took.as_secs_f64()
    );
    Sent {
        ok,
        took: finished.then_some(took),
        errors,
        first_error,
    }
}
