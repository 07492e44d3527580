//! Writes buffered rows ([`ColumnBuffers`], one per row group) as one Parquet file into memory:
//! zstd pages, dictionary encoding only for the columns that ask for it, 64-bit integers
//! delta-encoded, no min/max statistics for free text, each column's doc in the file's key-value
//! metadata. Pure: the bytes go to storage elsewhere.

use std::sync::Arc;

use parquet::basic::{Compression, Encoding as PageEncoding, ZstdLevel};
use parquet::data_type::{BoolType, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::columns::{ColumnBuffers, ColumnData, ColumnType, Schema};

/// How files are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// The zstd level (1-22; 3 is zstd's default, a good speed/size balance).
    pub zstd_level: i32,
    /// The largest data page, in bytes, before compression.
    pub data_page_bytes: usize,
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding {
            zstd_level: 3,
            data_page_bytes: 1024 * 1024,
        }
    }
}

/// The writer properties for `schema`: zstd everywhere, dictionaries only where asked.
///
/// Two choices save a sixth of the raw-chat archive (BENCHMARKS "Archive"): 64-bit integers (times,
/// offsets) are `DELTA_BINARY_PACKED`, so a partition's consecutive offsets cost almost nothing and
/// times a byte or so; and text that is not dictionary-encoded (message text, ids, the raw line) has
/// no min/max statistics, which no reader prunes by and which repeat long values in every page
/// header. Times, numbers and dictionary columns (channel, kind) keep their statistics.
pub fn properties(schema: &Schema, encoding: Encoding) -> Result<WriterProperties, ParquetError> {
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(encoding.zstd_level)?))
        .set_data_page_size_limit(encoding.data_page_bytes)
        .set_dictionary_enabled(false)
        .set_created_by(format!("chatpulse {}", env!("CARGO_PKG_VERSION")));
    let mut metadata = Vec::new();
    for column in &schema.columns {
        let paths = || {
            column
                .leaf_paths()
                .into_iter()
                .map(|path| ColumnPath::new(path.split('.').map(str::to_owned).collect()))
        };
        if column.dictionary {
            for path in paths() {
                builder = builder.set_column_dictionary_enabled(path, true);
            }
        }
        match column.ty {
            ColumnType::Int64 | ColumnType::TimestampMillis if !column.dictionary => {
                for path in paths() {
                    builder = builder.set_column_encoding(path, PageEncoding::DELTA_BINARY_PACKED);
                }
            }
            ColumnType::Utf8 | ColumnType::Binary if !column.dictionary => {
                for path in paths() {
                    builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
                }
            }
            _ => {}
        }
        if !column.doc.is_empty() {
            metadata.push(KeyValue::new(
                format!("chatpulse.doc.{}", column.name),
                column.doc.clone(),
            ));
        }
    }
    Ok(builder.set_key_value_metadata(Some(metadata)).build())
}

/// One Parquet file being written into memory: rows are buffered column by column and encoded
/// (compressed) a row group at a time, so only the open row group is held uncompressed.
pub struct ParquetBuffer {
    writer: SerializedFileWriter<Vec<u8>>,
    schema: Arc<Schema>,
    open: ColumnBuffers,
    rows: u64,
}

impl std::fmt::Debug for ParquetBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBuffer")
            .field("rows", &self.rows)
            .field("open_rows", &self.open.rows())
            .finish()
    }
}

impl ParquetBuffer {
    /// An empty file of `schema`.
    pub fn new(
        schema: Arc<Schema>,
        properties: &Arc<WriterProperties>,
    ) -> Result<ParquetBuffer, ParquetError> {
        Ok(ParquetBuffer {
            writer: SerializedFileWriter::new(Vec::new(), schema.parquet(), properties.clone())?,
            open: schema.buffers(),
            schema,
            rows: 0,
        })
    }

    /// The open row group, to append rows to.
    pub fn rows_mut(&mut self) -> &mut ColumnBuffers {
        &mut self.open
    }

    /// Rows in the open row group.
    pub fn open_rows(&self) -> usize {
        self.open.rows()
    }

    /// Rows in the file, encoded or open.
    pub fn rows(&self) -> u64 {
        self.rows + self.open.rows() as u64
    }

    /// Bytes of the file encoded so far.
    pub fn encoded_bytes(&self) -> usize {
        self.writer.bytes_written()
    }

    /// Encodes the open row group (if it has rows) into the file.
    pub fn end_row_group(&mut self) -> Result<(), ParquetError> {
        if self.open.rows() == 0 {
            return Ok(());
        }
        let group = std::mem::replace(&mut self.open, self.schema.buffers());
        let mut rg = self.writer.next_row_group()?;
        for data in group.columns() {
            write_column(&mut rg, data)?;
        }
        rg.close()?;
        self.rows += group.rows() as u64;
        Ok(())
    }

    /// The complete file.
    pub fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        self.end_row_group()?;
        self.writer.into_inner()
    }
}

/// One Parquet file of `schema` holding `groups` (one row group each, empty ones skipped).
pub fn write_file(
    schema: &Arc<Schema>,
    properties: &Arc<WriterProperties>,
    groups: Vec<ColumnBuffers>,
) -> Result<Vec<u8>, ParquetError> {
    let mut file = ParquetBuffer::new(schema.clone(), properties)?;
    for group in groups {
        file.open = group;
        file.end_row_group()?;
    }
    file.finish()
}

fn levels(defs: &[i16]) -> Option<&[i16]> {
    (!defs.is_empty()).then_some(defs)
}

fn write_column<W: std::io::Write + Send>(
    rg: &mut parquet::file::writer::SerializedRowGroupWriter<'_, W>,
    data: &ColumnData,
) -> Result<(), ParquetError> {
    fn next<'a, W: std::io::Write + Send>(
        rg: &'a mut parquet::file::writer::SerializedRowGroupWriter<'_, W>,
    ) -> Result<parquet::file::writer::SerializedColumnWriter<'a>, ParquetError> {
        rg.next_column()?
            .ok_or_else(|| ParquetError::General("more buffered columns than in the schema".into()))
    }
    match data {
        ColumnData::Int32 { values, defs } => {
            let mut c = next(rg)?;
            c.typed::<Int32Type>()
                .write_batch(values, levels(defs), None)?;
            c.close()
        }
        ColumnData::Int64 { values, defs } => {
            let mut c = next(rg)?;
            c.typed::<Int64Type>()
                .write_batch(values, levels(defs), None)?;
            c.close()
        }
        ColumnData::Double { values, defs } => {
            let mut c = next(rg)?;
            c.typed::<DoubleType>()
                .write_batch(values, levels(defs), None)?;
            c.close()
        }
        ColumnData::Bool { values, defs } => {
            let mut c = next(rg)?;
            c.typed::<BoolType>()
                .write_batch(values, levels(defs), None)?;
            c.close()
        }
        ColumnData::Bytes { values, defs } => {
            let mut c = next(rg)?;
            c.typed::<ByteArrayType>()
                .write_batch(values, levels(defs), None)?;
            c.close()
        }
        ColumnData::Map {
            keys,
            values,
            defs,
            reps,
        } => {
            for leaf in [keys, values] {
                let mut c = next(rg)?;
                c.typed::<ByteArrayType>()
                    .write_batch(leaf, Some(defs), Some(reps))?;
                c.close()?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;
    use crate::archive::columns::{Column, ColumnType};

    fn schema() -> Schema {
        Schema {
            name: "t".into(),
            columns: vec![
                Column::required("t", ColumnType::TimestampMillis, "when"),
                Column::optional("s", ColumnType::Utf8, "a text").with_dictionary(),
                Column::optional("m", ColumnType::StringMap, "a map").with_dictionary(),
                Column::optional("n", ColumnType::Int32, ""),
            ],
        }
    }

    #[test]
    fn rows_read_back_through_the_parquet_reader() {
        let schema = Arc::new(schema());
        let mut groups = Vec::new();
        for g in 0..2 {
            let mut b = schema.buffers();
            for r in 0..3i64 {
                b.push_i64(0, true, Some(g * 10 + r));
                b.push_bytes(1, false, (r != 1).then(|| Bytes::from(format!("s{r}"))));
                let entries: Vec<(Bytes, Bytes)> = (0..r)
                    .map(|k| (Bytes::from(format!("k{k}")), Bytes::from(format!("v{k}"))))
                    .collect();
                b.push_map(2, false, (r != 2).then_some(entries));
                b.push_i32(3, false, Some(r as i32));
                b.end_row();
            }
            groups.push(b);
        }
        groups.push(schema.buffers());
        let props = Arc::new(properties(&schema, Encoding::default()).unwrap());
        let bytes = write_file(&schema, &props, groups).unwrap();
        let reader = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2);
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|k| k.key == "chatpulse.doc.s" && k.value.as_deref() == Some("a text")));
        let rows: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 6);
        let fields: Vec<_> = rows[4].get_column_iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(fields[0], Field::TimestampMillis(11));
        assert_eq!(fields[1], Field::Null);
        let Field::MapInternal(map) = &fields[2] else {
            panic!("{:?}", fields[2])
        };
        assert_eq!(map.entries().len(), 1);
        assert_eq!(rows[5].get_column_iter().nth(2).unwrap().1, &Field::Null);
    }
}
