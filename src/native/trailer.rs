//! The trailer of a native executable: where the interpreter archive lies and what it is.
//!
//! It is the comment of the zip app's end of central directory record (APPNOTE.TXT 4.3.16),
//! so the file stays a valid zip, and it ends the file, so the launcher finds it with two
//! small reads of its own executable:
//!
//! ```text
//! rshiv-native-1\n
//! key=value\n ...                (the fields of `Trailer`; values are one line each)
//! <8 lowercase hex digits>       length of the text above
//! RSHIVNAT                       MAGIC
//! ```
//!
//! The text is printable ASCII (values are checked), so it never holds a zip signature that
//! a reader scanning backwards for `PK\x05\x06` could mistake for the end record.

use std::fs::File;
use std::os::unix::fs::FileExt;

use anyhow::{bail, Context, Result};

/// The last eight bytes of a native executable.
pub const MAGIC: &[u8; 8] = b"RSHIVNAT";
/// The first line of the trailer's text.
pub const FORMAT: &str = "rshiv-native-1";
/// Length digits plus `MAGIC`.
pub const FOOTER_LEN: u64 = 16;
/// A zip comment holds at most 65,535 bytes.
const MAX_LEN: u64 = 0xFFFF;

/// Everything the launcher needs to know, and `rshiv info` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// Where the interpreter archive starts in the file, and its length.
    pub archive_offset: u64,
    pub archive_size: u64,
    /// sha256 (lowercase hex) of the archive's bytes.
    pub archive_sha256: String,
    /// `gz` or `zst` (see [`super::archive::Compression`]).
    pub compression: String,
    /// `3.12.7`.
    pub python_version: String,
    /// `x86_64-unknown-linux-gnu`.
    pub python_platform: String,
    /// The interpreter, relative to the unpacked tree: `python/bin/python3.12`.
    pub python_executable: String,
    /// Total size and number of the archive's files, unpacked.
    pub unpacked_bytes: u64,
    pub files: u64,
    /// The baked `--root` (`$VAR` is read at run time), if any.
    pub root: Option<String>,
    pub launcher_version: String,
}

impl Trailer {
    /// Where the zip app (its shebang line) starts: right after the archive.
    pub fn zip_offset(&self) -> u64 {
        self.archive_offset + self.archive_size
    }

    /// The trailer's bytes: text, length, magic.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut text = format!("{FORMAT}\n");
        for (key, value) in self.fields() {
            if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                bail!(
                    "{key} {value:?} must be printable ASCII to go into the executable's trailer"
                );
            }
            text.push_str(&format!("{key}={value}\n"));
        }
        let len = text.len() as u64;
        if len + FOOTER_LEN > MAX_LEN {
            bail!("the executable's trailer would be {len} bytes, more than a zip comment holds");
        }
        let mut out = text.into_bytes();
        out.extend_from_slice(format!("{len:08x}").as_bytes());
        out.extend_from_slice(MAGIC);
        Ok(out)
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("archive_offset", self.archive_offset.to_string()),
            ("archive_size", self.archive_size.to_string()),
            ("archive_sha256", self.archive_sha256.clone()),
            ("compression", self.compression.clone()),
            ("python_version", self.python_version.clone()),
            ("python_platform", self.python_platform.clone()),
            ("python_executable", self.python_executable.clone()),
            ("unpacked_bytes", self.unpacked_bytes.to_string()),
            ("files", self.files.to_string()),
            ("root", self.root.clone().unwrap_or_default()),
            ("launcher_version", self.launcher_version.clone()),
        ]
    }

    /// Parse the text part (without length and magic).
    pub fn decode(text: &str) -> Result<Trailer> {
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            bail!("unknown trailer format (expected {FORMAT})");
        }
        let pairs: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once('=')).collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
                .with_context(|| format!("the trailer has no {key}"))
        };
        let number = |key: &str| -> Result<u64> {
            get(key)?
                .parse()
                .with_context(|| format!("the trailer's {key} is not a number"))
        };
        let root = get("root")?;
        Ok(Trailer {
            archive_offset: number("archive_offset")?,
            archive_size: number("archive_size")?,
            archive_sha256: get("archive_sha256")?,
            compression: get("compression")?,
            python_version: get("python_version")?,
            python_platform: get("python_platform")?,
            python_executable: get("python_executable")?,
            unpacked_bytes: number("unpacked_bytes")?,
            files: number("files")?,
            root: (!root.is_empty()).then_some(root),
            launcher_version: get("launcher_version")?,
        })
    }

    /// The trailer at the end of `file` (`len` bytes long): `None` when the file does not end
    /// in `MAGIC` (not a native executable, or one cut short), an error when it is damaged.
    pub fn read(file: &File, len: u64) -> Result<Option<Trailer>> {
        if len < FOOTER_LEN {
            return Ok(None);
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, len - FOOTER_LEN)?;
        if &footer[8..] != MAGIC {
            return Ok(None);
        }
        let size = std::str::from_utf8(&footer[..8])
            .ok()
            .and_then(|digits| u64::from_str_radix(digits, 16).ok())
            .filter(|size| size + FOOTER_LEN <= len.min(MAX_LEN))
            .context("the trailer's length is damaged")?;
        let mut text = vec![0u8; size as usize];
        file.read_exact_at(&mut text, len - FOOTER_LEN - size)?;
        let text = String::from_utf8(text).context("the trailer is not text")?;
        let trailer = Trailer::decode(&text)?;
        let end = trailer.archive_offset.checked_add(trailer.archive_size);
        if end.is_none_or(|end| end > len) {
            bail!("the trailer places the interpreter archive beyond the end of the file");
        }
        Ok(Some(trailer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trailer {
        Trailer {
            archive_offset: 10,
            archive_size: 20,
            archive_sha256: "ab".repeat(32),
            compression: "gz".into(),
            python_version: "3.12.1".into(),
            python_platform: "x86_64-unknown-linux-gnu".into(),
            python_executable: "python/bin/python3.12".into(),
            unpacked_bytes: 1000,
            files: 7,
            root: Some("$HOME/x".into()),
            launcher_version: "0.1.0".into(),
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let mut bytes = vec![0u8; 40];
        bytes.extend(sample().encode().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app");
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let read = Trailer::read(&file, bytes.len() as u64).unwrap();
        assert_eq!(read, Some(sample()));
        let cut = Trailer::read(&file, bytes.len() as u64 - 1).unwrap();
        assert_eq!(cut, None);
    }

    #[test]
    fn refuses_values_that_would_break_the_text() {
        let mut trailer = sample();
        trailer.root = Some("a\nb".into());
        assert!(trailer.encode().is_err());
    }
}
