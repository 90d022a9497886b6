//! The two locks of the extraction protocol, taken without ever waiting.
//!
//! Both are `flock(2)` locks (std's `File::try_lock` is `flock(LOCK_EX | LOCK_NB)` on Linux
//! and the BSDs), the same kind `bootstrap/extract.py` takes with `fcntl.flock` (names in
//! [`super::layout`]):
//! * the extraction lock `<root>/.<name>_<id>.lock`, held while a tree is created or removed;
//! * the marker `<name>_<id>/.rshiv-ready`, which every running pyz holds shared for its
//!   whole life. Holding it exclusively proves that no process uses the tree.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use super::trust;

/// What a non-blocking exclusive attempt on a lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Nobody holds it.
    Free,
    /// Someone holds it (a running pyz, an extraction, another clean).
    Busy,
    /// The file is not there.
    Missing,
    /// The file system cannot tell (no flock on some NFS mounts, no permission), or this
    /// kind of entry has no lock at all: treated as busy by everything that removes.
    Unknown,
}

/// Check a lock without keeping it: take it exclusively and release it at once.
///
/// A pyz starting in the very microsecond the probe holds its marker sees the marker
/// busy, takes its cold path, finds the tree published and uses it: a probe costs a runner
/// nothing more.
pub fn probe(path: &Path) -> Probe {
    match try_exclusive(path, false) {
        Ok(_held) => Probe::Free,
        Err(NotHeld::Busy) => Probe::Busy,
        Err(NotHeld::Missing) => Probe::Missing,
        Err(NotHeld::Failed(_)) => Probe::Unknown,
    }
}

/// An exclusive lock that is released when dropped (the file is closed).
#[derive(Debug)]
pub struct Held {
    _file: File,
}

/// Why [`try_exclusive`] did not get the lock.
#[derive(Debug)]
pub enum NotHeld {
    /// Another process holds it.
    Busy,
    /// The file is not there (and was not to be created).
    Missing,
    /// Opening or locking failed otherwise.
    Failed(io::Error),
}

/// Take `path` exclusively without waiting; with `create`, make the file first if needed
/// (the extraction lock), else a missing file is [`NotHeld::Missing`] (the marker). Only a
/// regular file of the user or root is opened, never through a link nor waiting on a FIFO
/// ([`trust::open_regular`]), and a new one is made without following a planted link.
pub fn try_exclusive(path: &Path, create: bool) -> Result<Held, NotHeld> {
    let opened = if create {
        trust::open_or_create_lock(path)
    } else {
        trust::open_regular(path, false)
    };
    let file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(NotHeld::Missing),
        Err(err) => return Err(NotHeld::Failed(err)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Held { _file: file }),
        Err(TryLockError::WouldBlock) => Err(NotHeld::Busy),
        Err(TryLockError::Error(err)) => Err(NotHeld::Failed(err)),
    }
}
