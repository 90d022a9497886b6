//! Reading a cache root: which directories are extractions, leftovers or someone else's.
//!
//! Names are [`layout`]'s: `<name>_<id>/` holding `.rshiv-ready`, `.<name>_<id>.tmp-<pid>-<rnd>/`,
//! `.trash-<name>_<id>-<pid>-<rnd>/`. shiv's extractions (`<name>_<id>/site-packages`, no
//! marker) are listed too, since `SHIV_ROOT` may point both tools at one root. Anything else
//! in the root is left alone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use walkdir::WalkDir;

use super::layout::{self, SITE_PACKAGES};
use super::lock::{self, Probe};
use super::trust;

/// The marker a published extraction holds; its mtime is the last use.
pub use super::layout::MARKER;

/// What a directory in the root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A published rshiv extraction.
    Rshiv,
    /// A shiv extraction (or a directory shaped like one): shiv records no use.
    Shiv,
    /// An extraction in progress, or left by a run that crashed.
    Tmp,
    /// A tree renamed away for removal.
    Trash,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rshiv => "rshiv",
            Kind::Shiv => "shiv",
            Kind::Tmp => "tmp",
            Kind::Trash => "trash",
        }
    }
}

/// One directory of the root that rshiv knows how to read.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub path: PathBuf,
    /// `<name>_<id>`: the extraction this directory is, was or will be.
    pub key: String,
    /// The app's name (the pyz file's stem for rshiv, its file name for shiv).
    pub name: String,
    pub build_id: String,
    /// Sum of the sizes of the files under it.
    pub size: u64,
    pub files: u64,
    /// The marker's mtime; for other kinds the directory's own mtime.
    pub last_used: Option<SystemTime>,
    /// Whether a process uses it now (see [`Entry::probe`]).
    pub probe: Probe,
}

impl Entry {
    /// The extraction lock of this entry's extraction.
    pub fn lock_path(&self, root: &Path) -> PathBuf {
        root.join(layout::lock_name(&self.key))
    }

    /// The marker inside this entry, if it is an rshiv tree (published or trash).
    pub fn marker(&self) -> PathBuf {
        self.path.join(MARKER)
    }
}

/// Every entry of `root`, sorted by app name and then most recently used first.
pub fn scan(root: &Path) -> anyhow::Result<Vec<Entry>> {
    let read = match std::fs::read_dir(root) {
        Ok(read) => read,
        // A root that does not exist, or cannot (it lies under a file), holds nothing.
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the cache root {}", root.display()))
        }
    };
    let mut entries = Vec::new();
    for dirent in read {
        let dirent =
            dirent.with_context(|| format!("cannot read the cache root {}", root.display()))?;
        let is_dir = dirent.file_type().is_ok_and(|t| t.is_dir());
        let Some(file_name) = dirent.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_dir {
            continue;
        }
        if let Some(entry) = classify(root, &file_name) {
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| {
        (
            a.name.as_str(),
            std::cmp::Reverse(a.last_used),
            a.key.as_str(),
        )
            .cmp(&(
                b.name.as_str(),
                std::cmp::Reverse(b.last_used),
                b.key.as_str(),
            ))
    });
    Ok(entries)
}

/// Recognise one directory of the root by its name and contents.
fn classify(root: &Path, file_name: &str) -> Option<Entry> {
    let path = root.join(file_name);
    let shiv_tmp = format!("{SITE_PACKAGES}.tmp");
    let (kind, key) = if let Some(key) = layout::parse_trash(file_name) {
        (Kind::Trash, key)
    } else if let Some(key) = layout::parse_tmp(file_name) {
        (Kind::Tmp, key)
    } else if file_name.starts_with('.') {
        return None;
    } else if is_regular(&path.join(MARKER)) {
        (Kind::Rshiv, file_name)
    } else if path.join(SITE_PACKAGES).is_dir() || path.join(shiv_tmp).is_dir() {
        (Kind::Shiv, file_name)
    } else {
        return None;
    };
    let (name, build_id) = match recorded_identity(&path.join(MARKER), key) {
        Some(identity) => identity,
        None => {
            let (name, build_id) = key.rsplit_once('_')?;
            (name.to_string(), build_id.to_string())
        }
    };
    if name.is_empty() || build_id.is_empty() {
        return None;
    }
    let stamp = match kind {
        Kind::Rshiv => path.join(MARKER),
        Kind::Shiv if path.join(SITE_PACKAGES).is_dir() => path.join(SITE_PACKAGES),
        _ => path.clone(),
    };
    let (size, files) = disk_usage(&path);
    let mut entry = Entry {
        kind,
        key: key.to_string(),
        name,
        build_id,
        size,
        files,
        last_used: std::fs::symlink_metadata(&stamp)
            .and_then(|m| m.modified())
            .ok(),
        probe: Probe::Unknown,
        path,
    };
    entry.probe = match kind {
        Kind::Rshiv | Kind::Trash => lock::probe(&entry.marker()),
        Kind::Tmp => lock::probe(&entry.lock_path(root)),
        Kind::Shiv => Probe::Unknown,
    };
    Some(entry)
}

/// The app name and build id a marker records (`rshiv-1\nname=api\nbuild_id=3f2a...\n`),
/// when they agree with the directory's name: a name or a `--build-id` may hold `_`,
/// so splitting `<name>_<id>` is only the fallback.
fn recorded_identity(marker: &Path, key: &str) -> Option<(String, String)> {
    let mut text = String::new();
    trust::open_regular(marker, false)
        .ok()?
        .take(4096)
        .read_to_string(&mut text)
        .ok()?;
    let marker = layout::Marker::parse(&text)?;
    (layout::stem(&marker.name, &marker.build_id) == key).then_some((marker.name, marker.build_id))
}

/// Whether `path` itself (not what a link names) is a regular file.
fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
}

/// Total size and number of the regular files under `dir`, not following symlinks.
/// Unreadable parts count as empty: the figure is for display and the summary only.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .fold((0, 0), |(size, files), m| (size + m.len(), files + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_shapes_are_entries() {
        let root = tempfile::tempdir().unwrap();
        let make = |rel: &str| std::fs::create_dir_all(root.path().join(rel)).unwrap();
        make("api_111/site-packages/api");
        std::fs::write(root.path().join("api_111/.rshiv-ready"), "").unwrap();
        std::fs::write(
            root.path().join("api_111/site-packages/api/x.py"),
            "x = 1\n",
        )
        .unwrap();
        make("tool.pyz_222/site-packages");
        make(".trash-api_000-42-abc/site-packages");
        make(".api_333.tmp-77-def/site-packages");
        make("unrelated");
        make(".hidden");
        std::fs::write(root.path().join(".api_111.lock"), "").unwrap();

        let entries = scan(root.path()).unwrap();
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e.kind, e.name.as_str(), e.build_id.as_str()))
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.contains(&(Kind::Rshiv, "api", "111")));
        assert!(seen.contains(&(Kind::Shiv, "tool.pyz", "222")));
        assert!(seen.contains(&(Kind::Trash, "api", "000")));
        assert!(seen.contains(&(Kind::Tmp, "api", "333")));
        let api = entries.iter().find(|e| e.kind == Kind::Rshiv).unwrap();
        assert_eq!((api.size, api.files), (6, 2));
        assert_eq!(api.probe, Probe::Free);
    }

    #[test]
    fn the_marker_tells_name_from_build_id() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("my_app_build_2");
        std::fs::create_dir_all(&tree).unwrap();
        let marker = "rshiv-1\nname=my_app\nbuild_id=build_2\nfiles=0\nunpacked_bytes=0\n";
        std::fs::write(tree.join(MARKER), marker).unwrap();
        let entries = scan(root.path()).unwrap();
        assert_eq!(
            (entries[0].name.as_str(), entries[0].build_id.as_str()),
            ("my_app", "build_2")
        );
        std::fs::write(tree.join(MARKER), "").unwrap();
        let entries = scan(root.path()).unwrap();
        assert_eq!(
            (entries[0].name.as_str(), entries[0].build_id.as_str()),
            ("my_app_build", "2")
        );
    }

    #[test]
    fn a_missing_root_holds_nothing() {
        let root = tempfile::tempdir().unwrap();
        assert!(scan(&root.path().join("absent")).unwrap().is_empty());
    }
}
