//! Avro data back to JSON, for `chatpulse tail` and tests: a datum written with one schema is read,
//! optionally through a newer or older reader schema (Avro schema resolution), and rendered as the
//! JSON processors emit (timestamps as epoch milliseconds, optional fields as null or their value).

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use serde_json::{Map, Value as Json};

/// Why a datum could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not follow the writer schema, or the reader schema cannot resolve it.
    #[error("the Avro datum does not read with this schema: {0} (was it written with another schema id?)")]
    Avro(String),
    /// Bytes remained after the datum.
    #[error("{0} byte(s) remain after the Avro datum: it was written with a different schema")]
    Trailing(usize),
}

/// Reads `datum` written with `writer`, resolved into `reader` when given, as JSON.
pub fn decode_datum(
    writer: &Schema,
    datum: &[u8],
    reader: Option<&Schema>,
) -> Result<Json, DecodeError> {
    let mut rest = datum;
    let value = GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()
        .and_then(|r| r.read_value(&mut rest))
        .map_err(|e| DecodeError::Avro(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(avro_to_json(value))
}

/// An Avro value as JSON: records and maps as objects, unions as their branch, enums as their
/// symbol, logical times as their number, bytes as a string when they are UTF-8.
pub fn avro_to_json(value: Avro) -> Json {
    match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(b),
        Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => Json::from(n),
        Avro::Long(n)
        | Avro::TimeMicros(n)
        | Avro::TimestampMillis(n)
        | Avro::TimestampMicros(n)
        | Avro::TimestampNanos(n)
        | Avro::LocalTimestampMillis(n)
        | Avro::LocalTimestampMicros(n)
        | Avro::LocalTimestampNanos(n) => Json::from(n),
        Avro::Float(x) => Json::from(f64::from(x)),
        Avro::Double(x) => Json::from(x),
        Avro::Bytes(b) | Avro::Fixed(_, b) => match String::from_utf8(b) {
            Ok(s) => Json::String(s),
            Err(e) => Json::from(e.into_bytes()),
        },
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s),
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Union(_, v) => avro_to_json(*v),
        Avro::Array(items) => Json::Array(items.into_iter().map(avro_to_json).collect()),
        Avro::Map(m) => Json::Object(m.into_iter().map(|(k, v)| (k, avro_to_json(v))).collect()),
        Avro::Record(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, avro_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Avro::BigDecimal(d) => Json::String(d.to_string()),
        other @ (Avro::Decimal(_) | Avro::Duration(_)) => Json::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::avro::encode::encode_datum;
    use crate::avro::schemas::AvroSchema;

    #[test]
    fn encode_then_decode_gives_the_same_json() {
        let s = AvroSchema::builtin("engagement_basic_minute").unwrap();
        let v = json!({"channel": "nymn", "window_start": 60_000, "window_end": 120_000,
                       "final": true, "revision": 0, "messages": 12, "unique_chatters": 5});
        let datum = encode_datum(&v, &s).unwrap();
        assert_eq!(decode_datum(&s.schema, &datum, None).unwrap(), v);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors() {
        let s = AvroSchema::builtin("engagement_basic_minute").unwrap();
        assert!(matches!(
            decode_datum(&s.schema, &[0x02], None),
            Err(DecodeError::Avro(_))
        ));
        let v = json!({"channel": "a", "window_start": 0, "window_end": 1,
                       "final": false, "messages": 1, "unique_chatters": 1});
        let mut datum = encode_datum(&v, &s).unwrap();
        datum.push(0);
        assert!(matches!(
            decode_datum(&s.schema, &datum, None),
            Err(DecodeError::Trailing(1))
        ));
    }
}
