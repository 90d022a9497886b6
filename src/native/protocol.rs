//! The extraction protocol of bootstrap/extract.py, in Rust, for the launcher's interpreter:
//! `<root>/<key>/` is published by one atomic rename of a complete temp dir
//! `<root>/.<key>.tmp-<pid>-<random>`, built under the lock `<root>/.<key>.lock` (flock
//! LOCK_EX, polled, with the lock timeout); a user holds LOCK_SH on its marker
//! `.rshiv-ready`, so `rshiv cache clean` leaves it alone.
//!
//! Kept in this one file so it can give way to the shared module the `protocol` work is
//! writing (src/cache/). What is trusted follows issue 12's rules: a tree, marker or lock is
//! used only when it is a real directory or regular file owned by this user or root that
//! nobody else may write; opens never follow symlinks nor block on FIFOs.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cache::scan::MARKER;

/// How often a waiting process looks again (bootstrap/extract.py's LOCK_POLL).
const LOCK_POLL: Duration = Duration::from_millis(20);

/// A published tree, with LOCK_SH held on its marker for as long as `marker` is open.
#[derive(Debug)]
pub struct Published {
    pub dir: PathBuf,
    pub marker: File,
}

/// Why a tree could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root is not ours to write: the caller may fall back to the private root.
    #[error("cannot write to {}: {}", .0.display(), .1)]
    Unwritable(PathBuf, std::io::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn unwritable(path: &Path, err: std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    let raw = err.raw_os_error();
    let ours = matches!(
        err.kind(),
        PermissionDenied | ReadOnlyFilesystem | NotADirectory | AlreadyExists
    ) || raw == Some(libc::EPERM);
    if ours {
        Error::Unwritable(path.to_path_buf(), err)
    } else {
        Error::Other(anyhow::Error::new(err).context(format!("cannot write to {}", path.display())))
    }
}

/// Whether metadata describes something this user (or root) made and nobody else may write.
fn trusted(meta: &std::fs::Metadata) -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    (meta.uid() == uid || meta.uid() == 0) && meta.mode() & 0o022 == 0
}

/// `<root>/<key>` if it is published and trusted, with LOCK_SH held on its marker; `None`
/// when missing, being removed (LOCK_EX held elsewhere) or replaced under us.
pub fn open_published(root: &Path, key: &str) -> Option<Published> {
    let dir = root.join(key);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    if !meta.is_dir() || !trusted(&meta) {
        return None;
    }
    let path = dir.join(MARKER);
    let marker = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .ok()?;
    let held = marker.metadata().ok()?;
    if !held.is_file() || !trusted(&held) {
        return None;
    }
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(marker.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return None;
        }
        // No flock here (some NFS): the atomic rename alone keeps trees whole.
    }
    let named = std::fs::symlink_metadata(&path).ok()?;
    ((named.dev(), named.ino()) == (held.dev(), held.ino())).then_some(Published { dir, marker })
}

/// Publish `<root>/<key>` unless someone already has: under the lock, `fill` makes the tree
/// in a fresh temp dir and returns the marker's text; the dir is then renamed into place.
pub fn create(
    root: &Path,
    key: &str,
    timeout: Duration,
    fill: impl FnOnce(&Path) -> Result<String>,
) -> Result<Published, Error> {
    // Modes are given, not left to the umask: a tree made under umask 000 must still be one
    // that nobody else may write (and that `trusted` accepts).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(root)
        .map_err(|err| unwritable(root, err))?;
    let meta = std::fs::metadata(root).map_err(|err| unwritable(root, err))?;
    let sticky = meta.mode() & 0o1000 != 0;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if !(meta.uid() == uid || meta.uid() == 0) || (meta.mode() & 0o022 != 0 && !sticky) {
        let why = "owned by another user, or writable by others";
        return Err(Error::Unwritable(
            root.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
        ));
    }
    let lock = Lock::open(&root.join(format!(".{key}.lock")))?;
    let held = lock.wait(timeout, || open_published(root, key))?;
    if let Some(found) = held.found {
        return Ok(found);
    }
    if let Some(found) = open_published(root, key) {
        return Ok(found);
    }
    if held.exclusive {
        remove_leftovers(root, key);
    }
    let tmp = root.join(format!(
        ".{key}.tmp-{}-{:08x}",
        std::process::id(),
        random()
    ));
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&tmp)
        .map_err(|err| unwritable(root, err))?;
    let made = fill(&tmp).and_then(|text| {
        let marker = tmp.join(MARKER);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&marker)
            .with_context(|| format!("cannot create {}", marker.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        publish(&tmp, &root.join(key), root, key)
    });
    if let Err(err) = made {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err.into());
    }
    drop(lock);
    open_published(root, key)
        .with_context(|| {
            format!(
                "{} vanished right after unpacking",
                root.join(key).display()
            )
        })
        .map_err(Error::Other)
}

/// Rename `tmp` to `final_dir`; an unfinished tree in the way goes to the trash first.
fn publish(tmp: &Path, final_dir: &Path, root: &Path, key: &str) -> Result<()> {
    if std::fs::symlink_metadata(final_dir).is_ok() {
        let trash = root.join(format!(
            ".trash-{key}-{}-{:08x}",
            std::process::id(),
            random()
        ));
        fs_err::rename(final_dir, &trash)?;
        let _ = std::fs::remove_dir_all(&trash);
    }
    fs_err::rename(tmp, final_dir)?;
    Ok(())
}

/// Temp dirs of this key left by runs that died (we hold its lock, so none is in use).
fn remove_leftovers(root: &Path, key: &str) {
    let prefix = format!(".{key}.tmp-");
    let Ok(read) = std::fs::read_dir(root) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name();
        let ours = entry.metadata().is_ok_and(|m| trusted(&m));
        if ours && name.to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A few random bits for temp names (the pid keeps them apart between processes).
fn random() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// The extraction lock; closing it releases the lock (the file stays, by design).
struct Lock {
    file: File,
    path: PathBuf,
}

/// What waiting for the lock gave.
struct Held {
    /// Someone else published the tree meanwhile.
    found: Option<Published>,
    /// We hold LOCK_EX (false where flock does not work: go on unlocked, keep leftovers).
    exclusive: bool,
}

impl Lock {
    fn open(path: &Path) -> Result<Lock, Error> {
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(flags)
            .open(path)
            .or_else(|err| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(flags)
                    .open(path)
                    .map_err(|_| err)
            })
            .map_err(|err| unwritable(path, err))?;
        let meta = file.metadata().map_err(|err| unwritable(path, err))?;
        if !meta.is_file() {
            return Err(Error::Other(anyhow::anyhow!(
                "{} is not a regular file: remove it",
                path.display()
            )));
        }
        Ok(Lock {
            file,
            path: path.to_path_buf(),
        })
    }

    fn wait(&self, timeout: Duration, published: impl Fn() -> Option<Published>) -> Result<Held> {
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Held {
                    found: None,
                    exclusive: true,
                });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::WouldBlock {
                return Ok(Held {
                    found: None,
                    exclusive: false,
                });
            }
            if let Some(found) = published() {
                return Ok(Held {
                    found: Some(found),
                    exclusive: false,
                });
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "timed out after {} s waiting for {} (another process is unpacking; \
                     RSHIV_LOCK_TIMEOUT sets the wait)",
                    timeout.as_secs_f64(),
                    self.path.display()
                );
            }
            std::thread::sleep(LOCK_POLL);
        }
    }
}
