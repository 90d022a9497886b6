//! The extraction protocol's steps, for Rust code that makes an extraction of its own (a
//! native launcher unpacking an interpreter): the steps `bootstrap/extract.py` takes, on
//! the names of [`super::layout`] and under the rules of [`super::trust`].
//!
//! 1. [`open_published`]: a published, trusted `<root>/<stem>`, its marker held shared
//!    for as long as the tree is used (a remover takes it exclusively first).
//! 2. Else [`wait`]: take the extraction lock, polling until a deadline, and stop at once
//!    if a published tree appears meanwhile.
//! 3. Under the lock, [`remove_leftovers`] of runs that died, fill a [`work_dir`] (0755),
//!    then [`publish`] it: marker last, one atomic rename.
//!
//! Whatever is not trusted ([`Refused`]) is never used nor deleted: the caller goes to the
//! user's private fallback root ([`super::layout::fallback_root`], made or checked by
//! [`private_fallback`]) and says why. While the cache root is not writable
//! ([`super::trust::root_writable`]), the fallback is looked in first, as the bootstrap does.

use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::layout::{self, MARKER};
use super::trust;

/// How often [`wait`] looks again (the bootstrap's LOCK_POLL).
const POLL: Duration = Duration::from_millis(20);

/// A published extraction in use: its marker is held shared until this is dropped.
#[derive(Debug)]
pub struct Published {
    pub dir: PathBuf,
    marker: File,
}

impl Published {
    /// The open marker, whose shared lock marks the tree as in use.
    pub fn marker(&self) -> &File {
        &self.marker
    }

    /// Keep the marker's descriptor (and so its shared lock) open across `exec`, for a
    /// launcher whose process becomes the tree's user: clears FD_CLOEXEC.
    pub fn keep_across_exec(&self) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: fcntl(2) on a descriptor we own; clearing FD_CLOEXEC has no other effect.
        if unsafe { libc::fcntl(self.marker.as_raw_fd(), libc::F_SETFD, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Something in the root that another user controls, and why it is not used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What [`wait`] ended with.
#[derive(Debug)]
pub enum Waited {
    /// Another process published the tree meanwhile.
    Published(Published),
    /// The extraction lock is ours until dropped: make the tree.
    Locked(Lock),
}

/// The open extraction lock; closing it (dropping this) releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// Whether it is held exclusively: false where the file system has no flock (some NFS),
    /// where a tree may be made unlocked (the rename keeps it whole) but the temp dirs of
    /// others cannot be told from stale ones, so [`remove_leftovers`] must not run.
    pub held: bool,
}

/// `<root>/<stem>` if it is published and can be trusted, with its marker held shared.
/// None when it is absent, being removed (its marker held exclusively) or was replaced
/// between the open and the lock.
pub fn open_published(root: &Path, stem: &str) -> Result<Option<Published>, Refused> {
    let dir = root.join(stem);
    let marker = dir.join(MARKER);
    let file = match trust::open_regular(&marker, false) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) if trust::is_untrusted(&err) => return Err(Refused(err.to_string())),
        Err(_) => return Ok(None),
    };
    if !trust::trusted_dir(&dir) {
        return Err(Refused(format!("{} is not this user's", dir.display())));
    }
    match file.try_lock_shared() {
        Ok(()) | Err(TryLockError::Error(_)) => {} // no flock (NFS): the rename keeps it whole
        Err(TryLockError::WouldBlock) => return Ok(None),
    }
    let (named, held) = (std::fs::metadata(&marker), file.metadata());
    match (named, held) {
        (Ok(named), Ok(held)) if (named.dev(), named.ino()) == (held.dev(), held.ino()) => {
            Ok(Some(Published { dir, marker: file }))
        }
        _ => Ok(None),
    }
}

/// Take the extraction lock of `<root>/<stem>`, or return the tree another process
/// publishes meanwhile; fail naming the lock after `timeout`.
pub fn wait(root: &Path, stem: &str, timeout: Duration) -> anyhow::Result<Waited> {
    let path = root.join(layout::lock_name(stem));
    let lock = trust::open_or_create_lock(&path).map_err(|err| {
        if trust::is_untrusted(&err) {
            anyhow::Error::new(Refused(format!(
                "{} is not a lock of this user",
                path.display()
            )))
        } else {
            anyhow::Error::new(err).context(format!("cannot open the lock {}", path.display()))
        }
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        match lock.try_lock() {
            Ok(()) => {
                return Ok(Waited::Locked(Lock {
                    _file: lock,
                    held: true,
                }))
            }
            Err(TryLockError::Error(_)) => {
                return Ok(Waited::Locked(Lock {
                    _file: lock,
                    held: false,
                }))
            }
            Err(TryLockError::WouldBlock) => {}
        }
        if let Some(published) = open_published(root, stem)? {
            return Ok(Waited::Published(published));
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "timed out after {timeout:?} waiting for {} (another process is unpacking)",
                path.display()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// A fresh `.<stem>.tmp-<pid>-<random>` directory in `root`, 0755 whatever the umask.
pub fn work_dir(root: &Path, stem: &str) -> io::Result<PathBuf> {
    let random = format!("{:08x}", trust::random());
    let dir = root.join(layout::tmp_name(stem, std::process::id(), &random));
    std::fs::DirBuilder::new().mode(0o755).create(&dir)?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(dir)
}

/// Write `marker` (a [`layout::Marker::render`]ed text) into the complete `work` dir and rename it
/// to `<root>/<stem>` (the caller holds the extraction lock). A tree already there is kept
/// when it is complete and trusted (`work` is then removed), goes to the trash first when it
/// is trusted but unfinished (no marker), and is refused when it is not trusted.
pub fn publish(root: &Path, stem: &str, work: &Path, marker: &str) -> anyhow::Result<()> {
    let final_dir = root.join(stem);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(work.join(MARKER))?;
    file.write_all(marker.as_bytes())?;
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    drop(file);
    if std::fs::symlink_metadata(&final_dir).is_ok() {
        if !trust::trusted_dir(&final_dir) {
            anyhow::bail!(Refused(format!(
                "{} is not this user's",
                final_dir.display()
            )));
        }
        if std::fs::symlink_metadata(final_dir.join(MARKER)).is_ok() {
            let _ = std::fs::remove_dir_all(work);
            return Ok(());
        }
        let random = format!("{:08x}", trust::random());
        let trash = root.join(layout::trash_name(stem, std::process::id(), &random));
        fs_err::rename(&final_dir, &trash)?;
        let _ = std::fs::remove_dir_all(&trash);
    }
    fs_err::rename(work, &final_dir)?;
    Ok(())
}

/// Create (0700) or accept the user's private fallback root `path`, used because `root`
/// cannot be (`reason`); refuse anyone else's, a symlink, or one under another user's
/// files (`private_fallback` of bootstrap/extract.py).
pub fn private_fallback(path: &Path, root: &Path, reason: &str) -> anyhow::Result<()> {
    let made = std::fs::DirBuilder::new().mode(0o700).create(path);
    if let Err(err) = made {
        if err.kind() != io::ErrorKind::AlreadyExists {
            anyhow::bail!(
                "cannot write to {} ({reason}) nor create {} ({err})",
                root.display(),
                path.display()
            );
        }
    }
    if !trust::is_private_dir(path) || trust::root_problem(path).is_some() {
        anyhow::bail!(
            "cannot write to {} ({reason}), and the fallback {} is not a private directory of \
             this user",
            root.display(),
            path.display()
        );
    }
    Ok(())
}

/// Remove the temp dirs of `<stem>` left by runs that died (the caller holds the extraction
/// lock exclusively, [`Lock::held`], so none is in use); only real directories of this user
/// go.
pub fn remove_leftovers(root: &Path, stem: &str) {
    let Ok(read) = std::fs::read_dir(root) else {
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name();
        let is_ours = name.to_str().and_then(layout::parse_tmp) == Some(stem);
        if is_ours && trust::ours(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::layout::Marker;

    #[test]
    fn publish_then_use() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        assert!(open_published(root, "py_1").unwrap().is_none());
        let Waited::Locked(lock) = wait(root, "py_1", Duration::from_secs(1)).unwrap() else {
            panic!("nothing was published yet");
        };
        assert!(lock.held, "tmpfs and ext4 have flock");
        let work = work_dir(root, "py_1").unwrap();
        std::fs::write(work.join("python"), "").unwrap();
        let marker = Marker {
            name: "py".into(),
            build_id: "1".into(),
            files: 1,
            unpacked_bytes: 0,
        };
        publish(root, "py_1", &work, &marker.render()).unwrap();
        drop(lock);
        let published = open_published(root, "py_1").unwrap().expect("published");
        assert!(published.dir.join("python").is_file());
        match wait(root, "py_1", Duration::from_secs(1)).unwrap() {
            Waited::Locked(_) | Waited::Published(_) => {}
        }
        let text = std::fs::read_to_string(published.dir.join(MARKER)).unwrap();
        assert_eq!(Marker::parse(&text), Some(marker));
    }

    #[test]
    fn a_tree_others_may_write_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("py_1");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(MARKER), "rshiv-1\n").unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        assert!(open_published(root.path(), "py_1").is_err());
    }
}
