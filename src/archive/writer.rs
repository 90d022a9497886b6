//! The zip container format (PKWARE APPNOTE 6.3.x): local headers, central directory,
//! ZIP64 records, and nothing else (no data descriptors, no comments, no extra timestamps).
//!
//! Our own writer rather than the `zip` crate's: the payload's entries are compressed in
//! parallel before they are written, so the container must take data that is already
//! compressed (with its CRC and sizes known) and write it as is, in an order and with
//! header fields that we fix byte for byte; and the outer zip streams the inner one
//! through a CRC and patches its header afterwards. Those are a few hundred lines, where
//! bending a general writer to them would be more. The `zip` crate still reads archives.
//!
//! Every field is a function of the entry alone, so the same entries give the same bytes.

use std::io::{self, Seek, SeekFrom, Write};

use super::time::dos_datetime;

/// The largest value a 32-bit field holds; it and anything larger go to ZIP64 records.
const LIMIT32: u64 = 0xFFFF_FFFF;
/// The largest entry count the end-of-central-directory record holds.
const LIMIT16: usize = 0xFFFF;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
/// APPNOTE 4.5.3: the ZIP64 extended information extra field.
const ZIP64_EXTRA: u16 = 0x0001;

/// APPNOTE 4.4.2: the host system in `version made by` (3 = Unix, so that readers take
/// the high 16 bits of the external attributes as `st_mode`).
const MADE_BY_UNIX: u16 = 3 << 8;
/// APPNOTE 4.4.3.2 minimum versions: 2.0 (deflate, plain files), 4.5 (ZIP64).
const VERSION_DEFAULT: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// APPNOTE 4.4.4 bit 11: the name is UTF-8. Set only for non-ASCII names, as CPython does.
const FLAG_UTF8: u16 = 1 << 11;

/// The zip compression methods we write (APPNOTE 4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflate,
    Bzip2,
    Lzma,
}

impl Method {
    fn id(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflate => 8,
            Method::Bzip2 => 12,
            Method::Lzma => 14,
        }
    }

    /// APPNOTE 4.4.3.2 (the values CPython's `zipfile` writes too).
    fn version_needed(self) -> u16 {
        match self {
            Method::Stored | Method::Deflate => VERSION_DEFAULT,
            Method::Bzip2 => 46,
            Method::Lzma => 63,
        }
    }

    /// APPNOTE 4.4.4 bit 1 for LZMA: the data ends with an end-of-stream marker.
    fn flags(self) -> u16 {
        match self {
            Method::Lzma => 1 << 1,
            _ => 0,
        }
    }
}

/// One entry, apart from its name and data: everything its headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInfo {
    pub method: Method,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    /// Mode 0o100755 when set, else 0o100644.
    pub executable: bool,
}

impl EntryInfo {
    /// A STORED entry of `data`.
    pub fn stored(data: &[u8], executable: bool) -> EntryInfo {
        EntryInfo {
            method: Method::Stored,
            crc32: crc32fast::hash(data),
            compressed_size: data.len() as u64,
            size: data.len() as u64,
            executable,
        }
    }

    /// A DEFLATE entry of `data`, whose compressed bytes are `compressed`.
    pub fn deflated(data: &[u8], compressed: &[u8]) -> EntryInfo {
        EntryInfo {
            method: Method::Deflate,
            crc32: crc32fast::hash(data),
            compressed_size: compressed.len() as u64,
            size: data.len() as u64,
            executable: false,
        }
    }

    fn external_attributes(&self) -> u32 {
        let mode: u32 = if self.executable { 0o100755 } else { 0o100644 };
        mode << 16
    }

    fn flags(&self, name: &str) -> u16 {
        let utf8 = if name.is_ascii() { 0 } else { FLAG_UTF8 };
        self.method.flags() | utf8
    }

    /// Whether a local header needs ZIP64 sizes.
    fn sizes_need_zip64(&self) -> bool {
        self.size >= LIMIT32 || self.compressed_size >= LIMIT32
    }
}

/// An entry written so far, for the central directory.
struct Record {
    name: String,
    info: EntryInfo,
    offset: u64,
}

/// Writes a zip archive to `out`, entry by entry, then its central directory.
pub struct ZipWriter<W: Write> {
    out: W,
    /// Offset of the next byte from the origin the archive's offsets count from.
    position: u64,
    /// MS-DOS time and date of every entry.
    time: u16,
    date: u16,
    records: Vec<Record>,
    /// Data bytes the current entry's header announced and that are not written yet.
    pending: u64,
}

impl<W: Write> ZipWriter<W> {
    /// A writer whose first byte goes at offset `position` (the length of what precedes
    /// the zip, when offsets count from the start of the file, as PEP 441 zip applications
    /// written by `zipapp` do), with every entry dated `timestamp` (Unix seconds).
    pub fn new(out: W, position: u64, timestamp: u64) -> ZipWriter<W> {
        let (time, date) = dos_datetime(timestamp);
        ZipWriter {
            out,
            position,
            time,
            date,
            records: Vec::new(),
            pending: 0,
        }
    }

    /// Offset of the next byte.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Write an entry whose data is all in `data`.
    pub fn add(&mut self, name: &str, info: EntryInfo, data: &[u8]) -> io::Result<()> {
        self.start_entry(name, info)?;
        self.write_data(data)
    }

    /// Write an entry's local header; exactly `info.compressed_size` bytes of data must
    /// follow through [`ZipWriter::write_data`].
    pub fn start_entry(&mut self, name: &str, info: EntryInfo) -> io::Result<()> {
        self.check_complete()?;
        let header = self.local_header(name, &info, info.sizes_need_zip64())?;
        self.out.write_all(&header)?;
        self.records.push(Record {
            name: name.to_string(),
            info,
            offset: self.position,
        });
        self.position += header.len() as u64;
        self.pending = info.compressed_size;
        Ok(())
    }

    /// Data of the current entry.
    pub fn write_data(&mut self, data: &[u8]) -> io::Result<()> {
        let len = data.len() as u64;
        if len > self.pending {
            return Err(self.size_mismatch("more"));
        }
        self.out.write_all(data)?;
        self.pending -= len;
        self.position += len;
        Ok(())
    }

    /// Write the central directory and the end records; hand back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_complete()?;
        let start = self.position;
        let mut central = Vec::new();
        for record in &self.records {
            central_header(&mut central, record, self.time, self.date);
        }
        self.out.write_all(&central)?;
        let end = end_records(
            self.records.len(),
            central.len() as u64,
            start,
            start + central.len() as u64,
        );
        self.out.write_all(&end)?;
        self.position += (central.len() + end.len()) as u64;
        Ok(self.out)
    }

    fn check_complete(&self) -> io::Result<()> {
        if self.pending == 0 {
            Ok(())
        } else {
            Err(self.size_mismatch("less"))
        }
    }

    fn size_mismatch(&self, what: &str) -> io::Error {
        let name = self.records.last().map_or("", |r| r.name.as_str());
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zip entry {name}: {what} data than its header announced (did the file change during the build?)"),
        )
    }

    /// APPNOTE 4.3.7. With `zip64`, both sizes move to a ZIP64 extra field (4.5.3: a
    /// local header's ZIP64 field holds both) and the 32-bit fields say 0xFFFFFFFF.
    fn local_header(&self, name: &str, info: &EntryInfo, zip64: bool) -> io::Result<Vec<u8>> {
        let name_len = u16::try_from(name.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("zip entry name longer than 65,535 bytes: {name}"),
            )
        })?;
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut h, LOCAL_HEADER);
        let version = if zip64 {
            VERSION_ZIP64.max(info.method.version_needed())
        } else {
            info.method.version_needed()
        };
        put16(&mut h, version);
        put16(&mut h, info.flags(name));
        put16(&mut h, info.method.id());
        put16(&mut h, self.time);
        put16(&mut h, self.date);
        put32(&mut h, info.crc32);
        if zip64 {
            put32(&mut h, u32::MAX);
            put32(&mut h, u32::MAX);
        } else {
            put32(&mut h, info.compressed_size as u32);
            put32(&mut h, info.size as u32);
        }
        put16(&mut h, name_len);
        put16(&mut h, if zip64 { 20 } else { 0 });
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            put16(&mut h, ZIP64_EXTRA);
            put16(&mut h, 16);
            put64(&mut h, info.size);
            put64(&mut h, info.compressed_size);
        }
        Ok(h)
    }
}

impl<W: Write + Seek> ZipWriter<W> {
    /// Write a STORED entry whose data `body` produces and whose CRC and size are known
    /// only afterwards: the local header goes out with zeros, `body` writes through a
    /// counting CRC writer, then the header is patched in place.
    ///
    /// `reserve_zip64` gives the local header a ZIP64 field (20 bytes), needed when the
    /// data may reach 4 GiB; the header's length must be fixed before the data is.
    pub fn add_streamed<T, E: From<io::Error>>(
        &mut self,
        name: &str,
        executable: bool,
        reserve_zip64: bool,
        body: impl FnOnce(&mut CrcWriter<&mut W>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.check_complete()?;
        let mut info = EntryInfo {
            method: Method::Stored,
            crc32: 0,
            compressed_size: 0,
            size: 0,
            executable,
        };
        let header = self.local_header(name, &info, reserve_zip64)?;
        let header_at = self.out.stream_position()?;
        self.out.write_all(&header)?;

        let mut counter = CrcWriter::new(&mut self.out);
        let value = body(&mut counter)?;
        let (crc32, size) = counter.finish();
        if size >= LIMIT32 && !reserve_zip64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zip entry {name} reached 4 GiB without a ZIP64 header (did a file grow during the build?)"),
            )
            .into());
        }
        info = EntryInfo {
            crc32,
            compressed_size: size,
            size,
            ..info
        };

        let end = header_at + header.len() as u64 + size;
        let patched = self.local_header(name, &info, reserve_zip64)?;
        self.out.seek(SeekFrom::Start(header_at))?;
        self.out.write_all(&patched)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.records.push(Record {
            name: name.to_string(),
            info,
            offset: self.position,
        });
        self.position += header.len() as u64 + size;
        Ok(value)
    }
}

/// APPNOTE 4.3.12. Fields that reach their 32-bit limit say 0xFFFFFFFF and their values
/// follow in a ZIP64 extra field, in the order 4.5.3 gives (size, compressed size, offset).
fn central_header(out: &mut Vec<u8>, record: &Record, time: u16, date: u16) {
    let info = &record.info;
    let mut zip64 = Vec::new();
    for value in [info.size, info.compressed_size, record.offset] {
        if value >= LIMIT32 {
            put64(&mut zip64, value);
        }
    }
    let mut version = info.method.version_needed();
    if !zip64.is_empty() {
        version = version.max(VERSION_ZIP64);
    }
    let field32 = |value: u64| {
        if value >= LIMIT32 {
            u32::MAX
        } else {
            value as u32
        }
    };

    put32(out, CENTRAL_HEADER);
    put16(out, MADE_BY_UNIX | version);
    put16(out, version);
    put16(out, info.flags(&record.name));
    put16(out, info.method.id());
    put16(out, time);
    put16(out, date);
    put32(out, info.crc32);
    put32(out, field32(info.compressed_size));
    put32(out, field32(info.size));
    // Checked when the local header was written.
    put16(out, record.name.len() as u16);
    put16(
        out,
        if zip64.is_empty() {
            0
        } else {
            zip64.len() as u16 + 4
        },
    );
    put16(out, 0); // comment length
    put16(out, 0); // disk number start
    put16(out, 0); // internal attributes
    put32(out, info.external_attributes());
    put32(out, field32(record.offset));
    out.extend_from_slice(record.name.as_bytes());
    if !zip64.is_empty() {
        put16(out, ZIP64_EXTRA);
        put16(out, zip64.len() as u16);
        out.extend_from_slice(&zip64);
    }
}

/// APPNOTE 4.3.16, preceded by the ZIP64 end record and locator (4.3.14, 4.3.15) when
/// the entry count, the directory's size or its offset does not fit; the fields that do
/// not fit then say 0xFFFF or 0xFFFFFFFF, as 4.4.1.4 asks.
fn end_records(entries: usize, size: u64, offset: u64, zip64_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(98);
    let zip64 = entries >= LIMIT16 || size >= LIMIT32 || offset >= LIMIT32;
    if zip64 {
        put32(&mut out, ZIP64_END_OF_CENTRAL_DIRECTORY);
        put64(&mut out, 44); // size of the rest of this record
        put16(&mut out, MADE_BY_UNIX | VERSION_ZIP64);
        put16(&mut out, VERSION_ZIP64);
        put32(&mut out, 0); // this disk
        put32(&mut out, 0); // disk where the central directory starts
        put64(&mut out, entries as u64);
        put64(&mut out, entries as u64);
        put64(&mut out, size);
        put64(&mut out, offset);

        put32(&mut out, ZIP64_END_LOCATOR);
        put32(&mut out, 0); // disk of the ZIP64 end record
        put64(&mut out, zip64_at);
        put32(&mut out, 1); // total disks
    }
    let count = entries.min(LIMIT16) as u16;
    put32(&mut out, END_OF_CENTRAL_DIRECTORY);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk where the central directory starts
    put16(&mut out, count);
    put16(&mut out, count);
    put32(&mut out, size.min(LIMIT32) as u32);
    put32(&mut out, offset.min(LIMIT32) as u32);
    put16(&mut out, 0); // comment length
    out
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Passes bytes through to `W`, counting them and computing their CRC-32.
pub struct CrcWriter<W: Write> {
    inner: W,
    hasher: crc32fast::Hasher,
    count: u64,
}

impl<W: Write> CrcWriter<W> {
    pub fn new(inner: W) -> CrcWriter<W> {
        CrcWriter {
            inner,
            hasher: crc32fast::Hasher::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// CRC-32 and length of everything written.
    pub fn finish(self) -> (u32, u64) {
        (self.hasher.finalize(), self.count)
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    fn entry(data: &[u8], executable: bool) -> EntryInfo {
        EntryInfo::stored(data, executable)
    }

    #[test]
    fn the_zip_crate_reads_what_we_write() {
        let mut zip = ZipWriter::new(Vec::new(), 0, 1_700_000_000);
        zip.add("a.txt", entry(b"alpha", false), b"alpha").unwrap();
        zip.add("bin/tool", entry(b"#!/bin/sh\n", true), b"#!/bin/sh\n")
            .unwrap();
        zip.add("caf\u{e9}.py", entry(b"", false), b"").unwrap();
        let bytes = zip.finish().unwrap();

        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 3);
        let mut tool = archive.by_name("bin/tool").unwrap();
        assert_eq!(tool.unix_mode(), Some(0o100755));
        let mut text = String::new();
        tool.read_to_string(&mut text).unwrap();
        assert_eq!(text, "#!/bin/sh\n");
        drop(tool);
        assert_eq!(archive.by_index(0).unwrap().unix_mode(), Some(0o100644));
        assert!(archive.by_name("caf\u{e9}.py").is_ok());
    }

    #[test]
    fn refuses_data_that_does_not_match_the_header() {
        let mut zip = ZipWriter::new(Vec::new(), 0, 0);
        zip.start_entry("a", entry(b"abc", false)).unwrap();
        zip.write_data(b"ab").unwrap();
        let err = zip.start_entry("b", entry(b"", false)).unwrap_err();
        assert!(err.to_string().contains("zip entry a: less data"), "{err}");
        zip.write_data(b"c").unwrap();
        assert!(zip.write_data(b"d").is_err());
    }

    #[test]
    fn streamed_entries_are_patched_in_place() {
        for reserve_zip64 in [false, true] {
            let shebang = b"#!/usr/bin/env python3\n";
            let mut out = Cursor::new(shebang.to_vec());
            out.seek(SeekFrom::End(0)).unwrap();
            let mut zip = ZipWriter::new(&mut out, shebang.len() as u64, 0);
            zip.add_streamed::<_, io::Error>("inner.zip", false, reserve_zip64, |w| {
                w.write_all(b"streamed data")
            })
            .unwrap();
            zip.add("after", entry(b"x", false), b"x").unwrap();
            zip.finish().unwrap();
            let bytes = out.into_inner();
            let data_at =
                shebang.len() + 30 + "inner.zip".len() + if reserve_zip64 { 20 } else { 0 };
            assert_eq!(&bytes[data_at..data_at + 8], b"streamed");

            let mut archive = zip::ZipArchive::new(Cursor::new(bytes.clone())).unwrap();
            let mut inner = archive.by_name("inner.zip").unwrap();
            assert_eq!(inner.crc32(), crc32fast::hash(b"streamed data"));
            let mut text = String::new();
            inner.read_to_string(&mut text).unwrap();
            assert_eq!(text, "streamed data");

            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &bytes).unwrap();
            let script = "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
                          assert z.testzip() is None; print(z.read('inner.zip').decode())";
            let output = std::process::Command::new("python3")
                .args(["-c", script])
                .arg(file.path())
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                "streamed data",
                "{output:?}"
            );
        }
    }

    #[test]
    fn zip64_records_appear_only_when_needed() {
        let small = end_records(3, 100, 1000, 1100);
        assert_eq!(small.len(), 22);
        let many = end_records(70_000, 100, 1000, 1100);
        assert_eq!(many.len(), 22 + 56 + 20);
        assert_eq!(&many[76 + 8..76 + 12], &[0xFF, 0xFF, 0xFF, 0xFF]);

        let record = Record {
            name: "big".into(),
            info: EntryInfo {
                size: 5 << 30,
                compressed_size: 10,
                ..entry(b"", false)
            },
            offset: 6 << 30,
        };
        let mut central = Vec::new();
        central_header(&mut central, &record, 0, 0);
        assert_eq!(central.len(), 46 + 3 + 4 + 16);
        assert_eq!(u16::from_le_bytes([central[6], central[7]]), VERSION_ZIP64);
    }
}
