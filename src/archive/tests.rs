//! End-to-end tests of the pyz: determinism, CPython reading it, ZIP64, the build id.

/// `n` bytes that no compressor shrinks (xorshift64).
pub fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}
