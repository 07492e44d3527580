//! The interface between state tables and the engine: [`Table`], one table whatever its types, and
//! [`StateTables`], what owns tables (a processor or a part of one) and shows them to the engine.

use super::name::TableName;

/// A state change for the store: `None` deletes the key.
pub type StateWrite = (Vec<u8>, Option<Vec<u8>>);

/// One state table as the engine sees it, whatever its key and value types.
pub trait Table {
    /// The table's name, which fixes the key prefix its entries are stored under.
    fn name(&self) -> TableName;

    /// Appends a write for every entry changed since the last call (full store keys, under the
    /// table's prefix; `None` deletes) and clears the marks.
    fn take_writes(&mut self, out: &mut Vec<StateWrite>);

    /// Restores one persisted entry; `key` is the entry's key after the table's prefix.
    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String>;
}

/// Something that keeps its state in tables: a processor, or a part of one (its gift counter, its
/// spike tracker). It shows every table it owns to `visit`, always in the same order.
pub trait StateTables {
    /// Calls `visit` once per table.
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table));
}
