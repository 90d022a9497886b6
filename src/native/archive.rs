//! Reading an interpreter archive: a tar stream, gzip (RFC 1952) or zstd (RFC 8878)
//! compressed, told apart by its first bytes. Shared by the build (`dist`) and the launcher.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// From the first four bytes of the file (gzip: 1f 8b, zstd frame: 28 b5 2f fd).
    pub fn detect(magic: &[u8]) -> Option<Compression> {
        match magic {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The trailer's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    pub fn parse(name: &str) -> Option<Compression> {
        [Compression::Gzip, Compression::Zstd]
            .into_iter()
            .find(|c| c.as_str() == name)
    }

    /// The decompressed tar stream of `raw`.
    pub fn decoder<'a, R: Read + 'a>(self, raw: R) -> Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Zstd => Box::new(
                ruzstd::decoding::StreamingDecoder::new(raw)
                    .map_err(|err| anyhow::anyhow!("not a zstd stream: {err}"))?,
            ),
        })
    }
}

/// Unpack the tar stream of `raw` into `dest` (which exists and is empty). Members that
/// would land outside `dest` (`..`, absolute paths) are refused by the tar crate.
pub fn unpack(compression: Compression, raw: impl Read, dest: &Path) -> Result<()> {
    let mut tar = tar::Archive::new(compression.decoder(raw)?);
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_overwrite(false);
    for entry in tar
        .entries()
        .context("cannot read the interpreter archive")?
    {
        let mut entry = entry.context("cannot read the interpreter archive")?;
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let inside = entry
            .unpack_in(dest)
            .with_context(|| format!("cannot unpack {name} into {}", dest.display()))?;
        if !inside {
            bail!("the interpreter archive holds a member outside its tree: {name}");
        }
    }
    Ok(())
}
