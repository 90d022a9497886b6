//! The cache layout and the extraction protocol's names, defined once.
//!
//! Everything that spells a path in a cache root is here (as uv-cache's `CacheBucket` is
//! for uv): which root a pyz uses, what an extraction, its lock, its temp and trash dirs,
//! its ready marker and its runtime copy are called, and what the marker says. `rshiv
//! cache` reads roots with these names; the bootstrap (`bootstrap/*.py`) writes them, and
//! holds its own copy of each constant, which the tests at the end of this file compare with
//! these by running the bootstrap's code: a change on one side only fails them.
//!
//! A root holds, for an app `<name>` of build `<id>` (`<stem>` = `<name>_<id>`):
//! * `<stem>/` the published extraction: `site-packages/`, the ready marker
//!   `.rshiv-ready` (its mtime is the last use), `.rshiv/<module>-<crc32>.py` (bytecode-cached
//!   copies of the runtime and of the bytecode loader) and, with `--no-modify`, `.rshiv-sources`;
//! * `.<stem>.lock`, the extraction lock (flock), kept;
//! * `.<stem>.tmp-<pid>-<random>/`, an extraction being made, renamed to `<stem>` whole;
//! * `.trash-<stem>-<pid>-<random>/`, a tree renamed away, deleted once nobody holds its
//!   marker.
//!
//! The rules for trusting what is found there are in [`super::trust`]; the steps that create,
//! use and remove these are in `bootstrap/extract.py` and, for `rshiv cache`, in
//! [`super::remove`] and [`super::lock`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variables naming the root, first set wins (shiv reads `SHIV_ROOT`).
pub const ROOT_VARS: [&str; 2] = ["RSHIV_ROOT", "SHIV_ROOT"];
/// The root's directory under the XDG cache home.
pub const ROOT_DIR: &str = "rshiv";
/// The build cache's directory under the XDG cache home (see `install::build_env`).
pub const BUILD_CACHE_DIR: &str = "rshiv-build";
/// The private fallback root's name under `$TMPDIR` (else `/tmp`) is this and the uid.
pub const FALLBACK_PREFIX: &str = "rshiv-";
/// Where the fallback lives when `TMPDIR` is unset or cannot be trusted.
pub const FALLBACK_TMP: &str = "/tmp";
/// The ready marker inside a published extraction.
pub const MARKER: &str = ".rshiv-ready";
/// The first line of a marker: its format's version.
pub const MARKER_VERSION: &str = "rshiv-1";
/// The `--no-modify` list of extracted sources inside an extraction.
pub const SOURCES: &str = ".rshiv-sources";
/// The folder of an extraction that holds the runtime's copies.
pub const RUNTIME_DIR: &str = ".rshiv";
/// The payload's directory inside an extraction.
pub const SITE_PACKAGES: &str = "site-packages";
/// The start of a trash dir's name.
pub const TRASH_PREFIX: &str = ".trash-";
/// What separates a temp dir's stem from its pid and random part.
pub const TMP_INFIX: &str = ".tmp-";
/// The end of a lock file's name.
pub const LOCK_SUFFIX: &str = ".lock";
/// Under the private fallback root: `.bytecode/<stem>/`, bytecode for an extraction this
/// user may not write (a root-made or read-only one), mirrored from its tree (issue 15).
pub const BYTECODE_MIRROR: &str = ".bytecode";

/// `<name>_<id>`: the extraction of an app's build.
pub fn stem(name: &str, build_id: &str) -> String {
    format!("{name}_{build_id}")
}

/// `.<stem>.lock`.
pub fn lock_name(stem: &str) -> String {
    format!(".{stem}{LOCK_SUFFIX}")
}

/// `.<stem>.lock-<pid>-<random>`: a new lock file before it is linked into place.
pub fn lock_tmp_name(stem: &str, pid: u32, random: &str) -> String {
    format!("{}-{pid}-{random}", lock_name(stem))
}

/// `.<stem>.tmp-<pid>-<random>`.
pub fn tmp_name(stem: &str, pid: u32, random: &str) -> String {
    format!(".{stem}{TMP_INFIX}{pid}-{random}")
}

/// `.trash-<stem>-<pid>-<random>`.
pub fn trash_name(stem: &str, pid: u32, random: &str) -> String {
    format!("{TRASH_PREFIX}{stem}-{pid}-{random}")
}

/// `.rshiv/<stem>-<crc32 as 8 hex digits>.py`, relative to the extraction: the copy of a
/// bootstrap module (`runtime`, `bytecode`) that warm starts load from its bytecode.
pub fn bootstrap_copy(stem: &str, crc: u32) -> String {
    format!("{RUNTIME_DIR}/{stem}-{crc:08x}.py")
}

/// The stem a temp dir's name holds, if it is one.
pub fn parse_tmp(name: &str) -> Option<&str> {
    let (stem, suffix) = name.strip_prefix('.')?.rsplit_once(TMP_INFIX)?;
    let (pid, random) = suffix.split_once('-')?;
    pid_and_random(pid, random).then_some(stem)
}

/// The stem a trash dir's name holds, if it is one.
pub fn parse_trash(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(TRASH_PREFIX)?;
    let (rest, random) = rest.rsplit_once('-')?;
    let (stem, pid) = rest.rsplit_once('-')?;
    (!stem.is_empty() && pid_and_random(pid, random)).then_some(stem)
}

fn pid_and_random(pid: &str, random: &str) -> bool {
    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !random.is_empty()
}

/// What a ready marker records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    pub build_id: String,
    pub files: u64,
    pub unpacked_bytes: u64,
}

impl Marker {
    /// `rshiv-1\nname=<name>\nbuild_id=<id>\nfiles=<n>\nunpacked_bytes=<n>\n`.
    pub fn render(&self) -> String {
        format!(
            "{MARKER_VERSION}\nname={}\nbuild_id={}\nfiles={}\nunpacked_bytes={}\n",
            self.name, self.build_id, self.files, self.unpacked_bytes
        )
    }

    /// [`Marker::render`] followed by `key=value` lines of the caller's own (a launcher's
    /// interpreter records what it is); readers skip keys they do not know.
    pub fn render_with(&self, extra: &[(&str, &str)]) -> String {
        let mut text = self.render();
        for (key, value) in extra {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }

    /// Read a marker's text; the counts are optional (0 when absent), name and build id not.
    pub fn parse(text: &str) -> Option<Marker> {
        let mut lines = text.lines();
        if lines.next()? != MARKER_VERSION {
            return None;
        }
        let fields: Vec<(&str, &str)> = lines.filter_map(|line| line.split_once('=')).collect();
        let field = |wanted: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == wanted)
                .map(|(_, value)| *value)
        };
        let count = |wanted: &str| field(wanted).and_then(|v| v.parse().ok()).unwrap_or(0);
        Some(Marker {
            name: field("name")?.to_string(),
            build_id: field("build_id")?.to_string(),
            files: count("files"),
            unpacked_bytes: count("unpacked_bytes"),
        })
    }
}

/// How the environment is read: a function from a variable's name to its value, so that
/// tests (and the launcher) can pass their own.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The variable's value when set and not empty.
fn set(var: Vars, name: &str) -> Option<OsString> {
    var(name).filter(|value| !value.is_empty())
}

/// The XDG cache home: `XDG_CACHE_HOME` when absolute (the XDG Base Directory spec ignores
/// a relative one), else `$HOME/.cache`; None without a HOME.
pub fn xdg_cache_home(var: Vars) -> Option<PathBuf> {
    if let Some(xdg) = set(var, "XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Some(xdg);
        }
    }
    set(var, "HOME").map(|home| PathBuf::from(home).join(".cache"))
}

/// The cache root a pyz uses: `RSHIV_ROOT`, else `SHIV_ROOT`, else the baked `--root`
/// (a leading `$VAR` read now: `$VAR/rest`, with an unset `$VAR` counting as no root), else
/// `<XDG cache home>/rshiv`. A leading `~` is the home directory; a relative root is taken
/// from the current directory. None when there is nothing to go by (no HOME).
pub fn cache_root(var: Vars, baked_root: Option<&str>) -> Option<PathBuf> {
    let home = set(var, "HOME").map(PathBuf::from);
    let chosen = ROOT_VARS
        .iter()
        .find_map(|name| set(var, name))
        .map(PathBuf::from)
        .or_else(|| {
            baked_root
                .filter(|r| !r.is_empty())
                .and_then(|r| expand_var(var, r))
        });
    let root = match chosen {
        Some(root) => expand_home(root, home.as_deref())?,
        None => xdg_cache_home(var)?.join(ROOT_DIR),
    };
    std::path::absolute(root).ok()
}

/// `$NAME/rest` -> `<value of NAME>/rest` (None when NAME is unset); other roots as they are.
fn expand_var(var: Vars, root: &str) -> Option<PathBuf> {
    let Some(reference) = root.strip_prefix('$') else {
        return Some(PathBuf::from(root));
    };
    let (name, rest) = reference.split_once('/').unwrap_or((reference, ""));
    let value = PathBuf::from(set(var, name)?);
    Some(if rest.is_empty() {
        value
    } else {
        value.join(rest)
    })
}

fn expand_home(path: PathBuf, home: Option<&Path>) -> Option<PathBuf> {
    match path.strip_prefix("~") {
        Ok(rest) => Some(home?.join(rest)),
        Err(_) => Some(path),
    }
}

/// The user's private fallback root, `$TMPDIR/rshiv-<uid>`, used when the cache root cannot
/// be written or cannot be trusted; under `/tmp` when TMPDIR is unset or runs through
/// another user's files ([`super::trust::root_problem`]: the `sudo -E` case).
pub fn fallback_root(var: Vars, uid: u32) -> PathBuf {
    let name = format!("{FALLBACK_PREFIX}{uid}");
    match set(var, "TMPDIR").map(PathBuf::from) {
        Some(tmp) if tmp == Path::new(FALLBACK_TMP) => tmp.join(name),
        Some(tmp) => {
            let absolute = std::path::absolute(&tmp).unwrap_or_else(|_| tmp.clone());
            match super::trust::root_problem(&absolute) {
                None => tmp.join(name),
                Some(_) => Path::new(FALLBACK_TMP).join(name),
            }
        }
        None => Path::new(FALLBACK_TMP).join(name),
    }
}

/// The process's environment, as [`Vars`] wants it.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

#[cfg(test)]
mod tests;
