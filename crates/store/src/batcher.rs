//! Proposal batching on the leader.
//!
//! openraft 0.9 waits for each appended entry to be flushed (one fsync)
//! before it takes the next one, so one request per entry would cap writes
//! at one fsync each. Instead, every `Store::write` queues here; one task
//! turns whatever has queued up into a single log entry (a batch of
//! requests) while at most [`MAX_IN_FLIGHT`] batches are being committed.
//! Under load, batches grow by themselves, up to [`MAX_BATCH`] requests and
//! [`MAX_ENTRY_WEIGHT`] (see `Command::weight`); alone, a write goes out at
//! once.
//!
//! Owns: the queue, the batch boundaries and handing each caller its own
//! response. Never changes what a request means or in what order requests
//! apply (queue order is log order).

use std::sync::Weak;

use corral_core::{Request, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::WriteError;
use crate::store::{Inner, Store};

/// Most requests in one log entry.
pub const MAX_BATCH: usize = 256;
/// Heaviest log entry the batcher makes (a single heavier request goes out
/// alone). Every entry must reach each follower within one AppendEntries
/// RPC, which openraft cuts off after a heartbeat interval (40 ms): 256
/// ACCEPTs of 100 tasks each once made one 25,600-task entry whose RPCs
/// timed out again and again, stalling every write for over a second.
pub const MAX_ENTRY_WEIGHT: usize = 1024;
/// Batches being committed at once (the next one fills meanwhile). One:
/// openraft 0.9 replicates an entry only after the leader's own flush, so
/// a second batch in flight gained little overlap, only smaller batches,
/// and every entry costs a disk transaction on each server and an RPC to
/// each follower. With one, 64 clients wrote ~10% more per second for
/// ~15% less server CPU per write (bench `store`, `CPU ms/1k wr`).
pub const MAX_IN_FLIGHT: usize = 1;

/// One queued write and where its answer goes.
pub struct Pending {
    pub request: Request,
    pub reply: oneshot::Sender<Result<Response, WriteError>>,
}

/// Runs until every `Store` handle is gone (the queue closes).
pub(crate) async fn run(store: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = std::sync::Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // A request that did not fit the last batch: the next one starts with it.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Wait for a free slot before draining, so requests arriving while
        // the pipeline is full join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (batch, rest) = fill(first, || rx.try_recv().ok(), |p| p.request.command.weight());
        carried = rest;
        let Some(inner) = store.upgrade() else { return };
        let store = Store::from_inner(inner);
        tokio::spawn(async move {
            let (requests, replies): (Vec<Request>, Vec<_>) =
                batch.into_iter().map(|p| (p.request, p.reply)).unzip();
            match store.write_batch(requests).await {
                Ok(responses) => {
                    for (reply, response) in replies.into_iter().zip(responses) {
                        let _ = reply.send(Ok(response));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}

/// One batch: `first`, then what `next` has queued, in order, while the
/// batch stays within [`MAX_BATCH`] requests and [`MAX_ENTRY_WEIGHT`]. Also
/// returns the item taken that did not fit (it starts the next batch).
fn fill<T>(
    first: T,
    mut next: impl FnMut() -> Option<T>,
    weight: impl Fn(&T) -> usize,
) -> (Vec<T>, Option<T>) {
    let mut total = weight(&first);
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let Some(item) = next() else { break };
        let w = weight(&item);
        if total + w > MAX_ENTRY_WEIGHT {
            return (batch, Some(item));
        }
        total += w;
        batch.push(item);
    }
    (batch, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of `weights` queued at once, as their weights.
    fn batches(weights: &[usize]) -> Vec<Vec<usize>> {
        let mut queue = weights.iter().copied();
        let mut out = Vec::new();
        let mut carried = None;
        while let Some(first) = carried.take().or_else(|| queue.next()) {
            let (batch, rest) = fill(first, || queue.next(), |w| *w);
            out.push(batch);
            carried = rest;
        }
        out
    }

    #[test]
    fn batches_stay_within_the_weight_and_keep_order() {
        let m = MAX_ENTRY_WEIGHT;
        assert_eq!(batches(&[1, 1, 1]), [vec![1, 1, 1]]);
        assert_eq!(
            batches(&[m / 2, m / 2, 1, 1]),
            [vec![m / 2, m / 2], vec![1, 1]],
            "the request that does not fit starts the next batch"
        );
        assert_eq!(
            batches(&[1, 3 * m, 1]),
            [vec![1], vec![3 * m], vec![1]],
            "a request heavier than the limit goes alone"
        );
        let many = vec![1; MAX_BATCH + 1];
        let got = batches(&many);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_BATCH);
    }
}
