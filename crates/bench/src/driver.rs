//! Load and probes, independent of any store.
//!
//! [`run`] is a closed loop: `clients` tasks, each with exactly one
//! operation in flight, for a fixed time; it measures throughput and latency
//! percentiles of the operations that succeeded. [`first_ack`] fires a new
//! attempt every few milliseconds (without waiting for earlier ones) until
//! one succeeds, and says when — the failover clock.
//!
//! Both are bounded on their own: no op starts after the duration, the run
//! stops after [`MAX_OPS`] ops in total, each op is cut off after
//! [`OP_TIMEOUT`], probes stop at their deadline with at most
//! [`PROBES_IN_FLIGHT`] outstanding. Percentiles are computed by pure
//! functions over the recorded samples.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Ops after which a run stops even if its time is not up.
pub const MAX_OPS: u64 = 2_000_000;
/// An op slower than this counts as an error.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause of a client after a failed op, so a down server is not spun on.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Outcome of one closed-loop run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Operations that succeeded.
    pub ops: u64,
    /// Wall time from the first op started to the last op finished.
    pub secs: f64,
    pub ops_per_sec: f64,
    /// Latency percentiles of the successful ops.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Operations that failed or timed out.
    pub errors: u64,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
}

impl Stats {
    /// Stats from raw samples. Pure.
    pub fn from_samples(
        mut latencies: Vec<Duration>,
        errors: u64,
        first_error: Option<String>,
        secs: f64,
    ) -> Stats {
        latencies.sort_unstable();
        let ops = latencies.len() as u64;
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        Stats {
            ops,
            secs,
            ops_per_sec: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            p50_ms: ms(percentile(&latencies, 0.50)),
            p99_ms: ms(percentile(&latencies, 0.99)),
            errors,
            first_error,
        }
    }
}

/// Nearest-rank percentile `p` (0 < p ≤ 1) of `sorted`; `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Runs `op(client_index, seq)` in a closed loop from `clients` concurrent
/// clients until `duration` has passed (or [`MAX_OPS`] ops were started).
/// `seq` counts from 0 per client, so `(client, seq)` names a new key.
pub async fn run<F, Fut>(clients: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let started_ops = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut set = JoinSet::new();
    for client in 0..clients {
        let op = op.clone();
        let started_ops = started_ops.clone();
        set.spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let mut seq = 0u64;
            while Instant::now() < end && started_ops.fetch_add(1, Ordering::Relaxed) < MAX_OPS {
                let t = Instant::now();
                match tokio::time::timeout(OP_TIMEOUT, op(client, seq)).await {
                    Ok(Ok(())) => latencies.push(t.elapsed()),
                    Ok(Err(e)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                    Err(_) => {
                        errors += 1;
                        first_error
                            .get_or_insert_with(|| format!("op timed out after {OP_TIMEOUT:?}"));
                    }
                }
                seq += 1;
            }
            (latencies, errors, first_error)
        });
    }
    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((l, e, f)) => {
                latencies.extend(l);
                errors += e;
                first_error = first_error.or(f);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("client task failed: {e}"));
            }
        }
    }
    Stats::from_samples(
        latencies,
        errors,
        first_error,
        start.elapsed().as_secs_f64(),
    )
}

/// A new probe starts this often while none has succeeded.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// One probe attempt is abandoned after this long.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many probe attempts are outstanding at once. Writes sent
/// to a survivor before it notices the leader is gone can hang until their
/// timeout (etcd's do), so this must cover PROBE_TIMEOUT / PROBE_EVERY, or
/// the cap, not the system, would set the failover time.
pub const PROBES_IN_FLIGHT: usize = 512;

/// The first successful probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// From the start of the clock to the first success.
    pub after: Duration,
    /// Attempts started until then.
    pub attempts: u64,
    /// The first and the last failure seen before it (what the system
    /// answered while it had no leader), if any.
    pub first_error: Option<String>,
    pub last_error: Option<String>,
}

impl Ack {
    /// `623 ms (62 attempts; first failure: …; last: …)`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{:.0} ms ({} attempts",
            self.after.as_secs_f64() * 1e3,
            self.attempts
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!("; first failure: {e}"));
        }
        if let Some(e) = self
            .last_error
            .as_ref()
            .filter(|e| Some(*e) != self.first_error.as_ref())
        {
            s.push_str(&format!("; last: {e}"));
        }
        s.push(')');
        s
    }
}

/// Starts `attempt(n)` every [`PROBE_EVERY`] (n = 0, 1, …) without waiting
/// for earlier attempts, and returns when the first attempt succeeded,
/// counted from `since`. Fails with the last error seen if none has
/// succeeded by `since + within`.
pub async fn first_ack<F, Fut>(since: Instant, within: Duration, mut attempt: F) -> Result<Ack>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let deadline = since + within;
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = JoinSet::new();
    let mut n = 0u64;
    let (mut first_error, mut last_error) = (None::<String>, None::<String>);
    loop {
        tokio::select! {
            _ = tick.tick(), if in_flight.len() < PROBES_IN_FLIGHT => {
                let fut = attempt(n);
                n += 1;
                in_flight.spawn(async move {
                    match tokio::time::timeout(PROBE_TIMEOUT, fut).await {
                        Ok(Ok(())) => Ok(Instant::now()),
                        Ok(Err(e)) => Err(format!("{e:#}")),
                        Err(_) => Err(format!("attempt timed out after {PROBE_TIMEOUT:?}")),
                    }
                });
            }
            Some(joined) = in_flight.join_next() => {
                let e = match joined {
                    Ok(Ok(at)) => {
                        let after = at.saturating_duration_since(since);
                        return Ok(Ack { after, attempts: n, first_error, last_error });
                    }
                    Ok(Err(e)) => e,
                    Err(e) => format!("probe task failed: {e}"),
                };
                first_error.get_or_insert_with(|| e.clone());
                last_error = Some(e);
            }
            _ = tokio::time::sleep_until(deadline) => {
                let last = last_error.as_deref().unwrap_or("no attempt finished");
                bail!("no write acknowledged within {within:?} ({n} attempts); last error: {last}")
            }
        }
    }
}

/// Polls `f` every 50 ms until it returns `Ok`, or fails after `within`
/// saying what was awaited and the last error.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            bail!("timed out after {within:?} waiting for {what}; last: {last:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_nearest_rank() {
        let cases: &[(&[u64], f64, Option<u64>)] = &[
            (&[], 0.5, None),
            (&[7], 0.5, Some(7)),
            (&[7], 0.99, Some(7)),
            (&[1, 2, 3, 4], 0.5, Some(2)),
            (&[1, 2, 3, 4], 0.99, Some(4)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, Some(5)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, Some(9)),
        ];
        for (sorted, p, want) in cases {
            assert_eq!(percentile(sorted, *p), *want, "p{p} of {sorted:?}");
        }
    }

    #[test]
    fn stats_from_samples() {
        let s = Stats::from_samples(
            vec![ms(3), ms(1), ms(2), ms(4)],
            1,
            Some("boom".into()),
            2.0,
        );
        assert_eq!(s.ops, 4);
        assert_eq!(s.ops_per_sec, 2.0);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 4.0);
        assert_eq!(s.errors, 1);
        assert_eq!(s.first_error.as_deref(), Some("boom"));
        assert_eq!(Stats::from_samples(vec![], 0, None, 0.0).ops_per_sec, 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_stops_at_its_duration() {
        let s = run(4, ms(100), |_, _| async {
            tokio::time::sleep(ms(10)).await;
            Ok(())
        })
        .await;
        // 4 clients × 10 ops of 10 ms each within 100 ms.
        assert_eq!(s.ops, 40);
        assert_eq!(s.errors, 0);
        assert_eq!(s.p50_ms, 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_counts_errors() {
        let s = run(1, ms(100), |_, seq| async move {
            tokio::time::sleep(ms(10)).await;
            if seq % 2 == 0 {
                Ok(())
            } else {
                anyhow::bail!("odd {seq}")
            }
        })
        .await;
        assert!(s.ops > 0 && s.errors > 0, "{s:?}");
        assert_eq!(s.first_error.as_deref(), Some("odd 1"));
    }

    #[tokio::test(start_paused = true)]
    async fn first_ack_times_the_first_success() {
        let since = Instant::now();
        // Attempts fail until 250 ms have passed; each takes 20 ms.
        let ack = first_ack(since, Duration::from_secs(5), |_| async move {
            tokio::time::sleep(ms(20)).await;
            if since.elapsed() >= ms(250) {
                Ok(())
            } else {
                anyhow::bail!("not yet")
            }
        })
        .await
        .unwrap();
        assert!(ack.after >= ms(250) && ack.after <= ms(270), "{ack:?}");
        // One attempt starts every 10 ms until the first success lands.
        assert!((24..=28).contains(&ack.attempts), "{ack:?}");
        assert_eq!(ack.first_error.as_deref(), Some("not yet"));
        assert!(
            ack.describe().starts_with(&format!(
                "{} ms ({} attempts; first failure: not yet)",
                ack.after.as_millis(),
                ack.attempts
            )),
            "{}",
            ack.describe()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn first_ack_gives_up_at_its_deadline() {
        let err = first_ack(Instant::now(), ms(200), |_| async { anyhow::bail!("down") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("last error: down"), "{err}");
    }
}
