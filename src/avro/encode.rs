//! JSON values, as processors emit them (objects, numbers, strings, arrays, null; timestamps as epoch
//! milliseconds), turned into Avro data of a schema. Errors name the field path and what was wrong,
//! so a dead letter says which part of an output the schema does not accept.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use serde_json::Value as Json;

use super::schemas::AvroSchema;

/// A JSON value that does not fit the schema: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {path}: {problem} (fix the processor's output or the schema {schema})")]
pub struct EncodeError {
    /// The field path, like `top_emotes[2].name`; `(value)` for the whole value.
    pub path: String,
    /// What was wrong.
    pub problem: String,
    /// The schema's origin.
    pub schema: String,
}

/// Converts `json` to an Avro value of `schema`.
pub fn json_to_avro(json: &Json, schema: &AvroSchema) -> Result<Avro, EncodeError> {
    let conv = Converter {
        names: &schema.names,
    };
    conv.value(json, &schema.schema, "(value)")
        .map_err(|(path, problem)| EncodeError {
            path,
            problem,
            schema: schema.origin.clone(),
        })
}

/// Converts `json` to the Avro binary datum of `schema` (without the wire-format header).
pub fn encode_datum(json: &Json, schema: &AvroSchema) -> Result<Vec<u8>, EncodeError> {
    let value = json_to_avro(json, schema)?;
    GenericDatumWriter::builder(&schema.schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| EncodeError {
            path: "(value)".to_owned(),
            problem: format!("the Avro writer refused it: {e}"),
            schema: schema.origin.clone(),
        })
}

type Problem = (String, String);

struct Converter<'a> {
    names: &'a HashMap<Name, Schema>,
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Json::Number(_) => "a decimal number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn child(path: &str, field: &str) -> String {
    if path == "(value)" {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn wrong(path: &str, expected: &str, json: &Json) -> Problem {
    (
        path.to_owned(),
        format!("expected {expected}, got {}", kind(json)),
    )
}

impl Converter<'_> {
    fn value(&self, json: &Json, schema: &Schema, path: &str) -> Result<Avro, Problem> {
        let long = |what: &str| -> Result<i64, Problem> {
            json.as_i64().ok_or_else(|| wrong(path, what, json))
        };
        let int = |what: &str| -> Result<i32, Problem> {
            let n = long(what)?;
            i32::try_from(n).map_err(|_| (path.to_owned(), format!("{n} does not fit an Avro int")))
        };
        Ok(match schema {
            Schema::Null => match json {
                Json::Null => Avro::Null,
                _ => return Err(wrong(path, "null", json)),
            },
            Schema::Boolean => Avro::Boolean(json.as_bool().ok_or_else(|| wrong(path, "a boolean", json))?),
            Schema::Int => Avro::Int(int("an integer (int)")?),
            Schema::Long => Avro::Long(long("an integer (long)")?),
            Schema::Float => Avro::Float(json.as_f64().ok_or_else(|| wrong(path, "a number", json))? as f32),
            Schema::Double => Avro::Double(json.as_f64().ok_or_else(|| wrong(path, "a number", json))?),
            Schema::String => Avro::String(self.text(json, path)?.to_owned()),
            Schema::Bytes => Avro::Bytes(self.text(json, path)?.as_bytes().to_vec()),
            Schema::Uuid(_) => {
                let s = self.text(json, path)?;
                Avro::Uuid(s.parse().map_err(|e| (path.to_owned(), format!("{s:?} is not a UUID: {e}")))?)
            }
            Schema::Date => Avro::Date(int("epoch days (date)")?),
            Schema::TimeMillis => Avro::TimeMillis(int("milliseconds of the day (time-millis)")?),
            Schema::TimeMicros => Avro::TimeMicros(long("microseconds of the day (time-micros)")?),
            Schema::TimestampMillis => Avro::TimestampMillis(long("epoch milliseconds (timestamp-millis)")?),
            Schema::TimestampMicros => Avro::TimestampMicros(long("epoch microseconds (timestamp-micros)")?),
            Schema::TimestampNanos => Avro::TimestampNanos(long("epoch nanoseconds (timestamp-nanos)")?),
            Schema::LocalTimestampMillis => Avro::LocalTimestampMillis(long("milliseconds (local-timestamp-millis)")?),
            Schema::LocalTimestampMicros => Avro::LocalTimestampMicros(long("microseconds (local-timestamp-micros)")?),
            Schema::LocalTimestampNanos => Avro::LocalTimestampNanos(long("nanoseconds (local-timestamp-nanos)")?),
            Schema::Fixed(f) => {
                let s = self.text(json, path)?;
                if s.len() != f.size {
                    return Err((path.to_owned(), format!("fixed {} needs {} bytes, got {}", f.name.name(), f.size, s.len())));
                }
                Avro::Fixed(f.size, s.as_bytes().to_vec())
            }
            Schema::Enum(e) => {
                let s = self.text(json, path)?;
                let i = e.symbols.iter().position(|x| x == s).ok_or_else(|| {
                    (path.to_owned(), format!("{s:?} is not a symbol of enum {}: use one of {}", e.name.name(), e.symbols.join(", ")))
                })?;
                Avro::Enum(i as u32, s.to_owned())
            }
            Schema::Array(a) => {
                let items = json.as_array().ok_or_else(|| wrong(path, "an array", json))?;
                Avro::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| self.value(v, &a.items, &format!("{path}[{i}]")))
                        .collect::<Result<_, _>>()?,
                )
            }
            Schema::Map(m) => {
                let entries = json.as_object().ok_or_else(|| wrong(path, "an object (map)", json))?;
                Avro::Map(
                    entries
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), self.value(v, &m.types, &format!("{path}[{k:?}]"))?)))
                        .collect::<Result<_, Problem>>()?,
                )
            }
            Schema::Union(u) => self.union(json, u, path)?,
            Schema::Record(r) => self.record(json, r, path)?,
            Schema::Ref { name } => {
                let target = self
                    .names
                    .get(name)
                    .or_else(|| self.names.iter().find(|(n, _)| n.name() == name.name()).map(|(_, s)| s))
                    .ok_or_else(|| (path.to_owned(), format!("the schema refers to an undefined type {}", name.name())))?;
                self.value(json, target, path)?
            }
            Schema::Decimal(_) | Schema::BigDecimal | Schema::Duration(_) => {
                return Err((path.to_owned(), "decimal and duration fields are not supported in chatpulse outputs: use double or long".to_owned()))
            }
        })
    }

    fn text<'j>(&self, json: &'j Json, path: &str) -> Result<&'j str, Problem> {
        json.as_str().ok_or_else(|| wrong(path, "a string", json))
    }

    fn union(&self, json: &Json, u: &UnionSchema, path: &str) -> Result<Avro, Problem> {
        let variants = u.variants();
        if json.is_null() {
            if let Some(i) = variants.iter().position(|s| matches!(s, Schema::Null)) {
                return Ok(Avro::Union(i as u32, Box::new(Avro::Null)));
            }
        }
        let mut first_problem = None;
        let mut candidates = 0;
        for (i, s) in variants.iter().enumerate() {
            if matches!(s, Schema::Null) {
                continue;
            }
            candidates += 1;
            match self.value(json, s, path) {
                Ok(v) => return Ok(Avro::Union(i as u32, Box::new(v))),
                Err(p) => {
                    first_problem.get_or_insert(p);
                }
            }
        }
        match (candidates, first_problem) {
            // One non-null branch (the optional-field shape): its complaint is the precise one.
            (1, Some(p)) => Err(p),
            _ => Err((
                path.to_owned(),
                format!(
                    "{} matches none of the union's {} branches",
                    kind(json),
                    variants.len()
                ),
            )),
        }
    }

    fn record(&self, json: &Json, r: &RecordSchema, path: &str) -> Result<Avro, Problem> {
        let object = json
            .as_object()
            .ok_or_else(|| wrong(path, &format!("an object (record {})", r.name.name()), json))?;
        if let Some(extra) = object.keys().find(|k| !r.lookup.contains_key(*k)) {
            return Err((
                child(path, extra),
                format!(
                    "record {} has no such field (add it to the schema, or stop emitting it)",
                    r.name.name()
                ),
            ));
        }
        let mut fields = Vec::with_capacity(r.fields.len());
        for f in &r.fields {
            let p = child(path, &f.name);
            let v = match (object.get(&f.name), &f.default) {
                (Some(v), _) => self.value(v, &f.schema, &p)?,
                (None, Some(default)) => self.value(default, &f.schema, &p)?,
                (None, None) => {
                    return Err((
                        p,
                        "is missing and the schema gives it no default".to_owned(),
                    ))
                }
            };
            fields.push((f.name.clone(), v));
        }
        Ok(Avro::Record(fields))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RICH: &str = r#"{
      "type": "record", "name": "Rich", "namespace": "tv.chatpulse.test",
      "fields": [
        {"name": "channel", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "count", "type": "int"},
        {"name": "score", "type": "double"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["SUB", "RESUB"]}},
        {"name": "top", "type": {"type": "array", "items": {"type": "record", "name": "Term",
            "fields": [{"name": "term", "type": "string"}, {"name": "uses", "type": "long"}]}}},
        {"name": "best", "type": ["null", "Term"], "default": null},
        {"name": "tiers", "type": {"type": "map", "values": "long"}},
        {"name": "gifter", "type": ["null", "string"], "default": null}
      ]
    }"#;

    fn rich() -> AvroSchema {
        AvroSchema::parse("rich", RICH).unwrap()
    }

    fn good() -> Json {
        json!({
            "channel": "nymn", "at": 1_704_557_940_000i64, "count": 3, "score": 0.5, "kind": "RESUB",
            "top": [{"term": "LUL", "uses": 4}, {"term": "PogChamp", "uses": 2}],
            "best": {"term": "LUL", "uses": 4}, "tiers": {"1000": 2}
        })
    }

    #[test]
    fn records_arrays_maps_unions_enums_and_timestamps_encode() {
        let v = json_to_avro(&good(), &rich()).unwrap();
        let Avro::Record(fields) = v else {
            panic!("{v:?}")
        };
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("at"), Avro::TimestampMillis(1_704_557_940_000));
        assert_eq!(get("kind"), Avro::Enum(1, "RESUB".into()));
        assert_eq!(get("gifter"), Avro::Union(0, Box::new(Avro::Null)));
        assert!(matches!(get("best"), Avro::Union(1, _)));
        assert!(encode_datum(&good(), &rich()).unwrap().len() > 20);
    }

    fn problem(json: Json) -> EncodeError {
        encode_datum(&json, &rich()).unwrap_err()
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let mut j = good();
        j["count"] = json!("three");
        let e = problem(j);
        assert_eq!(e.path, "count");
        assert!(
            e.problem
                .contains("expected an integer (int), got a string"),
            "{e}"
        );

        let mut j = good();
        j["top"][1]["uses"] = json!(1.5);
        assert_eq!(problem(j).path, "top[1].uses");

        let mut j = good();
        j["kind"] = json!("BAN");
        let e = problem(j);
        assert_eq!(e.path, "kind");
        assert!(e.problem.contains("SUB, RESUB"), "{e}");

        let mut j = good();
        j.as_object_mut().unwrap().remove("channel");
        let e = problem(j);
        assert_eq!(e.path, "channel");
        assert!(e.problem.contains("missing"), "{e}");

        let mut j = good();
        j["surprise"] = json!(1);
        assert_eq!(problem(j).path, "surprise");

        let mut j = good();
        j["best"]["term"] = json!(7);
        assert_eq!(problem(j).path, "best.term");

        let mut j = good();
        j["tiers"]["2000"] = json!("x");
        assert_eq!(problem(j).path, "tiers[\"2000\"]");

        let mut j = good();
        j["count"] = json!(1i64 << 40);
        assert!(problem(j).problem.contains("does not fit"));

        let e = problem(json!([1, 2]));
        assert_eq!(e.path, "(value)");
        assert!(e.to_string().contains("schema rich"), "{e}");
    }
}
