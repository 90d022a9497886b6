//! Writing a pyz: the payload compressed on all cores, written in deterministic order.
//!
//! (Interface fixed by the skeleton; the archive work fills it in.)

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use crate::progress::Progress;

/// One file of the payload.
#[derive(Debug, Clone)]
pub struct PayloadFile {
    /// Path relative to site-packages, `/`-separated (`simple_api/api.py`).
    pub path: String,
    /// Where the bytes are on disk now.
    pub source: PathBuf,
    /// Any execute bit set at build time: stored as 0o755, else 0o644.
    pub executable: bool,
}

/// How the payload's entries are compressed. Every method is one CPython's `zipfile`
/// extracts with the standard library alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Stored,
    /// Deflate (method 8), level 1 to 12 (libdeflate's scale; 6 is zlib's default).
    Deflate(u8),
    /// bzip2 (method 12), level 1 to 9.
    Bzip2(u8),
    /// LZMA (method 14), preset 0 to 9.
    Lzma(u8),
}

/// Everything about how to write, apart from the payload itself.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The whole first line, `#!` included, without the newline.
    pub shebang: String,
    pub compression: Compression,
    /// Seconds since the Unix epoch for every entry's timestamp (clamped to 1980..=2107).
    pub timestamp: u64,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Replaces the computed build id (shiv's `--build-id`).
    pub build_id: Option<String>,
}

/// What writing the payload found out; handed to the tail callback, then returned.
#[derive(Debug, Clone, Default)]
pub struct PayloadSummary {
    pub build_id: String,
    pub files: usize,
    /// Sum of the files' sizes.
    pub unpacked_bytes: u64,
    /// Size of the inner zip.
    pub payload_bytes: u64,
    /// sha256 hex of every `.py` file, by payload path (shiv's `hashes`, for `--no-modify`).
    pub py_hashes: BTreeMap<String, String>,
}

/// A small member of the outer zip written after the payload (`__main__.py`, ...).
#[derive(Debug, Clone)]
pub struct TailMember {
    pub name: String,
    pub data: Vec<u8>,
}

/// Write the shebang line and the outer zip to `out` (positioned at 0, empty).
///
/// `payload` is sorted by path and free of duplicates. `tail` is called once the payload is
/// written and hashed, and returns the outer members that follow it, in order.
pub fn write_pyz(
    out: &mut File,
    payload: &[PayloadFile],
    options: &PackOptions,
    progress: &dyn Progress,
    tail: &mut dyn FnMut(&PayloadSummary) -> anyhow::Result<Vec<TailMember>>,
) -> anyhow::Result<PayloadSummary> {
    let _ = (out, payload, options, progress, tail);
    anyhow::bail!("archive writer not yet implemented")
}

impl Compression {
    /// Parse `--compression` (placeholder until the archive work lands).
    pub fn parse(value: &str) -> anyhow::Result<Compression> {
        match value {
            "stored" => Ok(Compression::Stored),
            "deflate" => Ok(Compression::Deflate(6)),
            _ => anyhow::bail!("--compression {value:?}: expected stored or deflate"),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Placeholder until the archive work lands.
pub fn build_timestamp() -> anyhow::Result<u64> {
    Ok(315_532_800)
}

/// Placeholder until the archive work lands.
pub fn built_at(_timestamp: u64) -> String {
    "1980-01-01 00:00:00".to_string()
}
