//! [`ValueTable`]: a single typed value with a dirty mark, stored as one JSON entry under its
//! table's prefix: a task's gift counter, `sub_trend`'s memory of usual subs and spikes.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::name::TableName;
use super::table::{StateWrite, Table};

/// One value; changing it writes it at the next commit.
#[derive(Debug)]
pub struct ValueTable<V> {
    name: TableName,
    value: V,
    dirty: bool,
}

impl<V> ValueTable<V> {
    /// A table named `name` holding `value` (not written until changed).
    pub fn new(name: TableName, value: V) -> Self {
        ValueTable {
            name,
            value,
            dirty: false,
        }
    }

    /// The value.
    pub fn get(&self) -> &V {
        &self.value
    }

    /// The value to change: it is written at the next commit.
    pub fn get_mut(&mut self) -> &mut V {
        self.dirty = true;
        &mut self.value
    }
}

impl<V: Serialize + DeserializeOwned> Table for ValueTable<V> {
    fn name(&self) -> TableName {
        self.name
    }

    fn take_writes(&mut self, out: &mut Vec<StateWrite>) {
        if std::mem::take(&mut self.dirty) {
            let value = serde_json::to_vec(&self.value).expect("table values serialize");
            out.push((self.name.prefix().to_vec(), Some(value)));
        }
    }

    fn restore(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if !key.is_empty() {
            return Err("a single-value table has no key after its prefix".into());
        }
        self.value =
            serde_json::from_slice(value).map_err(|e| format!("value is not valid: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_written_once_and_a_restore_is_clean() {
        let mut t = ValueTable::new(TableName::SUB_TREND_MEMORY, vec![1u8]);
        let mut out = Vec::new();
        t.take_writes(&mut out);
        assert!(out.is_empty(), "not written until changed");
        t.get_mut().push(2);
        t.take_writes(&mut out);
        t.take_writes(&mut out);
        assert_eq!(out, vec![(b"\x01u".to_vec(), Some(b"[1,2]".to_vec()))]);

        t.restore(b"", b"[7]").unwrap();
        assert_eq!(t.get(), &vec![7]);
        out.clear();
        t.take_writes(&mut out);
        assert!(out.is_empty());
        assert!(t.restore(b"x", b"[7]").is_err());
        assert!(t.restore(b"", b"{").is_err());
    }
}
