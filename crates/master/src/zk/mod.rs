//! Leader detection over ZooKeeper's wire protocol, so Mesos-ecosystem
//! clients that find the master with `zk://host:2181,.../mesos` (pymesos,
//! mesoshttp, Mesos agents, Marathon) find corral's leader the same way and
//! follow it across failovers. Every server answers from its own view of
//! the Raft leader; the tree is read-only (`tree`: what is answered, pure;
//! `server`: sessions over TCP).

pub mod server;
pub mod tree;

pub use server::serve;
