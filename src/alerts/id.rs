//! The stable `alert_id`: 32 hex digits of a 128-bit FNV-1a hash of the rule, the channel and the
//! triggering window, so a replay of the same input gives the same id and a webhook receiver can
//! drop a redelivery by it.

/// FNV-1a 128-bit offset basis.
const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
/// FNV-1a 128-bit prime.
const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// The id of the alert of `rule` for `channel` over `[window_start, window_end]` (epoch ms).
/// Fields are separated by a 0 byte, which no rule or channel name holds.
pub fn alert_id(rule: &str, channel: &str, window_start: i64, window_end: i64) -> String {
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u128::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    eat(rule.as_bytes());
    eat(&[0]);
    eat(channel.as_bytes());
    eat(&[0]);
    eat(&window_start.to_be_bytes());
    eat(&window_end.to_be_bytes());
    format!("{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_128_of_known_input() {
        // The published FNV-1a 128 test vector: the empty input is the offset basis, "a" the
        // basis with one step.
        let mut h = OFFSET;
        h ^= u128::from(b'a');
        h = h.wrapping_mul(PRIME);
        assert_eq!(format!("{h:032x}"), "d228cb696f1a8caf78912b704e4a8964");
    }

    #[test]
    fn the_id_is_deterministic_and_depends_on_every_part() {
        let a = alert_id("viewers-drop", "nymn", 1_000, 61_000);
        assert_eq!(a, alert_id("viewers-drop", "nymn", 1_000, 61_000));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        let others = [
            alert_id("viewers-rise", "nymn", 1_000, 61_000),
            alert_id("viewers-drop", "forsen", 1_000, 61_000),
            alert_id("viewers-drop", "nymn", 1_001, 61_000),
            alert_id("viewers-drop", "nymn", 1_000, 61_001),
            // The separator keeps "ab" + "c" apart from "a" + "bc".
            alert_id("viewers-dro", "pnymn", 1_000, 61_000),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }
}
