//! openraft's storage conformance suite against the redb log store and the
//! state machine, each run in a fresh temp dir.

use corral_store::openraft::testing::{StoreBuilder, Suite};
use corral_store::openraft::{AnyError, StorageError, StorageIOError};
use corral_store::{LogStore, StateMachineStore, TypeConfig};
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<u64>> {
        let io = |e: &dyn std::fmt::Display| {
            StorageError::from(StorageIOError::write(AnyError::error(e.to_string())))
        };
        let dir = tempfile::tempdir().map_err(|e| io(&e))?;
        let log = LogStore::open(&dir.path().join("raft.redb")).map_err(|e| io(&e))?;
        let sm = StateMachineStore::open(dir.path()).map_err(|e| io(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage conformance suite failed: {e}");
    }
}
