//! Writing a native executable: launcher, interpreter archive, zip app, trailer (see the
//! layout in [`super`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::dist::{self, Dist};
use super::trailer::Trailer;

/// The launcher's file name, beside `rshiv` (cargo install and wheels put bins together).
pub const LAUNCHER_NAME: &str = "rshiv-launcher";
/// Overrides where the launcher is looked for.
pub const LAUNCHER_VAR: &str = "RSHIV_LAUNCHER";
const VERSION_PREFIX: &[u8] = b"rshiv-launcher-version=";

/// What goes in front of the zip app.
#[derive(Debug)]
pub struct Bundle {
    pub launcher: Vec<u8>,
    pub launcher_version: String,
    pub dist: Dist,
}

impl Bundle {
    /// Find the launcher, inspect the archive, check that the two fit together.
    pub fn prepare(archive: &Path) -> Result<Bundle> {
        let dist = dist::inspect(archive)?;
        let path = launcher_path()?;
        let launcher = fs_err::read(&path)?;
        let launcher_version = find_version(&launcher).with_context(|| {
            format!(
                "{} is not an rshiv launcher (no version tag in it)",
                path.display()
            )
        })?;
        let arch = dist::elf_arch(&launcher)
            .with_context(|| format!("{} is not an ELF executable", path.display()))?;
        // The launcher's CPU is in its ELF header; its libc is taken to be rshiv's own, since
        // the two are built together.
        let libc = super::host_platform()
            .rsplit('-')
            .next()
            .unwrap_or("gnu")
            .to_string();
        dist::check_platform(&dist, &format!("{arch}-unknown-linux-{libc}"))?;
        Ok(Bundle {
            launcher,
            launcher_version,
            dist,
        })
    }

    /// Write the launcher and the archive, then the zip app through `pyz` (which writes at
    /// the file's current position), then the trailer as the zip's comment.
    pub fn write<T>(
        &self,
        file: &mut File,
        root: Option<&str>,
        pyz: impl FnOnce(&mut File) -> Result<T>,
    ) -> Result<T> {
        file.write_all(&self.launcher)?;
        let archive_offset = file.stream_position()?;
        let mut archive = fs_err::File::open(&self.dist.path)?;
        let copied = std::io::copy(&mut archive, file)
            .with_context(|| format!("cannot copy {}", self.dist.path.display()))?;
        if copied != self.dist.size {
            bail!(
                "{} changed while rshiv was reading it",
                self.dist.path.display()
            );
        }
        let value = pyz(file)?;
        let trailer = Trailer {
            archive_offset,
            archive_size: self.dist.size,
            archive_sha256: self.dist.sha256.clone(),
            compression: self.dist.compression.as_str().to_string(),
            python_version: self.dist.version.clone(),
            python_platform: self.dist.platform.clone(),
            python_executable: self.dist.executable.clone(),
            unpacked_bytes: self.dist.unpacked_bytes,
            files: self.dist.files,
            root: root.map(str::to_string),
            launcher_version: self.launcher_version.clone(),
        }
        .encode()?;
        set_zip_comment(file, &trailer)?;
        Ok(value)
    }
}

/// `$RSHIV_LAUNCHER`, else `rshiv-launcher` beside the running executable.
fn launcher_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(LAUNCHER_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{LAUNCHER_VAR}={} does not name a file", path.display());
        }
        return Ok(path);
    }
    if let Some(path) = crate::install::beside::beside_rshiv(LAUNCHER_NAME) {
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find rshiv's own executable")?;
    bail!(
        "--python-dist needs the launcher, and {} does not exist (install rshiv with its \
         {LAUNCHER_NAME} binary, or set {LAUNCHER_VAR})",
        exe.with_file_name(LAUNCHER_NAME).display()
    );
}

/// The version in a launcher's `rshiv-launcher-version=X;` tag.
pub fn find_version(bytes: &[u8]) -> Option<String> {
    let at = bytes
        .windows(VERSION_PREFIX.len())
        .position(|w| w == VERSION_PREFIX)?
        + VERSION_PREFIX.len();
    let len = bytes[at..].iter().take(64).position(|&b| b == b';')?;
    String::from_utf8(bytes[at..at + len].to_vec()).ok()
}

/// Make `comment` the comment of the zip that ends `file` (its end of central directory
/// record, APPNOTE.TXT 4.3.16, is the last 22 bytes, with no comment yet).
fn set_zip_comment(file: &mut File, comment: &[u8]) -> Result<()> {
    let end = file.seek(SeekFrom::End(0))?;
    let mut record = [0u8; 22];
    file.seek(SeekFrom::Start(
        end.checked_sub(22).context("the zip app is empty")?,
    ))?;
    file.read_exact(&mut record)?;
    if &record[..4] != b"PK\x05\x06" || record[20..] != [0, 0] {
        bail!("the zip app does not end in a comment-less end of central directory record");
    }
    let len = u16::try_from(comment.len()).context("the trailer is too long for a zip comment")?;
    file.seek(SeekFrom::Start(end - 2))?;
    file.write_all(&len.to_le_bytes())?;
    file.write_all(comment)?;
    Ok(())
}
