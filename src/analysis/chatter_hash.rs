//! A stable hash of a chatter's login, for the distinct-chatter sets that persist in state and merge
//! across windows and restarts: it must never change between versions.

/// A stable 64-bit hash of a login (FNV-1a), for distinct-chatter sets that must persist and merge.
pub fn chatter_hash(login: &str) -> u64 {
    chatter_hash_bytes(login.as_bytes())
}

/// [`chatter_hash`] of a login's bytes.
pub fn chatter_hash_bytes(login: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in login {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
