//! Reused PEP 517 build environments (PEP 518 `[build-system] requires`).
//!
//! pip and uv make a fresh isolated environment for every build of a source tree: they
//! install the backend again, and since that environment lives for one build its modules
//! are never byte-compiled, so each hook call imports setuptools from source (~0.25 s on
//! CPython 3.11, against ~0.1 s from bytecode). rshiv keeps one virtual environment per
//! interpreter, requirement list and index options, installed once with the chosen
//! installer with bytecode, and reuses it for a week; then the next build makes it anew,
//! picking up newer backends.
//!
//! Layout under the build cache (`$RSHIV_BUILD_CACHE`, else
//! `${XDG_CACHE_HOME:-~/.cache}/rshiv-build`): `envs/<key>/` (a venv), `envs/<key>.lock`
//! (flock: shared while a build uses the environment, exclusive while it is made or
//! replaced), `envs/.tmp-*` (one being made, renamed into place when complete).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{Bytecode, Installer, InstallerArgs, Target};
use crate::interrupt;
use crate::progress::Progress;

/// How long an environment is reused before it is made again with the newest backend.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The file whose presence says an environment is complete; its mtime is its age.
const READY: &str = ".rshiv-build-env";

/// The build cache: `RSHIV_BUILD_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/rshiv-build`.
pub fn cache_dir() -> Result<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("RSHIV_BUILD_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = set("XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Ok(xdg.join("rshiv-build"));
        }
    }
    match set("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("rshiv-build")),
        None => bail!("cannot find the build cache: HOME is not set; set RSHIV_BUILD_CACHE"),
    }
}

/// An environment ready for a build, held shared until dropped so that no other build
/// replaces it meanwhile.
pub struct BuildEnv {
    /// Its interpreter: `<env>/bin/python`.
    pub python: PathBuf,
    _lock: File,
}

/// What an environment is made for.
pub struct Request<'a> {
    pub installer: &'a Installer,
    /// PEP 508 requirements, as the project's `[build-system] requires` lists them.
    pub requires: &'a [String],
    /// The user's index options ([`InstallerArgs::index_options`]), for installing
    /// `requires`.
    pub index_args: &'a InstallerArgs,
    pub verbose: bool,
    pub progress: &'a dyn Progress,
}

impl BuildEnv {
    /// The environment for `request` under `cache`, made first if it is missing or too old.
    /// The caller has made `cache/envs` (see `project::usable_cache`).
    pub fn ready(cache: &Path, request: &Request) -> Result<BuildEnv> {
        let envs = cache.join("envs");
        let key = key(request);
        let dir = envs.join(&key);
        let lock_path = envs.join(format!("{key}.lock"));
        let lock = open_lock_file(&lock_path)?;
        let locked = |what| format!("could not lock {} {what}", lock_path.display());
        lock.lock_shared().with_context(|| locked("shared"))?;
        if !is_fresh(&dir) {
            lock.lock().with_context(|| locked("exclusively"))?;
            if !is_fresh(&dir) {
                replace(&envs, &dir, request)?;
            }
            lock.lock_shared().with_context(|| locked("shared"))?;
        }
        Ok(BuildEnv {
            python: dir.join("bin").join("python"),
            _lock: lock,
        })
    }
}

/// Open (creating it if needed, never truncating) a file that is only ever `flock`ed.
pub fn open_lock_file(path: &Path) -> Result<File> {
    let file = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    Ok(file.into_parts().0)
}

/// Whether `dir` is a complete environment made less than [`MAX_AGE`] ago.
fn is_fresh(dir: &Path) -> bool {
    let made = std::fs::metadata(dir.join(READY)).and_then(|m| m.modified());
    made.is_ok_and(|made| {
        SystemTime::now()
            .duration_since(made)
            .is_ok_and(|age| age < MAX_AGE)
    })
}

/// The key of an environment: what makes two of them differ, hashed.
fn key(request: &Request) -> String {
    let python = &request.installer.python;
    let mut hasher = Sha256::new();
    let mut add = |part: &[u8]| {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    };
    add(b"rshiv build environment 1");
    add(python.executable.as_os_str().as_encoded_bytes());
    add(python.version.as_bytes());
    add(python.implementation.as_bytes());
    for requirement in request.requires {
        add(requirement.as_bytes());
    }
    add(b"--");
    for arg in request.index_args.words() {
        add(arg.as_encoded_bytes());
    }
    let digest = hasher.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Make the environment in a temporary directory beside `dir`, then swap it in (the caller
/// holds the lock exclusively).
fn replace(envs: &Path, dir: &Path, request: &Request) -> Result<()> {
    sweep_leftovers(envs);
    let fresh = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(envs)
        .with_context(|| format!("could not create a directory in {}", envs.display()))?;
    let _pending = interrupt::Pending::new(fresh.path());
    create_venv(&request.installer.python.executable, fresh.path())?;
    if !request.requires.is_empty() {
        let site_packages = purelib(fresh.path())?;
        let mut args = InstallerArgs::requirements(request.requires);
        args.0.extend(request.index_args.0.iter().cloned());
        request
            .installer
            .install_with(
                &site_packages,
                &args,
                &Target::default(),
                Bytecode::Compile,
                request.verbose,
                request.progress,
            )
            .with_context(|| {
                format!(
                    "could not install the build requirements {}",
                    request.requires.join(", ")
                )
            })?;
    }
    fs_err::write(
        fresh.path().join(READY),
        serde_json::to_string(&request.requires)?,
    )?;
    if dir.exists() {
        let old = tempfile::Builder::new()
            .prefix(".trash-")
            .tempdir_in(envs)
            .with_context(|| format!("could not create a directory in {}", envs.display()))?;
        fs_err::rename(dir, old.path().join("env"))?;
    }
    fs_err::rename(fresh.keep(), dir)?;
    Ok(())
}

/// Remove what killed builds left (`.tmp-*`, `.trash-*`) more than a day ago: old enough
/// that no live build is still making or removing it. Best effort.
fn sweep_leftovers(envs: &Path) {
    let Ok(entries) = std::fs::read_dir(envs) else {
        return;
    };
    let day_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < day_ago);
        if (name.starts_with(".tmp-") || name.starts_with(".trash-")) && old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `python -m venv --without-pip DIR`: stdlib only, and no pip to install or upgrade.
fn create_venv(python: &Path, dir: &Path) -> Result<()> {
    let output = Command::new(python)
        .args(["-I", "-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .with_context(|| format!("could not run {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "could not create a build environment in {} with {}: {}",
            dir.display(),
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The environment's site-packages, as its own interpreter names it.
fn purelib(dir: &Path) -> Result<PathBuf> {
    let python = dir.join("bin").join("python");
    let output = Command::new(&python)
        .args([
            "-I",
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .with_context(|| format!("could not run {}", python.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || text.is_empty() {
        bail!("{} does not name its site-packages", python.display());
    }
    Ok(PathBuf::from(text))
}
