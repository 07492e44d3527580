//! The Confluent Schema Registry wire format of a record value: magic byte 0, the schema id as a
//! 4-byte big-endian integer, then the Avro binary datum (no container header).

/// The first byte of every framed value.
pub const MAGIC: u8 = 0;

/// Bytes before the datum.
pub const HEADER_LEN: usize = 5;

/// Why bytes are not a framed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the 5-byte header.
    #[error("value is {len} byte(s), shorter than the 5-byte Schema Registry header (magic byte 0 + 4-byte schema id): not written by a Schema Registry serializer")]
    ShortBuffer {
        /// The value's length.
        len: usize,
    },
    /// The first byte is not 0.
    #[error("value starts with byte {found:#04x}, not the Schema Registry magic byte 0x00: it is not Avro in the Confluent wire format (JSON? another serializer?)")]
    WrongMagic {
        /// The first byte.
        found: u8,
    },
}

/// Frames `datum` written with schema `id`.
pub fn frame(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + datum.len());
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(datum);
    out
}

/// Splits a framed value into its schema id and datum.
pub fn unframe(value: &[u8]) -> Result<(u32, &[u8]), WireError> {
    if value.len() < HEADER_LEN {
        return Err(WireError::ShortBuffer { len: value.len() });
    }
    if value[0] != MAGIC {
        return Err(WireError::WrongMagic { found: value[0] });
    }
    let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    Ok((id, &value[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (id, datum) in [
            (1u32, &b"abc"[..]),
            (0x0102_0304, &[][..]),
            (u32::MAX, &[0u8; 300][..]),
        ] {
            let framed = frame(id, datum);
            assert_eq!(framed.len(), HEADER_LEN + datum.len());
            assert_eq!(unframe(&framed), Ok((id, datum)));
        }
        assert_eq!(frame(0x0102_0304, b"x"), vec![0, 1, 2, 3, 4, b'x']);
    }

    #[test]
    fn short_buffers_are_refused() {
        for len in 0..HEADER_LEN {
            let e = unframe(&vec![0u8; len]).unwrap_err();
            assert_eq!(e, WireError::ShortBuffer { len });
        }
        // Exactly the header is an empty datum (a record with no fields).
        assert_eq!(unframe(&[0, 0, 0, 0, 7]), Ok((7, &[][..])));
    }

    #[test]
    fn wrong_magic_is_refused() {
        let e = unframe(br#"{"channel":"x"}"#).unwrap_err();
        assert_eq!(e, WireError::WrongMagic { found: b'{' });
        assert!(e.to_string().contains("0x7b"), "{e}");
    }
}
