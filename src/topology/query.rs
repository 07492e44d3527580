//! Interactive queries, pure: which input partition a key belongs to (Kafka's default murmur2
//! partitioner, as the Java producer and librdkafka's `murmur2_random` use) and the answer a query
//! gets from an instance, whether it owns that partition or another instance does.

use serde_json::{json, Value};

/// Kafka's murmur2 hash of `data` (seed 0x9747b28c), as `org.apache.kafka.common.utils.Utils`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of a record keyed `key` among `partitions`, by Kafka's default partitioner
/// (`toPositive(murmur2(key)) % partitions`).
pub fn key_partition(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

/// What an instance answers to `GET /state/{store}/{key}`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAnswer {
    /// This instance owns the key's partition and holds state for the key.
    Found {
        /// The partition holding the key.
        partition: i32,
        /// What the store's processor holds for the key.
        value: Value,
    },
    /// This instance owns the key's partition but holds nothing for the key (no open window).
    Empty {
        /// The key's partition.
        partition: i32,
    },
    /// Another instance owns the key's partition: ask it.
    NotOwned {
        /// The key's partition.
        partition: i32,
        /// The partitions this instance owns.
        owned: Vec<i32>,
        /// The owner, when instances advertise themselves: its instance id and URL.
        owner: Option<(String, String)>,
    },
    /// The topology has no store by that name.
    UnknownStore {
        /// The stores it has.
        stores: Vec<String>,
    },
    /// No answer now (restoring, stopping, or the engine is busy): try again.
    Unavailable {
        /// Why.
        reason: String,
    },
}

impl QueryAnswer {
    /// The HTTP status of the answer: 200, 404 (empty or unknown store), 421 (another instance's
    /// partition: Misdirected Request) or 503.
    pub fn status(&self) -> u16 {
        match self {
            QueryAnswer::Found { .. } => 200,
            QueryAnswer::Empty { .. } | QueryAnswer::UnknownStore { .. } => 404,
            QueryAnswer::NotOwned { .. } => 421,
            QueryAnswer::Unavailable { .. } => 503,
        }
    }

    /// The JSON body of the answer for `store` and `key`.
    pub fn to_json(&self, store: &str, key: &str) -> Value {
        match self {
            QueryAnswer::Found { partition, value } => {
                json!({"store": store, "key": key, "partition": partition, "value": value})
            }
            QueryAnswer::Empty { partition } => json!({
                "store": store, "key": key, "partition": partition,
                "error": "this instance owns the key's partition but holds no open state for the key",
            }),
            QueryAnswer::NotOwned {
                partition,
                owned,
                owner: Some((instance, url)),
            } => json!({
                "store": store, "key": key, "partition": partition, "owned_here": owned,
                "owner": {"instance_id": instance, "url": url},
                "error": "another instance owns this key's partition: ask the owner",
            }),
            QueryAnswer::NotOwned {
                partition, owned, ..
            } => json!({
                "store": store, "key": key, "partition": partition, "owned_here": owned,
                "error": "another instance owns this key's partition: ask the instance whose GET /partitions lists it",
            }),
            QueryAnswer::UnknownStore { stores } => json!({
                "store": store, "key": key, "stores": stores,
                "error": "no such store in this topology",
            }),
            QueryAnswer::Unavailable { reason } => json!({
                "store": store, "key": key, "error": reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2 (as signed ints in Java).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                murmur2(data) as i32,
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn partitions_are_in_range_and_stable() {
        for key in ["nymn", "forsen", "xqc", ""] {
            let p = key_partition(key.as_bytes(), 4);
            assert!((0..4).contains(&p));
            assert_eq!(p, key_partition(key.as_bytes(), 4));
        }
    }
}
