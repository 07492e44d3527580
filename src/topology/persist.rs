//! Where a task's commit meets the state layer: its state changes and its position (offset,
//! watermark, changelog offsets) written to a [`StateBackend`] in one batch. Every runner persists
//! through this one function, after the outputs it covers are durable.

use std::collections::BTreeMap;

use super::task::Commit;
use crate::store::{Checkpoint, StateBackend, StoreError, StoreWrite};

/// Applies one task commit (its state changes and position) to `backend` for `partition`, in one
/// batch, with the changelog offsets its flush markers got (empty when there is no changelog).
pub fn apply_commit(
    backend: &mut dyn StateBackend,
    partition: i32,
    commit: Commit,
    changelog_offsets: BTreeMap<String, i64>,
) -> Result<(), StoreError> {
    let writes: Vec<StoreWrite> = commit
        .writes
        .into_iter()
        .map(|(store, key, value)| StoreWrite { store, key, value })
        .collect();
    let checkpoint = Checkpoint {
        generation: commit.generation,
        input_offset: commit.input_offset,
        more_offsets: commit.more_offsets,
        watermark_ms: commit.watermark_ms,
        changelog_offsets,
    };
    backend.apply(partition, &writes, &checkpoint)
}
