//! Lock entries installed from their source rather than from a file with a hash: a local
//! `directory` besides the project, and a `vcs` checkout at the lock's commit (PEP 751
//! `packages.directory`, `packages.vcs`; uv.lock's `directory`, `editable` and `git`
//! sources).
//!
//! > `packages.vcs.commit-id`: the exact commit/revision number that is to be installed.
//!
//! A commit id names the tree it checks out, as a hash names a file's bytes; a directory
//! is the user's own source. Neither can be hash-checked by pip or uv (`--require-hashes`
//! refuses them), so they are installed in a second run, `--no-deps`, built as a normal
//! project (never as an editable link), into a directory of their own that is then merged
//! into the locked tree.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::super::args::InstallerArgs;
use super::super::target::Target;
use super::super::Installer;
use crate::progress::Progress;

/// A package a lock names by its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
}

/// Where a [`Source`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A project directory (absolute).
    Directory(PathBuf),
    /// A repository at a commit: `git`, its URL (a local repository as `file://`), the
    /// commit id, and the project's subdirectory in it.
    Vcs {
        tool: String,
        url: String,
        commit: String,
        subdirectory: Option<String>,
    },
}

impl Source {
    /// A `vcs` entry; refused without the commit id that pins it.
    pub fn vcs(
        name: &str,
        tool: &str,
        url: &str,
        commit: Option<&str>,
        subdirectory: Option<&str>,
        lock: &Path,
    ) -> Result<Source> {
        let Some(commit) = commit.filter(|c| !c.is_empty()) else {
            bail!(
                "{}: {name} is a vcs entry without a commit-id; rshiv installs a repository only at the commit the lock pins",
                lock.display()
            );
        };
        Ok(Source {
            name: name.to_string(),
            kind: SourceKind::Vcs {
                tool: tool.to_string(),
                url: url.to_string(),
                commit: commit.to_string(),
                subdirectory: subdirectory.map(str::to_string),
            },
        })
    }

    /// The requirement the installers read (PEP 508 direct reference; pip's VCS URL form
    /// `git+URL@COMMIT#subdirectory=DIR`).
    pub fn requirement(&self) -> OsString {
        match &self.kind {
            SourceKind::Directory(dir) => dir.clone().into_os_string(),
            SourceKind::Vcs {
                tool,
                url,
                commit,
                subdirectory,
            } => {
                // A local repository with a host: older pips' PEP 508 parser wants one in
                // every URL but a bare `file:` one (`git+file:///r` is refused).
                let url = match url.strip_prefix("file:///") {
                    Some(path) => format!("file://localhost/{path}"),
                    None => url.clone(),
                };
                let mut text = format!("{} @ {tool}+{url}@{commit}", self.name);
                if let Some(sub) = subdirectory {
                    text.push_str(&format!("#subdirectory={sub}"));
                }
                text.into()
            }
        }
    }
}

/// A path a lock names (a directory, an archive, a repository), relative to the lock's
/// own directory, made absolute.
pub fn beside(lock: &Path, path: &str) -> PathBuf {
    let joined = lock.parent().unwrap_or(Path::new(".")).join(path);
    joined.canonicalize().unwrap_or(joined)
}

/// A path as a `file://` URL (for a local repository or archive).
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Build and install `sources` for `target` into `dest` (`--no-deps`, with `index`'s
/// options for their build requirements), through a directory of their own merged in.
pub fn install(
    installer: &Installer,
    dest: &Path,
    sources: &[Source],
    (index, target): (&InstallerArgs, &Target),
    verbose: bool,
    progress: &dyn Progress,
) -> Result<()> {
    if sources.is_empty() {
        return Ok(());
    }
    let built = tempfile::Builder::new()
        .prefix("rshiv-lock-sources-")
        .tempdir()?;
    let mut words = index.words();
    words.push("--no-deps".into());
    words.extend(sources.iter().map(Source::requirement));
    installer.install(
        built.path(),
        &InstallerArgs::parse(words),
        target,
        verbose,
        progress,
    )?;
    crate::stage::normalize_installed(built.path())?;
    merge(built.path(), dest)
}

/// Move every file of `from` into `into`, directories merged; a file both have is an error.
fn merge(from: &Path, into: &Path) -> Result<()> {
    fs_err::create_dir_all(into)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let target = into.join(entry.file_name());
        if entry.file_type()?.is_dir() && target.is_dir() {
            merge(&entry.path(), &target)?;
        } else if target.exists() {
            bail!(
                "{} is installed both from the lock's files and from its sources",
                target.display()
            );
        } else {
            fs_err::rename(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcs_requirements_pin_the_commit() {
        let source = Source::vcs(
            "tool",
            "git",
            "file:///repo",
            Some("abc123"),
            Some("sub"),
            Path::new("pylock.toml"),
        )
        .unwrap();
        assert_eq!(
            source.requirement(),
            "tool @ git+file://localhost/repo@abc123#subdirectory=sub"
        );
        let err = Source::vcs("tool", "git", "x", None, None, Path::new("pylock.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tool is a vcs entry without a commit-id"),
            "{err}"
        );
    }

    #[test]
    fn trees_merge_and_clashes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (from, into) = (dir.path().join("from"), dir.path().join("into"));
        for (root, file) in [(&from, "bin/a"), (&into, "bin/b"), (&from, "pkg/x.py")] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        merge(&from, &into).unwrap();
        assert!(into.join("bin/a").is_file() && into.join("bin/b").is_file());
        assert!(into.join("pkg/x.py").is_file());
        std::fs::create_dir_all(from.join("bin")).unwrap();
        std::fs::write(from.join("bin/a"), "").unwrap();
        assert!(merge(&from, &into).is_err());
    }
}
