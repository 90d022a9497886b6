//! Writing a pyz: the payload compressed on all cores, written in deterministic order.
//!
//! Workers read, hash (CRC-32 and sha256) and compress files in parallel; the calling
//! thread writes them into the inner zip in payload order (see `parallel`), which streams
//! through a CRC into the outer zip's first member (see `writer::add_streamed`). The
//! bytes depend only on the payload's paths, contents and exec bits and on the options:
//! never on thread count, timing or where the files are.
//!
//! # Memory
//!
//! Files up to [`WHOLE_FILE_LIMIT`] are compressed as one buffer (libdeflate needs whole
//! buffers); each charges twice its size (input and output) against [`BUDGET`] from the
//! moment it is claimed until the worker is done, then what it keeps until it is written.
//! Larger files are streamed through a fixed buffer, compressed into an anonymous temporary
//! file (in `TMPDIR`) and copied from there, or read again from the source when stored.
//! Workers claim files in order and only within the budget, so a build holds at most
//! `BUDGET` bytes of file data (one file over the budget is not possible: the limit is a
//! quarter of it), plus per worker one read buffer and one compressor's state: under 1 MiB
//! for deflate, 8 MiB for bzip2, but for LZMA what liblzma documents for the preset (about
//! 94 MiB at 6 and 674 MiB at 9, for files of 8 MiB and 64 MiB or more: the dictionary
//! never exceeds the file). Measured on a 154 MB, 6,300-file tree at deflate-6 on two
//! threads: 67 MB peak RSS.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::compress::{BufferCompressor, StreamEncoder};
use super::parallel::{ordered_map, Held, Work};
use super::writer::{CrcWriter, EntryInfo, Method, ZipWriter};
use crate::progress::{Progress, Step};

pub use super::compress::Compression;

/// The outer member holding the payload.
pub const PAYLOAD_NAME: &str = "_rshiv/payload.zip";

/// Cap on file data held in memory at once (read, compressed, not yet written). Large
/// enough that a big file in flight (a 25 MB shared library charges 50 MB) leaves the
/// other workers room to go on: on heavy at two threads, 64 MiB packed in 1.38 s and
/// 52 MB peak RSS, 128 MiB in 1.22 s and 67 MB; more gains nothing.
pub const BUDGET: u64 = if cfg!(test) { 512 << 10 } else { 128 << 20 };
/// Files up to this size are compressed in memory; larger ones are streamed. (Tests use
/// small limits so that small trees take every path.)
pub const WHOLE_FILE_LIMIT: u64 = if cfg!(test) { 64 << 10 } else { 32 << 20 };
/// Read buffer of a streamed file, and what streaming one charges against the budget.
const STREAM_CHUNK: usize = if cfg!(test) { 16 << 10 } else { 1 << 20 };

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
    /// Deflate it (when that makes it smaller). Only for members the warm path never
    /// reads: reading a deflated member makes zipimport load zlib.
    pub deflate: bool,
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
    tail: &mut dyn FnMut(&PayloadSummary) -> Result<Vec<TailMember>>,
) -> Result<PayloadSummary> {
    check_shebang(&options.shebang)?;
    options.compression.check()?;
    check_sorted(payload)?;
    let sizes = payload
        .iter()
        .map(|file| Ok(fs_err::metadata(&file.source)?.len()))
        .collect::<Result<Vec<u64>>>()?;

    let mut out = BufWriter::with_capacity(1 << 20, out);
    let shebang_line = format!("{}\n", options.shebang);
    out.write_all(shebang_line.as_bytes())
        .context("failed to write the pyz")?;
    let mut outer = ZipWriter::new(&mut out, shebang_line.len() as u64, options.timestamp);

    progress.start(Step::Packing, Some(sizes.iter().sum()));
    let _finish = FinishOnDrop(progress);
    let reserve_zip64 = may_reach_4_gib(payload, &sizes);
    let summary = outer.add_streamed(PAYLOAD_NAME, false, reserve_zip64, |stream| {
        write_payload(stream, payload, &sizes, options, progress)
    })?;

    let mut deflater = BufferCompressor::new(Compression::Deflate(12));
    for member in tail(&summary)? {
        let deflated = if member.deflate {
            deflater.compress(&member.data)?
        } else {
            None
        };
        let (info, data) = match &deflated {
            Some(compressed) => (EntryInfo::deflated(&member.data, compressed), compressed),
            None => (EntryInfo::stored(&member.data, false), &member.data),
        };
        outer
            .add(&member.name, info, data)
            .context("failed to write the pyz")?;
    }
    outer.finish().context("failed to write the pyz")?;
    out.flush().context("failed to write the pyz")?;
    Ok(summary)
}

/// The inner zip: every payload file, compressed in parallel, written in order.
fn write_payload<W: Write>(
    stream: &mut CrcWriter<W>,
    payload: &[PayloadFile],
    sizes: &[u64],
    options: &PackOptions,
    progress: &dyn Progress,
) -> Result<PayloadSummary> {
    let compression = options.compression;
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let work = Work {
        threads,
        budget: BUDGET,
        cost: &|i| match sizes[i] {
            size if size <= WHOLE_FILE_LIMIT => 2 * size,
            _ => STREAM_CHUNK as u64,
        },
        init: &|| BufferCompressor::new(compression),
        work: &|compressor, i| pack_file(compressor, compression, &payload[i], sizes[i]),
    };

    let mut inner = ZipWriter::new(&mut *stream, 0, options.timestamp);
    let mut build_id = BuildId::default();
    let mut summary = PayloadSummary {
        files: payload.len(),
        ..PayloadSummary::default()
    };
    let mut buffer = vec![0; STREAM_CHUNK];
    let mut write = |i: usize, packed: Result<Packed>| -> Result<()> {
        let packed = packed?;
        let file = &payload[i];
        build_id.add(&file.path, file.executable, &packed.sha256);
        if file.path.ends_with(".py") {
            let hash = hex(&packed.sha256);
            summary.py_hashes.insert(file.path.clone(), hash);
        }
        let size = packed.info.size;
        write_entry(&mut inner, file, packed, &mut buffer)?;
        summary.unpacked_bytes += size;
        progress.advance(size);
        Ok(())
    };
    ordered_map(payload.len(), &work, &mut write)?;
    inner.finish().context("failed to write the pyz")?;

    summary.payload_bytes = stream.count();
    summary.build_id = match &options.build_id {
        Some(id) => id.clone(),
        None => build_id.finish(),
    };
    Ok(summary)
}

/// A payload file, hashed and compressed, waiting for its turn to be written.
struct Packed {
    info: EntryInfo,
    sha256: [u8; 32],
    data: Data,
}

/// Where a packed file's entry data is.
enum Data {
    Memory(Vec<u8>),
    /// Compressed into an anonymous temporary file.
    Spool(File),
    /// Stored as is: read again from the source when it is written.
    Source,
}

impl Held for Packed {
    fn held_bytes(&self) -> u64 {
        match &self.data {
            Data::Memory(data) => data.len() as u64,
            Data::Spool(_) | Data::Source => 0,
        }
    }
}

/// Read, hash and compress one file (on a worker thread).
fn pack_file(
    compressor: &mut BufferCompressor,
    compression: Compression,
    file: &PayloadFile,
    size: u64,
) -> Result<Packed> {
    if size > WHOLE_FILE_LIMIT {
        return pack_large_file(compression, file, size);
    }
    let input = fs_err::read(&file.source)?;
    let size = input.len() as u64;
    let crc32 = crc32fast::hash(&input);
    let sha256 = Sha256::digest(&input).into();
    let compressed = compressor
        .compress(&input)
        .with_context(|| format!("failed to compress {}", file.source.display()))?;
    let (method, data) = match compressed {
        Some(data) => (compression.method(), data),
        None => (Method::Stored, input),
    };
    let info = EntryInfo {
        method,
        crc32,
        compressed_size: data.len() as u64,
        size,
        executable: file.executable,
    };
    Ok(Packed {
        info,
        sha256,
        data: Data::Memory(data),
    })
}

/// Stream a big file through the hashes and the compressor into a temporary file.
fn pack_large_file(compression: Compression, file: &PayloadFile, size: u64) -> Result<Packed> {
    let mut reader = fs_err::File::open(&file.source)?;
    let mut encoder = match compression {
        Compression::Stored => None,
        _ => {
            let spool = tempfile::tempfile().context("failed to create a temporary file")?;
            Some(StreamEncoder::new(
                compression,
                size,
                BufWriter::with_capacity(STREAM_CHUNK, spool),
            )?)
        }
    };
    let compress_error = || format!("failed to compress {}", file.source.display());
    let mut crc32 = crc32fast::Hasher::new();
    let mut sha256 = Sha256::new();
    let mut total = 0u64;
    let mut buffer = vec![0; STREAM_CHUNK];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        crc32.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        total += n as u64;
        if let Some(encoder) = &mut encoder {
            encoder
                .write_all(&buffer[..n])
                .with_context(compress_error)?;
        }
    }
    let mut info = EntryInfo {
        method: Method::Stored,
        crc32: crc32.finalize(),
        compressed_size: total,
        size: total,
        executable: file.executable,
    };
    let sha256 = sha256.finalize().into();
    if let Some(encoder) = encoder {
        let mut spool = encoder
            .finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .with_context(compress_error)?;
        let compressed_size = spool.stream_position().with_context(compress_error)?;
        if compressed_size < total {
            info.method = compression.method();
            info.compressed_size = compressed_size;
            return Ok(Packed {
                info,
                sha256,
                data: Data::Spool(spool),
            });
        }
    }
    Ok(Packed {
        info,
        sha256,
        data: Data::Source,
    })
}

/// Write one packed file's entry into the inner zip (on the calling thread).
fn write_entry<W: Write>(
    inner: &mut ZipWriter<W>,
    file: &PayloadFile,
    packed: Packed,
    buffer: &mut [u8],
) -> Result<()> {
    let write_error = "failed to write the pyz";
    inner
        .start_entry(&file.path, packed.info)
        .context(write_error)?;
    match packed.data {
        Data::Memory(data) => inner.write_data(&data).context(write_error)?,
        Data::Spool(mut spool) => {
            spool
                .seek(SeekFrom::Start(0))
                .context("failed to read a temporary file")?;
            copy(&mut spool, inner, packed.info.compressed_size, buffer)
                .context("failed to copy a compressed temporary file")?;
        }
        Data::Source => {
            let mut source = fs_err::File::open(&file.source)?;
            let crc32 = copy(&mut source, inner, packed.info.size, buffer)?;
            let grew = source.read(&mut buffer[..1])? > 0;
            if crc32 != packed.info.crc32 || grew {
                bail!(
                    "{} changed while the pyz was being written",
                    file.source.display()
                );
            }
        }
    }
    Ok(())
}

/// Copy exactly `len` bytes from `reader` into the current entry; returns their CRC-32.
fn copy<W: Write>(
    reader: &mut dyn Read,
    inner: &mut ZipWriter<W>,
    len: u64,
    buffer: &mut [u8],
) -> Result<u32> {
    let mut crc32 = crc32fast::Hasher::new();
    let mut left = len;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = reader.read(&mut buffer[..want])?;
        if n == 0 {
            bail!("ended {left} bytes early");
        }
        crc32.update(&buffer[..n]);
        inner
            .write_data(&buffer[..n])
            .context("failed to write the pyz")?;
        left -= n as u64;
    }
    Ok(crc32.finalize())
}

/// Whether the inner zip could reach 4 GiB, so that its outer header needs a ZIP64 field:
/// no entry's data exceeds the file (the STORED fallback), and every name appears twice,
/// with at most a local header, a central header and their ZIP64 fields each.
fn may_reach_4_gib(payload: &[PayloadFile], sizes: &[u64]) -> bool {
    const PER_ENTRY: u64 = 30 + 20 + 46 + 28;
    const END: u64 = 56 + 20 + 22;
    let bound = payload
        .iter()
        .zip(sizes)
        .map(|(file, size)| size + 2 * file.path.len() as u64 + PER_ENTRY)
        .sum::<u64>()
        + END;
    bound >= u64::from(u32::MAX)
}

fn check_shebang(shebang: &str) -> Result<()> {
    if !shebang.starts_with("#!") || shebang.contains(['\n', '\r']) {
        bail!("the shebang must be one line starting with #!, not {shebang:?}");
    }
    Ok(())
}

fn check_sorted(payload: &[PayloadFile]) -> Result<()> {
    if let Some(pair) = payload.windows(2).find(|pair| pair[0].path >= pair[1].path) {
        bail!(
            "payload paths out of order or repeated: {} before {}",
            pair[0].path,
            pair[1].path
        );
    }
    Ok(())
}

/// The build id (see `archive`), fed one payload file at a time in entry order.
#[derive(Default)]
pub struct BuildId(Sha256);

impl BuildId {
    /// Add a file: its payload path, whether it is executable, the sha256 of its bytes.
    pub fn add(&mut self, path: &str, executable: bool, sha256: &[u8; 32]) {
        let mode: &[u8] = if executable { b"100755" } else { b"100644" };
        self.0
            .update([path.as_bytes(), b"\0", mode, b"\0", sha256].concat());
    }

    /// The id: lowercase hex.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// Lowercase hex of bytes: how rshiv writes every sha256 (build ids, payload hashes,
/// locks, interpreter archives).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256, as [`hex`], of a file's bytes (a pyz, an interpreter archive), read as a stream.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Ends the progress step however packing ends, so no bar is left behind on an error.
struct FinishOnDrop<'a>(&'a dyn Progress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(count: usize) -> Vec<PayloadFile> {
        (0..count)
            .map(|i| PayloadFile {
                path: format!("f{i:06}"),
                source: PathBuf::new(),
                executable: false,
            })
            .collect()
    }

    #[test]
    fn zip64_is_reserved_only_near_4_gib() {
        assert!(!may_reach_4_gib(&files(3), &[1 << 30, 1 << 30, 1 << 30]));
        assert!(may_reach_4_gib(&files(4), &[1 << 30; 4]));
        assert!(!may_reach_4_gib(&files(70_000), &[1000; 70_000]));
        assert!(may_reach_4_gib(&files(1), &[u64::from(u32::MAX)]));
    }
}
