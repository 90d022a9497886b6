//! Opening a pyz built by rshiv or shiv and reading what it holds, without extracting it.
//!
//! Both are a shebang line and a zip (PEP 441); the zip crate finds the central directory
//! past the prepended line. rshiv's `environment.json` lists the distributions (recorded at
//! build time); when it does not, they are read from the stored inner `_rshiv/payload.zip`
//! (see `archive`) through a window on the file, never loading the payload. shiv's
//! payload is the outer zip's `site-packages/` tree.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::archive::environment::{Distribution, Environment};
use crate::archive::pack::PAYLOAD_NAME as PAYLOAD;

/// No core metadata file is anywhere near this big; a larger one is read only this far.
const MAX_METADATA: u64 = 4 << 20;

/// Who built a pyz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    Rshiv,
    Shiv,
}

/// Everything `rshiv info` shows.
#[derive(Debug, Clone)]
pub struct Pyz {
    pub path: PathBuf,
    pub builder: Builder,
    /// Size of the pyz file.
    pub size: u64,
    /// The first line, when it is a `#!` line.
    pub shebang: Option<String>,
    /// `environment.json`, typed: what its writer left out reads as the default.
    pub environment: Environment,
    pub distributions: Vec<Distribution>,
    /// Files in the payload and their total size.
    pub files: u64,
    pub unpacked_bytes: u64,
}

/// Read `path`. A file that is not a zip, or a zip without `environment.json`, is one
/// error naming the file.
pub fn read(path: &Path) -> anyhow::Result<Pyz> {
    let mut file = BufReader::new(fs_err::File::open(path)?);
    let size = file.get_ref().metadata()?.len();
    let shebang = first_line(&mut file)?;
    // The zip crate guesses where a zip with data in front starts by the first central
    // header it meets: in a native executable that may be the launcher's or the payload's.
    let config = zip::read::Config {
        archive_offset: match crate::native::show::read(path)? {
            Some(trailer) => zip::read::ArchiveOffset::Known(trailer.zip_offset()),
            None => zip::read::ArchiveOffset::Detect,
        },
    };
    let mut zip = ZipArchive::with_config(config, file).map_err(|err| {
        let why = match err {
            ZipError::InvalidArchive(_) => "no zip central directory found".to_string(),
            other => other.to_string(),
        };
        anyhow::anyhow!("not a zip application: {} ({why})", path.display())
    })?;
    let environment = read_environment(&mut zip, path)?;
    let builder = if !environment.rshiv_version.is_empty() {
        Builder::Rshiv
    } else {
        Builder::Shiv
    };
    let mut pyz = Pyz {
        path: path.to_path_buf(),
        builder,
        size,
        shebang,
        environment,
        distributions: Vec::new(),
        files: 0,
        unpacked_bytes: 0,
    };
    // A payload is never empty, so no file count means an rshiv that recorded none (nor
    // the distributions): read them from the payload then.
    let recorded = builder == Builder::Rshiv && pyz.environment.files > 0;
    match builder {
        Builder::Rshiv if recorded => {
            pyz.distributions = pyz.environment.distributions.clone();
            (pyz.files, pyz.unpacked_bytes) =
                (pyz.environment.files, pyz.environment.unpacked_bytes);
        }
        Builder::Rshiv => {
            let payload = payload_window(&mut zip, path)?;
            let mut inner = ZipArchive::new(BufReader::new(payload))
                .with_context(|| format!("{PAYLOAD} in {} is not a zip", path.display()))?;
            scan(&mut inner, "", &mut pyz)
                .with_context(|| format!("cannot read {PAYLOAD} in {}", path.display()))?;
        }
        Builder::Shiv => {
            scan(&mut zip, "site-packages/", &mut pyz)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
    }
    pyz.distributions
        .sort_by_key(|d| (crate::metadata::normalize_name(&d.name), d.version.clone()));
    Ok(pyz)
}

/// The stored inner payload as a file of its own: a window on the pyz's bytes.
fn payload_window<R: Read + Seek>(zip: &mut ZipArchive<R>, path: &Path) -> anyhow::Result<Window> {
    let member = zip
        .by_name(PAYLOAD)
        .with_context(|| format!("cannot read {PAYLOAD} in {}", path.display()))?;
    if member.compression() != zip::CompressionMethod::Stored {
        anyhow::bail!(
            "{PAYLOAD} in {} is compressed; rshiv stores it",
            path.display()
        );
    }
    Ok(Window {
        file: fs_err::File::open(path)?,
        start: member.data_start(),
        len: member.size(),
        pos: 0,
    })
}

/// `len` bytes of `file` from `start`, readable and seekable as if they were the file.
/// (The zip crate's own `by_name_seek` reports positions in the outer file, which its
/// `ZipArchive` cannot read through.)
struct Window {
    file: fs_err::File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(offset) => self.len.checked_add_signed(offset),
            SeekFrom::Current(offset) => self.pos.checked_add_signed(offset),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

/// The shebang line (without `#!`'s newline), if the file starts with one.
fn first_line(file: &mut BufReader<fs_err::File>) -> anyhow::Result<Option<String>> {
    let mut head = Vec::new();
    file.by_ref().take(4096).read_to_end(&mut head)?;
    file.rewind()?;
    if !head.starts_with(b"#!") {
        return Ok(None);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(Some(String::from_utf8_lossy(line).trim_end().to_string()))
}

fn read_environment<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    path: &Path,
) -> anyhow::Result<Environment> {
    let mut text = String::new();
    match zip.by_name("environment.json") {
        Ok(member) => member
            .take(MAX_METADATA)
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read environment.json in {}", path.display()))?,
        Err(ZipError::FileNotFound) => anyhow::bail!(
            "not a zip application built by rshiv or shiv: {} (no environment.json)",
            path.display()
        ),
        Err(err) => return Err(err).context(format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text)
        .with_context(|| format!("invalid environment.json in {}", path.display()))
}

/// Count the files under `prefix` and read each top-level `*.dist-info`'s METADATA and WHEEL.
fn scan<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    prefix: &str,
    pyz: &mut Pyz,
) -> anyhow::Result<()> {
    // dist-info directory -> (METADATA index, WHEEL index)
    let mut infos: BTreeMap<String, (Option<usize>, Option<usize>)> = BTreeMap::new();
    for index in 0..zip.len() {
        let member = zip.by_index_raw(index)?;
        let Some(rel) = member.name().strip_prefix(prefix) else {
            continue;
        };
        if member.is_dir() {
            continue;
        }
        pyz.files += 1;
        // Declared sizes are the file's word: saturate rather than wrap past 2^64.
        pyz.unpacked_bytes = pyz.unpacked_bytes.saturating_add(member.size());
        let Some((dir, file)) = rel.split_once('/') else {
            continue;
        };
        if !dir.ends_with(".dist-info") || file.contains('/') {
            continue;
        }
        let slot = infos.entry(dir.to_string()).or_default();
        match file {
            "METADATA" => slot.0 = Some(index),
            "WHEEL" => slot.1 = Some(index),
            _ => {}
        }
    }
    for (dir, (metadata, wheel)) in infos {
        let Some(metadata) = metadata else { continue };
        let wheel = wheel.map(|index| read_text(zip, index)).transpose()?;
        let metadata = read_text(zip, metadata)?;
        let mut dist = crate::metadata::parse_distribution(&metadata, wheel.as_deref());
        if dist.name.is_empty() {
            dist.name = dir.trim_end_matches(".dist-info").to_string();
        }
        pyz.distributions.push(dist);
    }
    Ok(())
}

fn read_text<R: Read + Seek>(zip: &mut ZipArchive<R>, index: usize) -> anyhow::Result<String> {
    let member = zip.by_index(index)?;
    let name = member.name().to_string();
    let mut bytes = Vec::new();
    member
        .take(MAX_METADATA)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
