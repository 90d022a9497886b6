//! Reading an interpreter archive: a tar stream, gzip (RFC 1952) or zstd (RFC 8878)
//! compressed, told apart by its first bytes. Shared by the build (`dist`) and the launcher.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::archive::hex;

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

/// Unpack the archive `raw` into `dest` (which exists and is empty), and return the sha256
/// (hex) of every byte of `raw`, read to its end whatever happens to the unpacking: the
/// caller compares it first, so a damaged archive is reported as such and nothing of it
/// is used. Decompression runs in a thread of its own, as `tar xzf` runs gzip beside tar.
pub fn unpack(
    compression: Compression,
    mut raw: impl Read + Send,
    dest: &Path,
) -> (String, Result<()>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut hasher = Sha256::new();
            let decoded = decode_into(compression, &mut raw, &mut hasher, tx);
            let rest = std::io::copy(&mut raw, &mut hasher);
            let result = decoded.and(
                rest.map(drop)
                    .context("cannot read the interpreter archive"),
            );
            (hex(&hasher.finalize()), result)
        });
        let untarred = untar(
            Chunks {
                rx,
                chunk: Vec::new(),
                at: 0,
            },
            dest,
        );
        let (sha256, decoded) = producer.join().expect("the decompression thread panicked");
        (sha256, decoded.and(untarred))
    })
}

/// Decompress `raw` (hashing what is read) in chunks into `tx`, until the end or until the
/// receiver hangs up.
fn decode_into(
    compression: Compression,
    raw: &mut dyn Read,
    hasher: &mut Sha256,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) -> Result<()> {
    let mut decoder = compression.decoder(Hashing { raw, hasher })?;
    loop {
        let mut chunk = vec![0u8; 256 << 10];
        let n = decoder
            .read(&mut chunk)
            .context("cannot decompress the interpreter archive")?;
        if n == 0 {
            return Ok(());
        }
        chunk.truncate(n);
        if tx.send(chunk).is_err() {
            return Ok(());
        }
    }
}

/// A reader that feeds what it reads to a hasher.
struct Hashing<'a> {
    raw: &'a mut dyn Read,
    hasher: &'a mut Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.raw.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The decompressed stream, as chunks from the decompression thread.
struct Chunks {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Unpack a tar stream into `dest`. Members that would land outside `dest` (`..`, absolute
/// paths) are refused by the tar crate.
fn untar(stream: impl Read, dest: &Path) -> Result<()> {
    let mut tar = tar::Archive::new(stream);
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
