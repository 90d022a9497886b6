//! What an interpreter archive holds: the Python version and platform, read from the archive
//! itself (never from the build machine), so the payload can be resolved for it.
//!
//! Accepted layout: python-build-standalone's `install_only` and `install_only_stripped`
//! archives (its `python/install/` tree renamed to `python/`: `python/bin/python3.X`, with
//! `python3` and `python` symlinks to it, `python/lib/python3.X/os.py`,
//! `python/lib/libpython3.X.so.1.0`, `python/include/python3.X/`, `python/share/`; no
//! `PYTHON.json`, no `__pycache__`), or any relocatable CPython tree laid out the same way.
//! A free-threaded build (`python3.13t`, `lib/python3.13t/`) is refused by name.
//! The version is `PY_VERSION` of `python/include/python3.X/patchlevel.h` when present,
//! else `3.X`; the CPU is the ELF header's `e_machine` of `python/bin/python3.X`; the libc
//! is the one named by `_sysconfigdata_*` or `config-3.X-*` (`...-linux-musl`), else glibc.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::archive::Compression;

/// An inspected interpreter archive.
#[derive(Debug, Clone)]
pub struct Dist {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub compression: Compression,
    /// `3.12.1`.
    pub version: String,
    /// `x86_64-unknown-linux-gnu`.
    pub platform: String,
    /// `python/bin/python3.12`.
    pub executable: String,
    pub unpacked_bytes: u64,
    pub files: u64,
}

impl Dist {
    /// `3.12` of `3.12.1`.
    pub fn minor_version(&self) -> &str {
        let mut dots = self.version.match_indices('.');
        match (dots.next(), dots.next()) {
            (Some(_), Some((second, _))) => &self.version[..second],
            _ => &self.version,
        }
    }

    /// The CPU part of the platform: `x86_64`.
    pub fn arch(&self) -> &str {
        self.platform.split('-').next().unwrap_or_default()
    }

    /// The platform tag pip and uv resolve for (`manylinux2014_x86_64`, `musllinux_1_1_...`).
    pub fn platform_tag(&self) -> String {
        if self.platform.ends_with("-musl") {
            format!("musllinux_1_1_{}", self.arch())
        } else {
            format!("manylinux2014_{}", self.arch())
        }
    }
}

/// Read `path` through; one error line when it is not an interpreter archive.
pub fn inspect(path: &Path) -> Result<Dist> {
    let not_one =
        |why: &str| anyhow::anyhow!("{} is not an interpreter archive: {why}", path.display());
    let mut file = fs_err::File::open(path)?;
    let size = file.metadata()?.len();
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic)?;
    let compression = Compression::detect(&magic[..read])
        .ok_or_else(|| not_one("not a gzip- or zstd-compressed tar file"))?;
    let sha256 = crate::archive::file_sha256(path)?;
    let raw = BufReader::new(fs_err::File::open(path)?);
    let mut tar = tar::Archive::new(compression.decoder(raw)?);
    let mut seen = Seen::default();
    let unreadable =
        |err: std::io::Error| not_one(&format!("cannot read it as a tar file ({err})"));
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_string();
        if entry.header().entry_type().is_file() {
            seen.files += 1;
            seen.unpacked_bytes += entry.size();
        }
        seen.note(&name, &mut entry).map_err(unreadable)?;
    }
    let (minor, executable, machine) = match (seen.interpreter(), &seen.freethreaded) {
        (Some(found), _) => found,
        (None, Some(minor)) => {
            bail!(
                "{} is a free-threaded CPython {minor}, which rshiv does not bundle (use the \
                 archive of the default build)",
                path.display()
            )
        }
        (None, None) => {
            return Err(not_one(
                "it holds no python/bin/python3.X beside python/lib/python3.X/os.py",
            ))
        }
    };
    let arch = elf_arch(&machine)
        .ok_or_else(|| not_one(&format!("{executable} is not a Linux ELF executable")))?;
    let libc = if seen.musl { "musl" } else { "gnu" };
    let version = seen
        .patchlevel
        .clone()
        .filter(|full| full.starts_with(&format!("{minor}.")))
        .unwrap_or(minor);
    Ok(Dist {
        path: path.to_path_buf(),
        size,
        sha256,
        compression,
        version,
        platform: format!("{arch}-unknown-linux-{libc}"),
        executable,
        unpacked_bytes: seen.unpacked_bytes,
        files: seen.files,
    })
}

/// What the walk through the archive found so far.
#[derive(Default)]
struct Seen {
    /// `3.12` for each `python/lib/python3.12/os.py`.
    stdlib: Vec<String>,
    /// `(3.12, first bytes)` for each regular `python/bin/python3.12`.
    binaries: Vec<(String, Vec<u8>)>,
    patchlevel: Option<String>,
    /// `3.13t` for a free-threaded build's `python/lib/python3.13t/os.py`.
    freethreaded: Option<String>,
    musl: bool,
    files: u64,
    unpacked_bytes: u64,
}

impl Seen {
    fn note(&mut self, name: &str, entry: &mut impl Read) -> std::io::Result<()> {
        if name.contains("_sysconfigdata_") || name.contains("/config-3.") {
            self.musl |= name.contains("-linux-musl");
        }
        if let Some(rest) = name.strip_prefix("python/lib/") {
            let lib = rest.strip_suffix("/os.py");
            if let Some(minor) = lib.and_then(minor_of) {
                self.stdlib.push(minor);
            } else if let Some(minor) = lib.and_then(|l| minor_of(l.strip_suffix('t')?)) {
                self.freethreaded = Some(format!("{minor}t"));
            }
        } else if let Some(minor) = name.strip_prefix("python/bin/").and_then(minor_of) {
            let mut head = Vec::with_capacity(20);
            entry.take(20).read_to_end(&mut head)?;
            if head.len() == 20 {
                self.binaries.push((minor, head));
            }
        } else if let Some(rest) = name.strip_prefix("python/include/") {
            if rest.ends_with("/patchlevel.h") {
                let mut text = String::new();
                entry.take(1 << 16).read_to_string(&mut text)?;
                self.patchlevel = py_version_define(&text);
            }
        }
        Ok(())
    }

    /// `(3.12, python/bin/python3.12, its ELF header)` when both halves are there.
    fn interpreter(&self) -> Option<(String, String, Vec<u8>)> {
        self.binaries
            .iter()
            .find(|(minor, _)| self.stdlib.contains(minor))
            .map(|(minor, head)| {
                (
                    minor.clone(),
                    format!("python/bin/python{minor}"),
                    head.clone(),
                )
            })
    }
}

/// `python3.12` -> `3.12`.
fn minor_of(name: &str) -> Option<String> {
    let version = name.strip_prefix("python")?;
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (major == "3" && digits(minor)).then(|| version.to_string())
}

/// `#define PY_VERSION "3.12.1"` -> `3.12.1`.
fn py_version_define(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("#define")?.trim_start();
        let value = rest.strip_prefix("PY_VERSION")?.trim();
        Some(value.trim_matches('"').to_string())
    })
}

/// The CPU of a little- or big-endian ELF file from its first 20 bytes (e_machine at 18),
/// spelled as Rust's `std::env::consts::ARCH` and python-build-standalone do.
pub fn elf_arch(head: &[u8]) -> Option<&'static str> {
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let machine = match head[5] {
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => u16::from_le_bytes([head[18], head[19]]),
    };
    Some(match machine {
        0x03 => "i686",
        0x28 => "armv7",
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0x15 => "powerpc64le",
        0x16 => "s390x",
        0xf3 => "riscv64",
        _ => return None,
    })
}

/// Refuse an interpreter that the launcher cannot run: the platforms must agree (the
/// launcher refuses at run time what this lets through).
pub fn check_platform(dist: &Dist, launcher_platform: &str) -> Result<()> {
    if dist.platform != launcher_platform {
        bail!(
            "{} is a CPython for {}, but the launcher runs on {launcher_platform}",
            dist.path.display(),
            dist.platform
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_and_machines() {
        assert_eq!(minor_of("python3.12").as_deref(), Some("3.12"));
        assert_eq!(minor_of("python3"), None);
        assert_eq!(minor_of("python3.12-config"), None);
        let header = "#define PY_MINOR_VERSION 12\n#define PY_VERSION \"3.12.1\"\n";
        assert_eq!(py_version_define(header).as_deref(), Some("3.12.1"));
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(20, 0);
        elf[18] = 0xb7;
        assert_eq!(elf_arch(&elf), Some("aarch64"));
        assert_eq!(elf_arch(b"#!/bin/sh\n0123456789"), None);
    }
}
