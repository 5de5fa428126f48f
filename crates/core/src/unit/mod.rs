//! fleet's units, the pure part: unit names and their specifiers, the
//! unit-file parser and its serialisation (and fleet's SHA-1 hash of it),
//! the `[X-Fleet]` requirements, Go's `path.Match` globs, and the placement
//! planner that puts units on machines.
//!
//! Invariants:
//! - No IO, no clock, no randomness, no async: the unit engine, the agent's
//!   unit runner and the API call in with values and get values back.
//! - Bad input (a name, a file, an `[X-Fleet]` section) is an error naming
//!   what is wrong and what to write instead, never a panic.
//! - Validated types ([`UnitName`], [`UnitFile`]) deserialize through their
//!   validating constructors, so the replicated state never holds a bad one.
//! - The parser and [`Requirements::of`] also run inside `State::apply`, so
//!   what they accept is part of the replicated format: a file or name
//!   accepted once must stay accepted, with the same meaning.

pub mod file;
pub mod fleet;
pub mod glob;
pub mod hash;
pub mod name;
pub mod placement;
pub mod specifier;

#[cfg(test)]
mod fuzz;

pub use file::{ParseError, UnitFile, UnitOption};
pub use fleet::{RequirementError, Requirements};
pub use glob::{glob_match, Glob, GlobError};
pub use name::{NameError, UnitName};
pub use placement::{global_targets, global_targets_with, plan, Machine, Placed, Plan};
pub use specifier::{expand, Specifiers};
