//! Removing an entry of the root, following the extraction protocol step by step, so
//! that no running pyz ever loses its tree and no extraction in progress is disturbed.

use std::path::Path;

use super::layout;
use super::lock::{self, NotHeld};
use super::scan::{Entry, Kind};
use super::trust;

/// What happened to one entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Removed (or, in a dry run, would be).
    Removed,
    /// Left in place, for the reason given.
    Skipped(String),
}

/// Remove `entry` unless something uses it; in a dry run, only find out whether it could.
///
/// * A published tree: take the extraction lock (busy: skip), take its marker exclusively
///   (busy: in use, skip), rename the tree to `.trash-<name>_<id>-<pid>-<random>`, release
///   the extraction lock, delete the trash, release the marker.
/// * Trash: delete it when its marker (if any) can be taken exclusively.
/// * A temp dir: stale when its extraction lock can be taken, since extractions only run
///   under that lock; delete it then.
/// * shiv's trees carry no sign of use, so they are never removed here.
pub fn remove(root: &Path, entry: &Entry, dry_run: bool) -> anyhow::Result<Outcome> {
    if entry.kind != Kind::Shiv && !trust::ours(&entry.path) {
        return Ok(Outcome::Skipped(
            "not this user's: rshiv removes only what the user owns".into(),
        ));
    }
    match entry.kind {
        Kind::Rshiv => remove_published(root, entry, dry_run),
        Kind::Trash => {
            let _marker = match hold(&entry.marker(), false, "still in use")? {
                Ok(held) => held,
                Err(skipped) => return Ok(skipped),
            };
            delete(&entry.path, dry_run)
        }
        Kind::Tmp => {
            let _lock = match hold(&entry.lock_path(root), !dry_run, "extraction in progress")? {
                Ok(held) => held,
                Err(skipped) => return Ok(skipped),
            };
            delete(&entry.path, dry_run)
        }
        Kind::Shiv => Ok(Outcome::Skipped(
            "a shiv extraction: shiv records no use, so rshiv cannot tell whether it is safe"
                .into(),
        )),
    }
}

fn remove_published(root: &Path, entry: &Entry, dry_run: bool) -> anyhow::Result<Outcome> {
    let lock = match hold(
        &entry.lock_path(root),
        !dry_run,
        "being extracted or removed",
    )? {
        Ok(held) => held,
        Err(skipped) => return Ok(skipped),
    };
    let marker = match lock::try_exclusive(&entry.marker(), false) {
        Ok(held) => held,
        Err(NotHeld::Missing) => return Ok(Outcome::Skipped("already gone".into())),
        Err(NotHeld::Busy) => return Ok(Outcome::Skipped("in use".into())),
        Err(NotHeld::Failed(err)) => return Ok(cannot_lock(&entry.marker(), &err)),
    };
    if dry_run {
        return Ok(Outcome::Removed);
    }
    let random = format!("{:08x}", trust::random());
    let trash = root.join(layout::trash_name(&entry.key, std::process::id(), &random));
    fs_err::rename(&entry.path, &trash)?;
    drop(lock);
    let outcome = delete(&trash, false);
    drop(marker);
    outcome
}

/// Remove this user's bytecode mirror of the extraction `stem`,
/// `<fallback>/.bytecode/<stem>` ([`layout::BYTECODE_MIRROR`], written by
/// `bootstrap/bytecode.py` for an extraction the user may not write), once the extraction
/// is removed: it mirrors nothing any more. Only directories of this user, inside a
/// fallback root of this user, are removed; true when a mirror was.
pub fn remove_mirror(fallback: &Path, stem: &str) -> anyhow::Result<bool> {
    let mirrors = fallback.join(layout::BYTECODE_MIRROR);
    let mirror = mirrors.join(stem);
    if !(trust::ours(fallback) && trust::ours(&mirrors) && trust::ours(&mirror)) {
        return Ok(false);
    }
    delete(&mirror, false)?;
    Ok(true)
}

/// Take a lock for removal. `Err(Outcome)` (inside `Ok`) says why the entry stays.
/// A missing lock file that was not to be created means nobody holds it: `None`.
fn hold(
    path: &Path,
    create: bool,
    busy: &str,
) -> anyhow::Result<Result<Option<lock::Held>, Outcome>> {
    Ok(match lock::try_exclusive(path, create) {
        Ok(held) => Ok(Some(held)),
        Err(NotHeld::Missing) => Ok(None),
        Err(NotHeld::Busy) => Err(Outcome::Skipped(busy.into())),
        Err(NotHeld::Failed(err)) => Err(cannot_lock(path, &err)),
    })
}

fn cannot_lock(path: &Path, err: &std::io::Error) -> Outcome {
    Outcome::Skipped(format!("cannot lock {}: {err}", path.display()))
}

/// Delete a tree that nothing uses any more. Another cleaner may be deleting it at the
/// same time, so a tree that vanishes under us counts as deleted.
fn delete(path: &Path, dry_run: bool) -> anyhow::Result<Outcome> {
    if !dry_run {
        match std::fs::remove_dir_all(path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(
                    anyhow::Error::new(err).context(format!("cannot delete {}", path.display()))
                )
            }
        }
    }
    Ok(Outcome::Removed)
}
