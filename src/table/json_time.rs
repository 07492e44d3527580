//! The event time of a JSON object read from one top-level field, without building the value: what
//! the interleaver needs of every JSON row to merge sources by event time. Same answer as parsing
//! the whole value and reading [`time_of`](super::row::time_of) of the field.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::row::time_of_text;

/// The epoch milliseconds in top-level field `field` of the JSON object `json` (a number, or text
/// as [`time_of_text`] reads it), `None` when `json` is not a JSON object, lacks the field, or the
/// field holds something else. With the field more than once, the last one counts (as in a parsed
/// `serde_json::Value`). Other fields are skipped unparsed: nothing is allocated for them.
pub fn json_field_time(json: &[u8], field: &str) -> Option<i64> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = ObjectField { field }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    found.flatten()
}

/// Finds `field` in an object: `None` when the value is not an object (an error), `Some(time)`
/// otherwise, `time` being the field's time if it has one.
struct ObjectField<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for ObjectField<'_> {
    type Value = Option<Option<i64>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectField<'_> {
    type Value = Option<Option<i64>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut time = None;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == self.field {
                time = map.next_value::<Time>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(time))
    }

    // Anything else is valid JSON but not an object: no time (checked for syntax all the same).
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// An object key, borrowed from the input unless it holds escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(s.into()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(s.to_owned().into()))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// The field's value as a time: a number that fits `i64`, or text with a time; `None` otherwise.
struct Time(Option<i64>);

impl<'de> de::Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Time, E> {
                Ok(Time(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Time, E> {
                Ok(Time(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Time, E> {
                Ok(Time(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Time, E> {
                Ok(Time(time_of_text(s)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Time, E> {
                Ok(Time(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Time, E> {
                Ok(Time(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Time, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Time(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Time, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Time(None))
            }
        }
        de.deserialize_any(TimeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::row::time_of;

    /// The reference: the whole value parsed, then the field read.
    fn by_value(json: &str, field: &str) -> Option<i64> {
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        time_of(v.get(field)?)
    }

    #[test]
    fn equals_reading_the_parsed_value() {
        let cases = [
            r#"{"channel":"nymn","viewers":10,"ts":1704557984095}"#,
            r#"{"ts":"2024-01-06T16:19:44.095Z","channel":"a"}"#,
            r#"{"ts":"1704557984095"}"#,
            r#"{"ts":-5}"#,
            r#"{"ts":1.5}"#,
            r#"{"ts":1e3}"#,
            r#"{"ts":18446744073709551615}"#,
            r#"{"ts":9223372036854775807}"#,
            r#"{"ts":null}"#,
            r#"{"ts":true}"#,
            r#"{"ts":[1,2]}"#,
            r#"{"ts":{"ts":1}}"#,
            r#"{"nested":{"ts":1},"other":[{"ts":2}]}"#,
            r#"{"ts":1,"ts":2}"#,
            r#"{"ts":1,"ts":"x"}"#,
            r#"{"t\u0073":7}"#,
            r#"{"text":"a \"ts\": 3 \u00e9","ts":4}"#,
            r#"{}"#,
            r#"[{"ts":1}]"#,
            r#"5"#,
            r#""ts""#,
            r#"null"#,
            r#"{"ts":1} trailing"#,
            r#"{"ts":1"#,
            r#"{"ts":1,}"#,
            r#"  {"ts" : 12 }  "#,
            r#"{"ts":"not a time"}"#,
            "",
        ];
        for json in cases {
            assert_eq!(
                json_field_time(json.as_bytes(), "ts"),
                by_value(json, "ts"),
                "{json}"
            );
        }
        assert_eq!(json_field_time(br#"{"ts":1}"#, "window_end"), None);
    }

    #[test]
    fn equals_reading_the_parsed_value_on_real_result_rows() {
        // Rows as the upstream topologies write them (a chat event, an engagement minute).
        let rows = [
            r#"{"anonymous":null,"badges":null,"bits":0,"channel":"kamet0","emotes":[],"kind":"message","text":"kamelMUR kamelFumi","ts":1741859857902,"user_login":"hydro"}"#,
            r#"{"channel":"c1","final":true,"revision":0,"top_emotes":[{"emote":"LUL","uses":3}],"window_end":1741859880000,"window_start":1741859820000}"#,
        ];
        for json in rows {
            for field in ["ts", "window_end", "window_start", "channel", "missing"] {
                assert_eq!(
                    json_field_time(json.as_bytes(), field),
                    by_value(json, field),
                    "{field} of {json}"
                );
            }
        }
    }
}
