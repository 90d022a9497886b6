//! Locks as the source of what to install: a uv project's `uv.lock` (and, by path, any
//! lock file rshiv reads), turned into pinned requirements that the installer installs in
//! hash-checking mode.
//!
//! The lock is the authority. For each package it selects for the target, rshiv picks the
//! one file an installer would: the wheel whose tags rank best for the target (PEP 425,
//! [`TagEnvironment`]), else the sdist. That file becomes one line `name==version
//! --hash=sha256:...` (an archive entry: `name @ URL --hash=...`), given to the installer
//! with `--require-hashes --no-deps`: nothing is resolved, no other file of that version
//! can be installed, and a file whose bytes differ from the lock's is refused even when the
//! index's page was changed to match. The project itself (the lock's editable or directory
//! entry) is built from source and installed as a normal local project, with `--no-deps`;
//! other directory and vcs entries are built from their source ([`sources`]).

mod hashed;
mod markers;
mod pylock;
mod sources;
mod uv_lock;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::{MarkerEnvironment, MarkerTree};
use sha2::{Digest, Sha256};

pub use hashed::provenance as hashed_requirements;
pub use markers::target_environment;
pub use sources::Source;

use super::args::{Arg, InstallerArgs};
use super::flags::Role;
use super::process::run_captured;
use super::target::Target;
use super::{Bytecode, Installer, Interpreter, Job};
use crate::archive::environment::{Distribution, Provenance};
use crate::archive::hex;
use crate::cli::BuildArgs;
use crate::metadata::normalize_name as normalize;
use crate::progress::Progress;
use crate::tags::{expand_platform, wheel_file_tags, TagEnvironment};

/// Which kind of file a lock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// uv's `uv.lock`.
    UvLock,
    /// PEP 751's `pylock.toml` or `pylock.NAME.toml`.
    Pylock,
}

impl LockKind {
    /// The kind's name, as recorded in environment.json.
    pub fn name(self) -> &'static str {
        match self {
            LockKind::UvLock => "uv.lock",
            LockKind::Pylock => "pylock",
        }
    }
}

/// A lock file, read and checked against its project, with the selection asked for.
#[derive(Debug, Clone)]
pub struct Lock {
    pub path: PathBuf,
    pub kind: LockKind,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    /// `--extra NAME`, normalized.
    pub extras: Vec<String>,
    /// `--group NAME`, normalized.
    pub groups: Vec<String>,
    parsed: Parsed,
}

/// A lock file's contents, by kind.
#[derive(Debug, Clone)]
enum Parsed {
    Uv(uv_lock::UvLock),
    Pylock(pylock::Pylock),
}

/// One package the lock pins to files with hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// Its wheels.
    pub wheels: Vec<LockedFile>,
    pub sdist: Option<LockedFile>,
    /// An archive entry's URL (or `file://` URL of its path): installed from there rather
    /// than found on an index by version.
    pub direct: Option<String>,
    /// The file chosen for the target (set by [`Lock::select`]).
    pub chosen: Option<LockedFile>,
}

/// A file the lock lists, with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    /// The file's name (`dep-1.0-py3-none-any.whl`).
    pub name: String,
    /// `sha256:<hex>`.
    pub hash: String,
}

impl LockedFile {
    /// The file at `location` (a URL or path), when the lock gives its sha256.
    fn new(location: &str, sha256: Option<&str>) -> Option<LockedFile> {
        let hash = sha256?;
        let hash = if hash.starts_with("sha256:") {
            hash.to_string()
        } else if hash.contains(':') {
            return None;
        } else {
            format!("sha256:{hash}")
        };
        Some(LockedFile {
            name: file_name(location),
            hash,
        })
    }
}

/// What a lock selects for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Sorted by name.
    pub pins: Vec<Pin>,
    /// Directory and vcs entries besides the project, built from their source.
    pub sources: Vec<Source>,
    /// The indexes the pins come from, in the lock's order.
    pub indexes: Vec<String>,
}

impl Lock {
    /// Read the `uv.lock` beside `project/pyproject.toml`, and fail when it no longer
    /// matches the project's requirements. The groups are `groups` and the project's
    /// default groups but `dev`.
    pub fn read_uv(project: &Path, extras: &[String], groups: &[String]) -> Result<Lock> {
        let path = project.join("uv.lock");
        let bytes = fs_err::read(&path)?;
        let lock = uv_lock::UvLock::parse(&String::from_utf8_lossy(&bytes), &path)?;
        let defaults = lock.check_fresh(&project.join("pyproject.toml"), &path)?;
        let mut groups: Vec<String> = groups.iter().map(|g| normalize(g)).collect();
        for group in defaults {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(Lock {
            sha256: hex(&Sha256::digest(&bytes)),
            path,
            kind: LockKind::UvLock,
            extras: extras.iter().map(|e| normalize(e)).collect(),
            groups,
            parsed: Parsed::Uv(lock),
        })
    }

    /// Read a PEP 751 lock file. Its selection is fixed when it was made: `--extra` and
    /// `--group` are refused with it.
    pub fn read_pylock(path: &Path, extras: &[String], groups: &[String]) -> Result<Lock> {
        if !extras.is_empty() || !groups.is_empty() {
            bail!("--lock {}: --extra and --group select from a uv.lock; export the pylock.toml with the extras and groups wanted", path.display());
        }
        let bytes = fs_err::read(path)?;
        let lock = pylock::Pylock::parse(&String::from_utf8_lossy(&bytes), path)?;
        Ok(Lock {
            sha256: hex(&Sha256::digest(&bytes)),
            path: path.to_path_buf(),
            kind: LockKind::Pylock,
            extras: Vec::new(),
            groups: Vec::new(),
            parsed: Parsed::Pylock(lock),
        })
    }

    /// The packages the lock selects for `target`, whose markers are evaluated for the
    /// environment `python` has (or the target's, for another target), each with the file
    /// chosen for the target's tags.
    pub fn select(&self, python: &Interpreter, target: &Target) -> Result<Locked> {
        let (markers, tags) = target_environment(python, target)?;
        self.select_for(&markers, &tags)
    }

    /// [`Lock::select`] for known environments.
    fn select_for(&self, markers: &MarkerEnvironment, tags: &TagEnvironment) -> Result<Locked> {
        let mut locked = match &self.parsed {
            Parsed::Uv(lock) => lock.select(markers, &self.extras, &self.groups, &self.path),
            Parsed::Pylock(lock) => lock.select(markers, &self.path),
        }?;
        for pin in &mut locked.pins {
            pin.chosen = choose_file(pin, tags, &self.path)?;
        }
        Ok(locked)
    }
}

/// The file of `pin` an installer would install for `tags`: its best wheel, else its
/// sdist; an archive entry's own file. An error naming the package and the target when
/// none fits.
fn choose_file(pin: &Pin, tags: &TagEnvironment, path: &Path) -> Result<Option<LockedFile>> {
    if pin.direct.is_some() {
        let file = pin.wheels.first().or(pin.sdist.as_ref());
        let fits = file.is_some_and(|f| {
            wheel_file_tags(&f.name).is_empty() || tags.best_wheel([f.name.as_str()]).is_some()
        });
        if !fits {
            bail!(
                "{}: {} {}'s archive is not for the target ({})",
                path.display(),
                pin.name,
                pin.version,
                tags.describe()
            );
        }
        return Ok(file.cloned());
    }
    if let Some(best) = tags.best_wheel(pin.wheels.iter().map(|w| w.name.as_str())) {
        return Ok(Some(pin.wheels[best].clone()));
    }
    match &pin.sdist {
        Some(sdist) => Ok(Some(sdist.clone())),
        None => bail!(
            "{}: no wheel of {} {} fits the target ({}) and the lock has no sdist of it",
            path.display(),
            pin.name,
            pin.version,
            tags.describe()
        ),
    }
}

/// The lock `args` ask for, if any: `--lock FILE`, else the `uv.lock` of the one local
/// project named, unless `--no-lock`. With a lock, the installer's arguments may name the
/// project alone (or nothing), and get `--no-deps`: its dependencies come from the lock.
pub fn choose(args: &BuildArgs, installer_args: &mut InstallerArgs) -> Result<Option<Lock>> {
    let projects = installer_args.local_projects();
    let lock = if args.no_lock {
        None
    } else if let Some(file) = &args.lock {
        Some(read_named(file, args)?)
    } else {
        match projects.as_slice() {
            [project] if project.dir.join("uv.lock").is_file() => {
                Some(Lock::read_uv(&project.dir, &args.extra, &args.group)?)
            }
            _ => None,
        }
    };
    let Some(lock) = lock else {
        if !args.extra.is_empty() || !args.group.is_empty() {
            bail!("--extra and --group select from a lock, and there is none (no uv.lock beside the project, no --lock)");
        }
        return Ok(None);
    };
    let others = installer_args
        .0
        .iter()
        .enumerate()
        .any(|(index, arg)| match arg {
            Arg::Operand(_) => !projects.iter().any(|p| p.index == index),
            Arg::Option { flag, .. } => flag.is_some_and(|f| f.role == Role::Requirements),
        });
    if others {
        bail!(
            "{} pins the dependencies: name them in pyproject.toml rather than on the command line, or pass --no-lock",
            lock.path.display()
        );
    }
    if !projects.is_empty() {
        let mut words = installer_args.words();
        words.push("--no-deps".into());
        *installer_args = InstallerArgs::parse(words);
    }
    Ok(Some(lock))
}

/// The lock `--lock FILE` names, by its file name.
fn read_named(file: &Path, args: &BuildArgs) -> Result<Lock> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !file.is_file() {
        bail!("--lock {}: no such file", file.display());
    }
    if name == "uv.lock" {
        let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
        Lock::read_uv(dir.unwrap_or(Path::new(".")), &args.extra, &args.group)
    } else if name.starts_with("pylock.") && name.ends_with(".toml") {
        Lock::read_pylock(file, &args.extra, &args.group)
    } else {
        bail!(
            "--lock {}: give a uv.lock, a pylock.toml or a pylock.NAME.toml (PEP 751)",
            file.display()
        )
    }
}

impl Locked {
    /// Record in `dist` the lock's file it was installed from, and that file's sha256 when
    /// it is the wheel itself (not an sdist the installer built).
    pub fn record(&self, dist: &mut Distribution) {
        let Some(file) = self
            .pins
            .iter()
            .find(|pin| {
                normalize(&pin.name) == normalize(&dist.name) && pin.version == dist.version
            })
            .and_then(|pin| pin.chosen.as_ref())
        else {
            return;
        };
        dist.file = Some(file.name.clone());
        dist.sha256 = file.name.ends_with(".whl").then(|| file.hash.clone());
    }

    /// What environment.json records of this locked build.
    pub fn provenance(&self, lock: &Lock, project: &Path, installer: String) -> Provenance {
        let relative = lock.path.strip_prefix(project).unwrap_or(&lock.path);
        let relative = relative.strip_prefix(".").unwrap_or(relative);
        Provenance {
            lock: relative.display().to_string(),
            lock_sha256: lock.sha256.clone(),
            lock_kind: lock.kind.name().to_string(),
            installer,
            index_urls: self
                .indexes
                .iter()
                .map(|u| without_credentials(u))
                .collect(),
        }
    }

    /// The pins as a requirements file for hash-checking mode: each with the hash of the
    /// file chosen for the target alone.
    pub fn requirements(&self) -> String {
        let mut text = String::new();
        for pin in &self.pins {
            match &pin.direct {
                Some(url) => {
                    let _ = write!(text, "{} @ {url}", pin.name);
                }
                None => {
                    let _ = write!(text, "{}=={}", pin.name, pin.version);
                }
            }
            if let Some(file) = &pin.chosen {
                let _ = write!(text, " \\\n    --hash={}", file.hash);
            }
            text.push('\n');
        }
        text
    }
}

/// Install what `lock` pins for `target` into `dest`: the pins as a requirements file,
/// `--require-hashes --no-deps`, with the user's index options (`args`: `--offline`,
/// `--index-url`, ...), from the lock's own indexes unless those name an index; then the
/// lock's directory and vcs entries, built from source ([`sources`]). The project named
/// among `args` is left to the caller.
pub fn install(
    installer: &Installer,
    dest: &Path,
    lock: &Lock,
    (args, target): (&InstallerArgs, &Target),
    verbose: bool,
    progress: &dyn Progress,
) -> Result<Locked> {
    let mut locked = lock.select(&installer.python, target)?;
    let projects: Vec<PathBuf> = args
        .local_projects()
        .iter()
        .filter_map(|p| p.dir.canonicalize().ok())
        .collect();
    locked.sources.retain(|source| match &source.kind {
        sources::SourceKind::Directory(dir) => !projects.iter().any(|p| p == dir),
        _ => true,
    });
    let index = args.index_options();
    let given = index_urls(&index);
    let mut words = index.words();
    if given.is_empty() {
        for (n, url) in locked.indexes.iter().enumerate() {
            words.push(
                if n == 0 {
                    "--index-url"
                } else {
                    "--extra-index-url"
                }
                .into(),
            );
            words.push(url.into());
        }
    } else {
        locked.indexes = given;
    }
    let target = &for_installer(installer, target, &locked);
    if !locked.pins.is_empty() {
        let dir = tempfile::Builder::new().prefix("rshiv-lock-").tempdir()?;
        let file = dir.path().join("locked-requirements.txt");
        fs_err::write(&file, locked.requirements())?;
        let mut pinned = words.clone();
        pinned.extend([
            "--require-hashes".into(),
            "--no-deps".into(),
            "-r".into(),
            file.into(),
        ]);
        install_cached_first(installer, dest, pinned, target, verbose, progress)?;
    }
    let index = InstallerArgs::parse(words);
    sources::install(
        installer,
        dest,
        &locked.sources,
        (&index, target),
        verbose,
        progress,
    )?;
    Ok(locked)
}

/// `target` as the installer is to be told it. pip takes `--platform TAG` for that tag
/// alone (PEP 600's older glibcs only for the legacy aliases): it gets every platform the
/// chosen files were ranked for, so that it accepts the file chosen. uv expands them itself.
fn for_installer(installer: &Installer, target: &Target, locked: &Locked) -> Target {
    let is_pip = installer.name().starts_with("pip");
    if !is_pip || target.platforms.is_empty() || locked.pins.is_empty() {
        return target.clone();
    }
    let mut platforms: Vec<String> = Vec::new();
    for tag in target.platforms.iter().flat_map(|p| expand_platform(p)) {
        if !platforms.contains(&tag) {
            platforms.push(tag);
        }
    }
    Target {
        platforms,
        ..target.clone()
    }
}

/// Install `words` into `dest`, first from the installer's cache alone when it can (uv's
/// `--offline`), quietly: with warm caches a locked build then sends no request at all
/// (the hashes decide what is installed, not an index page). What the cache lacks is
/// installed online, into an emptied `dest`.
fn install_cached_first(
    installer: &Installer,
    dest: &Path,
    words: Vec<OsString>,
    target: &Target,
    verbose: bool,
    progress: &dyn Progress,
) -> Result<()> {
    if let Some(offline) = installer.frontend.offline_flag() {
        if !words.iter().any(|word| word == offline) {
            let mut trial = words.clone();
            trial.push(offline.into());
            let args = InstallerArgs::parse(trial);
            let command = installer.frontend.command(&Job {
                dest,
                args: &args,
                target,
                bytecode: Bytecode::Skip,
            })?;
            if run_captured(command).is_ok_and(|(status, _)| status.success()) {
                return Ok(());
            }
            fs_err::remove_dir_all(dest)?;
            fs_err::create_dir_all(dest)?;
        }
    }
    installer.install(
        dest,
        &InstallerArgs::parse(words),
        target,
        verbose,
        progress,
    )
}

/// The installer and its version, as provenance records it: `uv 0.9.2`, `pip 24.0`.
/// pip's is asked only here (a `python -m pip` costs a quarter of a second).
pub fn recorded_installer(installer: &Installer) -> String {
    let name = installer.name();
    if name != "pip" {
        return name;
    }
    match super::pip::version(&installer.python) {
        Some(version) => format!("pip {version}"),
        None => name,
    }
}

/// The URLs the index options name (`--index-url`, `--find-links`, ...), in order.
fn index_urls(index: &InstallerArgs) -> Vec<String> {
    index
        .0
        .iter()
        .filter_map(|arg| match arg {
            Arg::Option {
                flag: Some(flag),
                value: Some(value),
                ..
            } if [
                "--index-url",
                "--extra-index-url",
                "--index",
                "--default-index",
                "--find-links",
            ]
            .contains(&flag.name()) =>
            {
                Some(value.to_string_lossy().into_owned())
            }
            _ => None,
        })
        .collect()
}

/// One line for a file whose hash is not the lock's, from pip's or uv's own report:
/// `hash mismatch for dep==1.0 (dep-1.0-py3-none-any.whl): the lock has sha256:..., the
/// file is sha256:...`.
pub fn hash_mismatch(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    // pip: "dep==1.0 from http://host/dep-1.0-py3-none-any.whl:" then
    // "Expected sha256 A" (one per hash) and "Got        B".
    if output.contains("DO NOT MATCH THE HASHES") {
        let at = lines
            .iter()
            .position(|l| l.starts_with("Expected sha256"))?;
        let package = lines[..at].iter().rev().find(|l| l.contains(" from "))?;
        let (name, from) = package.trim_end_matches(':').split_once(" from ")?;
        let expected: Vec<&str> = lines[at..]
            .iter()
            .map_while(|l| l.strip_prefix("Expected sha256"))
            .map(str::trim)
            .collect();
        let got = lines[at..]
            .iter()
            .find_map(|l| l.strip_prefix("Got"))?
            .trim();
        let file = from.rsplit('/').next().unwrap_or(from);
        let expected = expected
            .iter()
            .map(|h| format!("sha256:{h}"))
            .collect::<Vec<_>>()
            .join(" or ");
        return Some(format!(
            "hash mismatch for {name} ({file}): the lock has {expected}, the file is sha256:{got}"
        ));
    }
    // uv: "Hash mismatch for `dep==1.0`", then "Expected:" and "Computed:" blocks.
    let at = lines.iter().position(|l| l.contains("Hash mismatch for"))?;
    let name = lines[at].split('`').nth(1)?;
    let block = |title: &str| -> Vec<&str> {
        let start = lines.iter().position(|l| *l == title);
        start
            .map(|start| {
                lines[start + 1..]
                    .iter()
                    .copied()
                    .take_while(|l| l.starts_with("sha256:"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (expected, computed) = (block("Expected:"), block("Computed:"));
    let file = lines
        .iter()
        .find_map(|l| {
            let url = l
                .split('`')
                .find(|part| part.ends_with(".whl") || part.ends_with(".tar.gz"))?;
            url.rsplit('/').next()
        })
        .unwrap_or(name);
    Some(format!(
        "hash mismatch for {name} ({file}): the lock has {}, the file is {}",
        expected.join(" or "),
        computed.first().copied().unwrap_or("a different one")
    ))
}

/// Whether `marker` (none: always) holds in `env` (PEP 508).
fn holds(marker: Option<&str>, env: &MarkerEnvironment, path: &Path) -> Result<bool> {
    let Some(marker) = marker else {
        return Ok(true);
    };
    let tree = MarkerTree::from_str(marker)
        .with_context(|| format!("{}: marker {marker:?} is not valid PEP 508", path.display()))?;
    Ok(tree.evaluate(env, &[]))
}

/// Fail unless the lock's `requires-python` holds for the target.
fn requires_python(spec: Option<&str>, env: &MarkerEnvironment, path: &Path) -> Result<()> {
    let Some(spec) = spec else {
        return Ok(());
    };
    let specs = VersionSpecifiers::from_str(spec)
        .with_context(|| format!("{}: requires-python {spec:?}", path.display()))?;
    if !specs.contains(&env.python_full_version().version) {
        bail!(
            "{}: the lock requires Python {spec}; the target is Python {}",
            path.display(),
            env.python_full_version()
        );
    }
    Ok(())
}

/// The last part of a URL or path: a file name.
fn file_name(url: &str) -> String {
    let name = url.rsplit('/').next().unwrap_or(url);
    name.split(['#', '?']).next().unwrap_or(name).to_string()
}

/// `scheme://user:token@host/path` as `scheme://host/path`.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// Fail for an entry rshiv cannot install from the lock.
fn unsupported(path: &Path, name: &str, why: &str) -> Result<Locked> {
    bail!("{}: {name} {why}; rshiv cannot install it from the lock (pass --no-lock to resolve afresh)", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Linux x86_64 CPython `python` (`3.8.10`) environment on `platform`, for the
    /// selection tests.
    pub fn environment(python: &str, platform: &str) -> MarkerEnvironment {
        let short = &python[..python.rfind('.').unwrap()];
        serde_json::from_value(serde_json::json!({
            "implementation_name": "cpython", "implementation_version": python,
            "os_name": "posix", "platform_machine": "x86_64",
            "platform_python_implementation": "CPython", "platform_release": "",
            "platform_system": "Linux", "platform_version": "",
            "python_full_version": python, "python_version": short,
            "sys_platform": platform,
        }))
        .unwrap()
    }

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(
            without_credentials("https://user:token@host.example/simple/"),
            "https://host.example/simple/"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:1/"),
            "http://127.0.0.1:1/"
        );
        assert_eq!(without_credentials("./wheels"), "./wheels");
    }

    #[test]
    fn pip_mismatch_is_one_line() {
        let pip = "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.\n    dep==1.0 from http://127.0.0.1:1/dep/dep-1.0-py3-none-any.whl:\n        Expected sha256 aaa\n             Got        bbb\n";
        assert_eq!(
            hash_mismatch(pip).unwrap(),
            "hash mismatch for dep==1.0 (dep-1.0-py3-none-any.whl): the lock has sha256:aaa, the file is sha256:bbb"
        );
    }

    #[test]
    fn uv_mismatch_is_one_line() {
        let uv = "error: Failed to download `dep==1.0`\n  Caused by: Hash mismatch for `dep==1.0`\n\nExpected:\n  sha256:aaa\n\nComputed:\n  sha256:bbb\n";
        assert_eq!(
            hash_mismatch(uv).unwrap(),
            "hash mismatch for dep==1.0 (dep==1.0): the lock has sha256:aaa, the file is sha256:bbb"
        );
        assert_eq!(hash_mismatch("error: other"), None);
    }
}
