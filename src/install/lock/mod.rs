//! Locks as the source of what to install: a uv project's `uv.lock` (and, by path, any
//! lock file rshiv reads), turned into pinned requirements that the installer installs in
//! hash-checking mode.
//!
//! The lock is the authority. Each package it selects for the target becomes one line
//! `name==version --hash=sha256:...` (every file the lock lists for that version), given
//! to the installer with `--require-hashes --no-deps`: nothing is resolved, and a file
//! whose bytes differ from the lock's is refused even when the index's page was changed to
//! match. The project itself (the lock's editable or directory entry) is built from source
//! and installed as a normal local project, with `--no-deps`.

mod markers;
mod pylock;
mod uv_lock;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::{MarkerEnvironment, MarkerTree};
use sha2::{Digest, Sha256};

pub use markers::target_environment;

use super::args::{Arg, InstallerArgs};
use super::flags::Role;
use super::target::Target;
use super::{Installer, Interpreter};
use crate::archive::environment::{Distribution, Provenance};
use crate::archive::hex;
use crate::cli::BuildArgs;
use crate::metadata::normalize_name as normalize;
use crate::progress::Progress;

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

/// One package the lock pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of every file the lock lists for it.
    pub hashes: Vec<String>,
    /// Its wheels: (file name, `sha256:<hex>`).
    pub wheels: Vec<(String, String)>,
}

/// What a lock selects for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Sorted by name.
    pub pins: Vec<Pin>,
    /// The indexes the pins come from, in the lock's order.
    pub indexes: Vec<String>,
}

impl Lock {
    /// Read the `uv.lock` beside `project/pyproject.toml`, and fail when it no longer
    /// matches the project's requirements.
    pub fn read_uv(project: &Path, extras: &[String], groups: &[String]) -> Result<Lock> {
        let path = project.join("uv.lock");
        let bytes = fs_err::read(&path)?;
        let lock = uv_lock::UvLock::parse(&String::from_utf8_lossy(&bytes), &path)?;
        lock.check_fresh(&project.join("pyproject.toml"), &path)?;
        Ok(Lock {
            sha256: hex(&Sha256::digest(&bytes)),
            path,
            kind: LockKind::UvLock,
            extras: extras.iter().map(|e| normalize(e)).collect(),
            groups: groups.iter().map(|g| normalize(g)).collect(),
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
    /// environment `python` has (or the target's, for another target).
    pub fn select(&self, python: &Interpreter, target: &Target) -> Result<Locked> {
        let env = target_environment(python, target)?;
        match &self.parsed {
            Parsed::Uv(lock) => lock.select(&env, &self.extras, &self.groups, &self.path),
            Parsed::Pylock(lock) => lock.select(&env, &self.path),
        }
    }
}

/// The lock `args` ask for, if any: `--lock FILE`, else the `uv.lock` of the one local
/// project named, unless `--no-lock`. With a lock, the installer's arguments may name the
/// project alone, and get `--no-deps`: its dependencies come from the lock.
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
    let mut words = installer_args.words();
    words.push("--no-deps".into());
    *installer_args = InstallerArgs::parse(words);
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
    /// `sha256:<hex>` of the lock's wheel that `dist` was installed from: the one wheel
    /// of its pin, or the one whose file name's tags (PEP 425, compressed sets expanded)
    /// are the installed `WHEEL` file's.
    pub fn wheel_hash(&self, dist: &Distribution) -> Option<String> {
        let pin = self.pins.iter().find(|pin| {
            normalize(&pin.name) == normalize(&dist.name) && pin.version == dist.version
        })?;
        if let [(_, hash)] = pin.wheels.as_slice() {
            return Some(hash.clone());
        }
        let mut installed = dist.tags.clone();
        installed.sort();
        pin.wheels
            .iter()
            .find(|(name, _)| expanded_tags(name) == installed)
            .map(|(_, hash)| hash.clone())
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

    /// The pins as a requirements file for hash-checking mode.
    pub fn requirements(&self) -> String {
        let mut text = String::new();
        for pin in &self.pins {
            let _ = write!(text, "{}=={}", pin.name, pin.version);
            for hash in &pin.hashes {
                let _ = write!(text, " \\\n    --hash={hash}");
            }
            text.push('\n');
        }
        text
    }
}

/// Install what `lock` pins for `target` into `dest`: the pins as a requirements file,
/// `--require-hashes --no-deps`, with the user's index options (`args`: `--offline`,
/// `--index-url`, ...), from the lock's own indexes unless those name an index.
pub fn install(
    installer: &Installer,
    dest: &Path,
    lock: &Lock,
    (args, target): (&InstallerArgs, &Target),
    verbose: bool,
    progress: &dyn Progress,
) -> Result<Locked> {
    let locked = lock.select(&installer.python, target)?;
    if locked.pins.is_empty() {
        return Ok(locked);
    }
    let dir = tempfile::Builder::new().prefix("rshiv-lock-").tempdir()?;
    let file = dir.path().join("locked-requirements.txt");
    fs_err::write(&file, locked.requirements())?;
    let mut words: Vec<std::ffi::OsString> = vec![
        "--require-hashes".into(),
        "--no-deps".into(),
        "-r".into(),
        file.into(),
    ];
    let index = args.index_options();
    let given = index_urls(&index);
    words.extend(index.words());
    let mut locked = locked;
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
    installer.install(
        dest,
        &InstallerArgs::parse(words),
        target,
        verbose,
        progress,
    )?;
    Ok(locked)
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

/// A wheel file name's tags (PEP 425 `{python}-{abi}-{platform}`, each possibly a
/// `.`-joined set), expanded and sorted.
fn expanded_tags(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".whl").unwrap_or(file);
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    let [platform, abi, python, _] = parts.as_slice() else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    for p in python.split('.') {
        for a in abi.split('.') {
            for pl in platform.split('.') {
                tags.push(format!("{p}-{a}-{pl}"));
            }
        }
    }
    tags.sort();
    tags
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
    fn wheel_file_names_expand_to_their_tags() {
        assert_eq!(
            expanded_tags("x-1.0-py2.py3-none-any.whl"),
            ["py2-none-any", "py3-none-any"]
        );
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
