//! The archive's row model, shared by every archived topic: a [`Schema`] of typed [`Column`]s and
//! [`ColumnBuffers`] that collect rows column by column (values plus Parquet definition and
//! repetition levels), ready for [`super::parquet_file`] to write. Pure: no I/O.

use bytes::Bytes;
use parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::ByteArray;
use parquet::schema::types::{Type, TypePtr};
use std::sync::Arc;

/// The type of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A 32-bit signed integer.
    Int32,
    /// A 64-bit signed integer.
    Int64,
    /// Milliseconds since the Unix epoch, UTC (Parquet `TIMESTAMP(MILLIS, true)` on INT64).
    TimestampMillis,
    /// A 64-bit float.
    Double,
    /// A boolean.
    Bool,
    /// UTF-8 text (Parquet `STRING` on BYTE_ARRAY).
    Utf8,
    /// Bytes without an encoding.
    Binary,
    /// A map from UTF-8 keys to UTF-8 values (Parquet `MAP`, `key_value.key` / `key_value.value`).
    StringMap,
}

/// One column of a [`Schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// Whether every row has a value (Parquet `required`); otherwise nulls are allowed.
    pub required: bool,
    /// Whether to dictionary-encode it (for low-cardinality text such as channel or kind).
    pub dictionary: bool,
    /// What it means, written to the file's key-value metadata as `chatpulse.doc.<name>`.
    pub doc: String,
}

impl Column {
    /// A nullable column without dictionary encoding.
    pub fn optional(name: &str, ty: ColumnType, doc: &str) -> Column {
        Column {
            name: name.to_owned(),
            ty,
            required: false,
            dictionary: false,
            doc: doc.to_owned(),
        }
    }

    /// A column every row has a value for.
    pub fn required(name: &str, ty: ColumnType, doc: &str) -> Column {
        Column {
            required: true,
            ..Column::optional(name, ty, doc)
        }
    }

    /// The same column, dictionary-encoded.
    pub fn with_dictionary(mut self) -> Column {
        self.dictionary = true;
        self
    }

    /// The dotted Parquet paths of its leaf columns (a map has two).
    pub fn leaf_paths(&self) -> Vec<String> {
        match self.ty {
            ColumnType::StringMap => vec![
                format!("{}.key_value.key", self.name),
                format!("{}.key_value.value", self.name),
            ],
            _ => vec![self.name.clone()],
        }
    }

    fn parquet_type(&self) -> Type {
        let repetition = if self.required {
            Repetition::REQUIRED
        } else {
            Repetition::OPTIONAL
        };
        let primitive = |physical, logical: Option<LogicalType>| {
            Type::primitive_type_builder(&self.name, physical)
                .with_repetition(repetition)
                .with_logical_type(logical)
                .build()
                .expect("a valid primitive column")
        };
        match self.ty {
            ColumnType::Int32 => primitive(PhysicalType::INT32, None),
            ColumnType::Int64 => primitive(PhysicalType::INT64, None),
            ColumnType::TimestampMillis => primitive(
                PhysicalType::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            ),
            ColumnType::Double => primitive(PhysicalType::DOUBLE, None),
            ColumnType::Bool => primitive(PhysicalType::BOOLEAN, None),
            ColumnType::Utf8 => primitive(PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            ColumnType::Binary => primitive(PhysicalType::BYTE_ARRAY, None),
            ColumnType::StringMap => {
                let leaf = |name: &str| {
                    Arc::new(
                        Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                            .with_repetition(Repetition::REQUIRED)
                            .with_logical_type(Some(LogicalType::String))
                            .build()
                            .expect("a valid map leaf"),
                    )
                };
                let key_value = Type::group_type_builder("key_value")
                    .with_repetition(Repetition::REPEATED)
                    .with_converted_type(ConvertedType::MAP_KEY_VALUE)
                    .with_fields(vec![leaf("key"), leaf("value")])
                    .build()
                    .expect("a valid map entry");
                Type::group_type_builder(&self.name)
                    .with_repetition(repetition)
                    .with_logical_type(Some(LogicalType::Map))
                    .with_fields(vec![Arc::new(key_value)])
                    .build()
                    .expect("a valid map")
            }
        }
    }
}

/// The columns of an archived topic, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The Parquet message name.
    pub name: String,
    /// The columns.
    pub columns: Vec<Column>,
}

impl Schema {
    /// The Parquet schema tree.
    pub fn parquet(&self) -> TypePtr {
        let fields = self
            .columns
            .iter()
            .map(|c| Arc::new(c.parquet_type()))
            .collect();
        Arc::new(
            Type::group_type_builder(&self.name)
                .with_fields(fields)
                .build()
                .expect("a valid message type"),
        )
    }

    /// Empty buffers for rows of this schema.
    pub fn buffers(&self) -> ColumnBuffers {
        ColumnBuffers {
            rows: 0,
            columns: self.columns.iter().map(ColumnData::new).collect(),
        }
    }
}

/// The values of one column for the rows buffered so far, with their levels.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// INT32 values; `defs` holds one definition level per row when the column is optional.
    Int32 {
        /// Non-null values.
        values: Vec<i32>,
        /// Definition levels (empty for a required column).
        defs: Vec<i16>,
    },
    /// INT64 values (integers and timestamps).
    Int64 {
        /// Non-null values.
        values: Vec<i64>,
        /// Definition levels (empty for a required column).
        defs: Vec<i16>,
    },
    /// DOUBLE values.
    Double {
        /// Non-null values.
        values: Vec<f64>,
        /// Definition levels (empty for a required column).
        defs: Vec<i16>,
    },
    /// BOOLEAN values.
    Bool {
        /// Non-null values.
        values: Vec<bool>,
        /// Definition levels (empty for a required column).
        defs: Vec<i16>,
    },
    /// BYTE_ARRAY values (text and binary).
    Bytes {
        /// Non-null values.
        values: Vec<ByteArray>,
        /// Definition levels (empty for a required column).
        defs: Vec<i16>,
    },
    /// A map: one `(def, rep)` pair per entry, or one for a null or empty map.
    Map {
        /// Keys of the entries.
        keys: Vec<ByteArray>,
        /// Values of the entries.
        values: Vec<ByteArray>,
        /// Definition levels: 0 null map (optional column only), `base` empty map, `base + 1` entry.
        defs: Vec<i16>,
        /// Repetition levels: 0 for a row's first entry, 1 for the next ones.
        reps: Vec<i16>,
    },
}

impl ColumnData {
    fn new(column: &Column) -> ColumnData {
        match column.ty {
            ColumnType::Int32 => ColumnData::Int32 {
                values: Vec::new(),
                defs: Vec::new(),
            },
            ColumnType::Int64 | ColumnType::TimestampMillis => ColumnData::Int64 {
                values: Vec::new(),
                defs: Vec::new(),
            },
            ColumnType::Double => ColumnData::Double {
                values: Vec::new(),
                defs: Vec::new(),
            },
            ColumnType::Bool => ColumnData::Bool {
                values: Vec::new(),
                defs: Vec::new(),
            },
            ColumnType::Utf8 | ColumnType::Binary => ColumnData::Bytes {
                values: Vec::new(),
                defs: Vec::new(),
            },
            ColumnType::StringMap => ColumnData::Map {
                keys: Vec::new(),
                values: Vec::new(),
                defs: Vec::new(),
                reps: Vec::new(),
            },
        }
    }
}

/// Rows of one [`Schema`], buffered column by column. Each row sets every column once, in schema
/// order, through the typed `push_*` calls and then [`ColumnBuffers::end_row`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnBuffers {
    rows: usize,
    columns: Vec<ColumnData>,
}

fn push_level<T>(values: &mut Vec<T>, defs: &mut Vec<i16>, required: bool, value: Option<T>) {
    match value {
        Some(v) => {
            values.push(v);
            if !required {
                defs.push(1);
            }
        }
        None => {
            debug_assert!(!required, "a null in a required column");
            defs.push(0);
        }
    }
}

impl ColumnBuffers {
    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The buffered columns, in schema order.
    pub fn columns(&self) -> &[ColumnData] {
        &self.columns
    }

    /// Moves every row of `other` (same schema) to the end of these buffers, leaving `other`
    /// empty with its capacity kept, so a scratch row can be reused.
    pub fn append_from(&mut self, other: &mut ColumnBuffers) {
        for (to, from) in self.columns.iter_mut().zip(&mut other.columns) {
            match (to, from) {
                (ColumnData::Int32 { values, defs }, ColumnData::Int32 { values: v, defs: d }) => {
                    values.append(v);
                    defs.append(d);
                }
                (ColumnData::Int64 { values, defs }, ColumnData::Int64 { values: v, defs: d }) => {
                    values.append(v);
                    defs.append(d);
                }
                (
                    ColumnData::Double { values, defs },
                    ColumnData::Double { values: v, defs: d },
                ) => {
                    values.append(v);
                    defs.append(d);
                }
                (ColumnData::Bool { values, defs }, ColumnData::Bool { values: v, defs: d }) => {
                    values.append(v);
                    defs.append(d);
                }
                (ColumnData::Bytes { values, defs }, ColumnData::Bytes { values: v, defs: d }) => {
                    values.append(v);
                    defs.append(d);
                }
                (
                    ColumnData::Map {
                        keys,
                        values,
                        defs,
                        reps,
                    },
                    ColumnData::Map {
                        keys: k,
                        values: v,
                        defs: d,
                        reps: r,
                    },
                ) => {
                    keys.append(k);
                    values.append(v);
                    defs.append(d);
                    reps.append(r);
                }
                (to, from) => panic!("column types differ: {to:?} and {from:?}"),
            }
        }
        self.rows += other.rows;
        other.rows = 0;
    }

    /// Marks the end of a row.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Sets INT32 column `i` of the current row; `required` must match the schema.
    pub fn push_i32(&mut self, i: usize, required: bool, value: Option<i32>) {
        match &mut self.columns[i] {
            ColumnData::Int32 { values, defs } => push_level(values, defs, required, value),
            other => panic!("column {i} is {other:?}, not INT32"),
        }
    }

    /// Sets INT64 (or timestamp) column `i` of the current row.
    pub fn push_i64(&mut self, i: usize, required: bool, value: Option<i64>) {
        match &mut self.columns[i] {
            ColumnData::Int64 { values, defs } => push_level(values, defs, required, value),
            other => panic!("column {i} is {other:?}, not INT64"),
        }
    }

    /// Sets DOUBLE column `i` of the current row.
    pub fn push_f64(&mut self, i: usize, required: bool, value: Option<f64>) {
        match &mut self.columns[i] {
            ColumnData::Double { values, defs } => push_level(values, defs, required, value),
            other => panic!("column {i} is {other:?}, not DOUBLE"),
        }
    }

    /// Sets BOOLEAN column `i` of the current row.
    pub fn push_bool(&mut self, i: usize, required: bool, value: Option<bool>) {
        match &mut self.columns[i] {
            ColumnData::Bool { values, defs } => push_level(values, defs, required, value),
            other => panic!("column {i} is {other:?}, not BOOLEAN"),
        }
    }

    /// Sets text or binary column `i` of the current row. `Bytes` lets a value share the buffer
    /// of the record it came from (`Bytes::slice_ref`) instead of copying it.
    pub fn push_bytes(&mut self, i: usize, required: bool, value: Option<Bytes>) {
        match &mut self.columns[i] {
            ColumnData::Bytes { values, defs } => {
                push_level(values, defs, required, value.map(ByteArray::from))
            }
            other => panic!("column {i} is {other:?}, not BYTE_ARRAY"),
        }
    }

    /// Sets map column `i` of the current row: `None` is a null map (optional column only), an
    /// empty iterator an empty map.
    pub fn push_map(
        &mut self,
        i: usize,
        required: bool,
        entries: Option<impl IntoIterator<Item = (Bytes, Bytes)>>,
    ) {
        let ColumnData::Map {
            keys,
            values,
            defs,
            reps,
        } = &mut self.columns[i]
        else {
            panic!("column {i} is not a MAP");
        };
        let base = if required { 0 } else { 1 };
        let Some(entries) = entries else {
            debug_assert!(!required, "a null in a required map column");
            defs.push(0);
            reps.push(0);
            return;
        };
        let mut rep = 0;
        for (k, v) in entries {
            keys.push(ByteArray::from(k));
            values.push(ByteArray::from(v));
            defs.push(base + 1);
            reps.push(rep);
            rep = 1;
        }
        if rep == 0 {
            defs.push(base);
            reps.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema {
            name: "t".into(),
            columns: vec![
                Column::required("n", ColumnType::Int64, "a number"),
                Column::optional("s", ColumnType::Utf8, "a text").with_dictionary(),
                Column::optional("m", ColumnType::StringMap, "a map"),
            ],
        }
    }

    #[test]
    fn levels_follow_nulls_and_map_entries() {
        let mut b = schema().buffers();
        b.push_i64(0, true, Some(7));
        b.push_bytes(1, false, None);
        b.push_map(1 + 1, false, Some([(Bytes::from("a"), Bytes::from("1"))]));
        b.end_row();
        b.push_i64(0, true, Some(8));
        b.push_bytes(1, false, Some(Bytes::from("x")));
        b.push_map(2, false, Some(Vec::<(Bytes, Bytes)>::new()));
        b.end_row();
        b.push_i64(0, true, Some(9));
        b.push_bytes(1, false, Some(Bytes::from("y")));
        b.push_map(2, false, None::<Vec<(Bytes, Bytes)>>);
        b.end_row();
        assert_eq!(b.rows(), 3);
        assert_eq!(
            b.columns()[0],
            ColumnData::Int64 {
                values: vec![7, 8, 9],
                defs: vec![]
            }
        );
        let ColumnData::Bytes { values, defs } = &b.columns()[1] else {
            panic!()
        };
        assert_eq!(values.len(), 2);
        assert_eq!(defs, &[0, 1, 1]);
        let ColumnData::Map {
            keys, defs, reps, ..
        } = &b.columns()[2]
        else {
            panic!()
        };
        assert_eq!(keys.len(), 1);
        assert_eq!(defs, &[2, 1, 0]);
        assert_eq!(reps, &[0, 0, 0]);
    }

    #[test]
    fn schema_names_map_leaves() {
        let s = schema();
        assert_eq!(s.parquet().get_fields().len(), 3);
        assert_eq!(
            s.columns[2].leaf_paths(),
            ["m.key_value.key", "m.key_value.value"]
        );
    }
}
