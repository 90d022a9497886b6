//! The compression methods a payload entry may use, and how each is produced so that
//! CPython's `zipfile` extracts it with the standard library alone.
//!
//! * Deflate (method 8): libdeflate for whole buffers (fast, and levels up to 12); files
//!   too big to hold in memory are streamed through flate2 on zlib-rs at `min(level, 9)`,
//!   since libdeflate only compresses whole buffers (zlib-rs rather than flate2's default
//!   miniz_oxide: about twice as fast, which matters for one big file on one core).
//! * bzip2 (method 12): a complete bzip2 stream (`BZh` + blocks), from libbzip2, which is
//!   what `zipfile`'s `bz2.BZ2Decompressor` reads.
//! * LZMA (method 14): APPNOTE 5.8.8's layout, as CPython's `zipfile.LZMACompressor` writes
//!   it: a 4-byte header (LZMA SDK version 9.4, then the properties' size, 5, little-endian),
//!   the 5 LZMA1 properties (lc/lp/pb byte, dictionary size), then raw LZMA1 data ending in
//!   an end-of-stream marker, from liblzma (the library behind CPython's `lzma`).

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use liblzma::stream::{Filters, LzmaOptions, Stream};

use super::writer::Method;

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

/// What `--compression` accepts, for the error message.
const VALID: &str = "stored, deflate, deflate-1 ... deflate-12, bzip2, bzip2-1 ... bzip2-9, \
                     lzma, lzma-0 ... lzma-9";

/// A `--compression` value that names no method.
#[derive(Debug, thiserror::Error)]
#[error("unknown compression {0:?}; valid values: {VALID}")]
pub struct InvalidCompression(String);

impl Compression {
    /// What `--compression` means by default and by plain `deflate`: zlib's default level.
    pub const DEFAULT: Compression = Compression::Deflate(6);

    /// Parse a `--compression` value: `stored`, `deflate` (level 6), `deflate-1` ..
    /// `deflate-12`, `bzip2` (level 9), `bzip2-1` .. `bzip2-9`, `lzma` (preset 6),
    /// `lzma-0` .. `lzma-9`. The same as `str::parse`.
    pub fn parse(text: &str) -> Result<Compression, InvalidCompression> {
        text.parse()
    }

    /// Itself if its level is in range for its method.
    pub fn check(self) -> Result<Compression, InvalidCompression> {
        let in_range = match self {
            Compression::Stored => true,
            Compression::Deflate(level) => (1..=12).contains(&level),
            Compression::Bzip2(level) => (1..=9).contains(&level),
            Compression::Lzma(level) => level <= 9,
        };
        if in_range {
            Ok(self)
        } else {
            Err(InvalidCompression(self.to_string()))
        }
    }

    /// The zip method its entries carry (before the STORED fallback).
    pub(crate) fn method(self) -> Method {
        match self {
            Compression::Stored => Method::Stored,
            Compression::Deflate(_) => Method::Deflate,
            Compression::Bzip2(_) => Method::Bzip2,
            Compression::Lzma(_) => Method::Lzma,
        }
    }
}

impl FromStr for Compression {
    type Err = InvalidCompression;

    fn from_str(text: &str) -> Result<Compression, InvalidCompression> {
        let invalid = || InvalidCompression(text.to_string());
        let (name, level) = match text.split_once('-') {
            Some((name, level)) => {
                // Digits only: `u8::from_str` would also take `+6`.
                if level.is_empty() || !level.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                (name, Some(level.parse::<u8>().map_err(|_| invalid())?))
            }
            None => (text, None),
        };
        match name {
            "stored" if level.is_none() => Ok(Compression::Stored),
            "deflate" => Compression::Deflate(level.unwrap_or(6)).check(),
            "bzip2" => Compression::Bzip2(level.unwrap_or(9)).check(),
            "lzma" => Compression::Lzma(level.unwrap_or(6)).check(),
            _ => Err(invalid()),
        }
        .map_err(|_| invalid())
    }
}

/// The canonical name, with the level always spelled out (`deflate-6`): what
/// `environment.json` records.
impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Stored => f.write_str("stored"),
            Compression::Deflate(level) => write!(f, "deflate-{level}"),
            Compression::Bzip2(level) => write!(f, "bzip2-{level}"),
            Compression::Lzma(level) => write!(f, "lzma-{level}"),
        }
    }
}

/// Compresses whole buffers; one per worker thread, reused from file to file.
pub struct BufferCompressor {
    compression: Compression,
    /// Allocated once: libdeflate's compressor state is costly to set up per file.
    deflate: Option<libdeflater::Compressor>,
}

impl BufferCompressor {
    /// A compressor for `compression`, whose level [`Compression::check`] accepts.
    pub fn new(compression: Compression) -> BufferCompressor {
        let deflate = match compression {
            Compression::Deflate(level) => {
                let level = libdeflater::CompressionLvl::new(i32::from(level)).unwrap_or_default();
                Some(libdeflater::Compressor::new(level))
            }
            _ => None,
        };
        BufferCompressor {
            compression,
            deflate,
        }
    }

    /// `input` compressed, or `None` when that would not make it smaller (the entry is
    /// then STORED). Empty input is always stored.
    pub fn compress(&mut self, input: &[u8]) -> io::Result<Option<Vec<u8>>> {
        if input.is_empty() || self.compression == Compression::Stored {
            return Ok(None);
        }
        if let Some(deflate) = &mut self.deflate {
            // One byte less than the input: libdeflate reports "no space" exactly when the
            // result would not be smaller.
            let mut out = vec![0; input.len() - 1];
            return Ok(match deflate.deflate_compress(input, &mut out) {
                Ok(n) => Some(out[..n].to_vec()),
                Err(libdeflater::CompressionError::InsufficientSpace) => None,
            });
        }
        let mut encoder = StreamEncoder::new(
            self.compression,
            input.len() as u64,
            Vec::with_capacity(input.len()),
        )?;
        encoder.write_all(input)?;
        let out = encoder.finish()?;
        Ok((out.len() < input.len()).then_some(out))
    }
}

/// A streaming encoder for files too big to compress as one buffer.
pub enum StreamEncoder<W: Write> {
    Deflate(flate2::write::DeflateEncoder<W>),
    Bzip2(bzip2::write::BzEncoder<W>),
    Lzma(liblzma::write::XzEncoder<W>),
}

impl<W: Write> StreamEncoder<W> {
    /// An encoder writing into `sink`; `size` is the input's expected size, which bounds
    /// LZMA's dictionary. `Compression::Stored` has no encoder.
    pub fn new(compression: Compression, size: u64, mut sink: W) -> io::Result<StreamEncoder<W>> {
        Ok(match compression {
            Compression::Stored => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "stored entries are not encoded",
                ))
            }
            Compression::Deflate(level) => {
                StreamEncoder::Deflate(flate2::write::DeflateEncoder::new(
                    sink,
                    flate2::Compression::new(u32::from(level.min(9))),
                ))
            }
            Compression::Bzip2(level) => StreamEncoder::Bzip2(bzip2::write::BzEncoder::new(
                sink,
                bzip2::Compression::new(u32::from(level)),
            )),
            Compression::Lzma(preset) => {
                let dict_size = lzma_dict_size(preset, size);
                sink.write_all(&lzma_header(dict_size))?;
                let mut options = LzmaOptions::new_preset(u32::from(preset))?;
                options
                    .dict_size(dict_size)
                    .literal_context_bits(LZMA_LC)
                    .literal_position_bits(LZMA_LP)
                    .position_bits(LZMA_PB);
                let mut filters = Filters::new();
                filters.lzma1(&options);
                let stream = Stream::new_raw_encoder(&filters)?;
                StreamEncoder::Lzma(liblzma::write::XzEncoder::new_stream(sink, stream))
            }
        })
    }

    /// End the stream and hand back the sink.
    pub fn finish(self) -> io::Result<W> {
        match self {
            StreamEncoder::Deflate(e) => e.finish(),
            StreamEncoder::Bzip2(e) => e.finish(),
            StreamEncoder::Lzma(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for StreamEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StreamEncoder::Deflate(e) => e.write(buf),
            StreamEncoder::Bzip2(e) => e.write(buf),
            StreamEncoder::Lzma(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            StreamEncoder::Deflate(e) => e.flush(),
            StreamEncoder::Bzip2(e) => e.flush(),
            StreamEncoder::Lzma(e) => e.flush(),
        }
    }
}

/// liblzma's preset values for the literal context, literal position and position bits
/// (the same for presets 0 to 9); set explicitly because the properties header states them.
const LZMA_LC: u32 = 3;
const LZMA_LP: u32 = 0;
const LZMA_PB: u32 = 2;

/// The dictionary of an LZMA preset (liblzma's `lzma_lzma_preset`: 256 KiB at 0 up to
/// 64 MiB at 9), no larger than the input rounded up to a power of two (4 KiB at least,
/// liblzma's minimum). A dictionary beyond the input only costs memory, in the encoder
/// and in every decoder that extracts the entry, with no gain in size.
fn lzma_dict_size(preset: u8, size: u64) -> u32 {
    const LOG2: [u32; 10] = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26];
    let preset_dict = 1u64 << LOG2[usize::from(preset.min(9))];
    let needed = size.max(4096).next_power_of_two();
    // Both are at most 64 MiB.
    preset_dict.min(needed) as u32
}

/// APPNOTE 5.8.8's LZMA header: LZMA SDK version (CPython writes 9.4), properties size
/// (LE u16), then the LZMA1 properties: `(pb * 5 + lp) * 9 + lc`, dictionary size (LE u32).
fn lzma_header(dict_size: u32) -> [u8; 9] {
    let mut header = [
        9,
        4,
        5,
        0,
        ((LZMA_PB * 5 + LZMA_LP) * 9 + LZMA_LC) as u8,
        0,
        0,
        0,
        0,
    ];
    header[5..].copy_from_slice(&dict_size.to_le_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_value_and_prints_it_back() {
        assert_eq!(Compression::parse("stored").unwrap(), Compression::Stored);
        assert_eq!(Compression::parse("deflate").unwrap(), Compression::DEFAULT);
        assert_eq!(Compression::parse("bzip2").unwrap(), Compression::Bzip2(9));
        assert_eq!(Compression::parse("lzma").unwrap(), Compression::Lzma(6));
        let canonical = (1..=12)
            .map(|l| format!("deflate-{l}"))
            .chain((1..=9).map(|l| format!("bzip2-{l}")))
            .chain((0..=9).map(|l| format!("lzma-{l}")))
            .chain(["stored".to_string()]);
        for name in canonical {
            assert_eq!(Compression::parse(&name).unwrap().to_string(), name);
        }
    }

    #[test]
    fn refuses_unknown_values_listing_the_valid_ones() {
        for bad in [
            "",
            "zip",
            "deflate-0",
            "deflate-13",
            "bzip2-0",
            "lzma-10",
            "stored-1",
            "deflate-",
            "deflate-+6",
            "Deflate",
            "lzma--1",
        ] {
            let err = Compression::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("deflate-1 ... deflate-12"), "{err}");
        }
    }

    #[test]
    fn stores_what_does_not_shrink() {
        let noise = crate::archive::tests::noise(4096);
        for c in ["deflate-6", "bzip2-9", "lzma-6"] {
            let mut compressor = BufferCompressor::new(Compression::parse(c).unwrap());
            assert!(compressor.compress(&noise).unwrap().is_none(), "{c}");
            assert!(compressor.compress(b"").unwrap().is_none(), "{c}");
            let text = b"hello world ".repeat(100);
            let packed = compressor.compress(&text).unwrap().unwrap();
            assert!(packed.len() < text.len(), "{c}");
        }
    }

    #[test]
    fn lzma_dictionary_follows_the_preset_and_the_input() {
        assert_eq!(lzma_dict_size(6, 100 << 20), 8 << 20);
        assert_eq!(lzma_dict_size(9, 100 << 20), 64 << 20);
        assert_eq!(lzma_dict_size(0, 100 << 20), 256 << 10);
        assert_eq!(lzma_dict_size(9, 10), 4096);
        assert_eq!(lzma_dict_size(9, 5000), 8192);
        assert_eq!(lzma_header(8 << 20), [9, 4, 5, 0, 0x5d, 0, 0, 0x80, 0]);
    }
}
