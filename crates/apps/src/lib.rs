//! corral's app scheduler (Marathon's role): long-running apps kept at
//! their instance count and rolled from version to version, with a
//! Marathon-compatible REST API on :8080 of every server.
//!
//! Invariants:
//! - Apps, versions and deployments are replicated (`corral_core::app`);
//!   what the scheduler holds in memory (offers, kills sent, backoff,
//!   health check results) is leader memory, rebuilt on a new term.
//! - What to do is decided by pure functions (`corral_core::deploy`,
//!   `corral_core::constraint`, `scheduler::placement`); this crate feeds
//!   them and carries their decisions out.
//! - It is a framework like any other: offers, launches, kills and status
//!   acknowledgements go through the master's scheduler path.

pub mod proxy;
pub mod routes;
pub mod scheduler;
pub mod time;

use std::sync::{Arc, Mutex, MutexGuard};

use corral_master::context::MasterCtx;

use scheduler::book::Book;

/// What the app API and the scheduler share.
pub struct AppsCtx {
    pub master: Arc<MasterCtx>,
    /// This server's app API port (the leader's is derived from it).
    pub app_port: u16,
    book: Mutex<Book>,
}

impl AppsCtx {
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts the scheduler loop; returns the context the API serves from.
pub fn start(master: Arc<MasterCtx>, app_port: u16) -> Arc<AppsCtx> {
    let ctx = Arc::new(AppsCtx {
        master,
        app_port,
        book: Mutex::new(Book::default()),
    });
    tokio::spawn(scheduler::run(ctx.clone()));
    ctx
}

pub use routes::router;
