//! Processor state as named, typed tables (Arroyo's `arroyo-state` tables): a processor keeps its
//! state in [`KeyedTable`]s, [`ValueTable`]s, [`WindowTable`]s and [`SessionTable`]s and shows them to the engine
//! through [`StateTables`]; the engine saves ([`take_writes`]) and restores ([`restore`]) through them.
//! Pure: the tables encode entries as bytes and know nothing of the store behind them.

pub mod first_seen;
pub mod keyed;
pub mod name;
pub mod session;
pub mod table;
pub mod value;
pub mod window;

pub use first_seen::FirstSeenTable;
pub use keyed::{KeyedTable, TableKey};
pub use name::TableName;
pub use session::SessionTable;
pub use table::{StateTables, StateWrite, Table};
pub use value::ValueTable;
pub use window::{parse_window_key, window_key, WindowTable};

/// The writes of every table of `owner` changed since the last call, table by table in the order
/// `owner` shows them: what a commit hands to the store and changelog.
pub fn take_writes<T: StateTables + ?Sized>(owner: &mut T) -> Vec<StateWrite> {
    let mut writes = Vec::new();
    owner.tables(&mut |table| table.take_writes(&mut writes));
    writes
}

/// Routes one persisted entry of `owner`'s store to the table whose prefix it carries and restores
/// it there. An entry no table (or more than one) claims is an error.
pub fn restore<T: StateTables + ?Sized>(
    owner: &mut T,
    key: &[u8],
    value: &[u8],
) -> Result<(), String> {
    let mut owners = Vec::new();
    let mut result = Ok(());
    owner.tables(&mut |table| {
        let name = table.name();
        if let Some(rest) = name.strip(key) {
            if owners.is_empty() {
                result = table
                    .restore(rest, value)
                    .map_err(|e| format!("table {}: {e}", name.as_str()));
            }
            owners.push(name.as_str());
        }
    });
    match owners.len() {
        0 => Err(format!(
            "no state table owns the entry {}",
            String::from_utf8_lossy(key).escape_debug()
        )),
        1 => result,
        _ => Err(format!(
            "tables {} share a key prefix: give each table of a processor its own name",
            owners.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tumbling::TumblingWindows;
    use crate::window::WindowOperator;

    use crate::window::aggregate::CountRecords as Count;

    /// A processor's state: windows, a per-channel table and a single value.
    struct Owner {
        windows: WindowTable<Count, TumblingWindows<Count>>,
        channels: KeyedTable<String, Vec<u32>>,
        counter: ValueTable<u64>,
    }

    impl Owner {
        fn new() -> Self {
            Owner {
                windows: WindowTable::new(
                    TableName::WINDOWS,
                    Box::new(TumblingWindows::new(Count, 60_000, 0)),
                ),
                channels: KeyedTable::new(TableName::AD_SLOT_CHANNELS),
                counter: ValueTable::new(TableName::GIFTS, 0),
            }
        }
    }

    impl StateTables for Owner {
        fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
            visit(&mut self.windows);
            visit(&mut self.channels);
            visit(&mut self.counter);
        }
    }

    #[test]
    fn writes_of_all_tables_restore_an_equal_owner() {
        let mut owner = Owner::new();
        owner.windows.add("nymn", 1_000, &());
        owner.windows.add("nymn", 61_000, &());
        owner.channels.insert("nymn".into(), vec![1, 2]);
        *owner.counter.get_mut() = 7;
        let writes = take_writes(&mut owner);
        assert_eq!(writes.len(), 4, "{writes:?}");
        assert!(take_writes(&mut owner).is_empty(), "the marks are cleared");

        let mut restored = Owner::new();
        for (key, value) in &writes {
            restore(&mut restored, key, value.as_deref().unwrap()).unwrap();
        }
        assert!(
            take_writes(&mut restored).is_empty(),
            "restored entries are clean"
        );
        assert_eq!(restored.channels.get("nymn"), Some(&vec![1, 2]));
        assert_eq!(*restored.counter.get(), 7);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        owner.windows.peek("nymn", &mut a);
        restored.windows.peek("nymn", &mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn entries_route_by_prefix_and_unclaimed_ones_are_errors() {
        let mut owner = Owner::new();
        restore(&mut owner, b"\x01anymn", b"[3]").unwrap();
        restore(&mut owner, b"\x01g", b"5").unwrap();
        restore(&mut owner, &window_key("nymn", 0), b"2").unwrap();
        assert_eq!(owner.channels.get("nymn"), Some(&vec![3]));
        assert_eq!(*owner.counter.get(), 5);
        assert_eq!(owner.windows.open_windows(), 1);

        let err = restore(&mut owner, b"\x01dnymn", b"{}").unwrap_err();
        assert!(err.contains("no state table owns"), "{err}");
        let err = restore(&mut owner, b"\x01anymn", b"not json").unwrap_err();
        assert!(err.starts_with("table ad_slot_channels:"), "{err}");
        let err = restore(&mut owner, b"\x01gx", b"5").unwrap_err();
        assert!(err.starts_with("table gifts:"), "{err}");
    }

    #[test]
    fn two_tables_of_one_name_are_refused_at_restore() {
        struct Twice(ValueTable<u64>, ValueTable<u64>);
        impl StateTables for Twice {
            fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
                visit(&mut self.0);
                visit(&mut self.1);
            }
        }
        let mut twice = Twice(
            ValueTable::new(TableName::GIFTS, 0),
            ValueTable::new(TableName::GIFTS, 0),
        );
        let err = restore(&mut twice, b"\x01g", b"1").unwrap_err();
        assert!(err.contains("share a key prefix"), "{err}");
    }
}
