//! corral's pure core: the replicated state machine and the values that flow
//! through it.
//!
//! Invariants:
//! - No IO, no clock, no randomness, no async. Time (`now_ms`) and identity
//!   (the log index) arrive inside [`Request`] and as arguments.
//! - [`State::apply`] is deterministic: the same log gives the same state on
//!   every server, today and after an upgrade.
//! - [`Command`] is a persistent format (it is stored in the Raft log):
//!   variants are appended, never renumbered or repurposed.

pub mod allocator;
pub mod app;
pub mod command;
pub mod constraint;
pub mod deploy;
pub mod event;
pub mod framework;
pub mod kv;
pub mod machine;
pub mod resources;
pub mod state;
pub mod task;
pub mod unit;

pub use command::{Command, Request, Response};
pub use event::Event;
pub use framework::{Framework, FrameworkId, FrameworkInfo};
pub use kv::{KeyError, KvEntry};
pub use machine::{Agent, AgentRegistration, AgentStatus, MachineId, Resources};
pub use state::State;
pub use task::{StatusRecord, Task, TaskId, TaskSpec, TaskState};
