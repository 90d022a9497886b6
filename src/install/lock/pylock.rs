//! PEP 751 `pylock.toml` (and `pylock.NAME.toml`): the packages whose `marker` and
//! `requires-python` hold for the target.
//!
//! > Tools SHOULD evaluate `packages.marker` and `packages.requires-python` to decide
//! > whether a package is to be installed.
//!
//! A `directory` entry is built from source (the project itself, named on the command
//! line, by the caller); a `vcs` entry from its repository at the lock's `commit-id`; an
//! `archive` entry (a URL or a path, relative to the lock) is installed from there, its
//! hash checked. Each other selected package becomes a pin with its wheels and its sdist,
//! installed from its `index`.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::MarkerEnvironment;
use serde::Deserialize;

use super::sources::{beside, file_url, Source, SourceKind};
use super::{holds, requires_python, unsupported, Locked, LockedFile, Pin};

/// The parts of `pylock.toml` rshiv reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Pylock {
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Debug, Clone, Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    index: Option<String>,
    directory: Option<Directory>,
    vcs: Option<Vcs>,
    archive: Option<File>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
}

#[derive(Debug, Clone, Deserialize)]
struct File {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Directory {
    path: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Vcs {
    #[serde(rename = "type")]
    tool: String,
    url: Option<String>,
    path: Option<String>,
    #[serde(rename = "commit-id")]
    commit: Option<String>,
    subdirectory: Option<String>,
}

impl File {
    /// The file with its sha256, when the lock gives one.
    fn locked(&self) -> Option<LockedFile> {
        let location = self
            .name
            .as_deref()
            .or(self.url.as_deref())
            .or(self.path.as_deref())?;
        LockedFile::new(location, self.hashes.get("sha256").map(String::as_str))
    }
}

impl Pylock {
    pub fn parse(text: &str, path: &Path) -> Result<Pylock> {
        toml::from_str(text).map_err(|err| {
            anyhow::anyhow!(
                "{}: not a valid pylock.toml: {}",
                path.display(),
                err.message()
            )
        })
    }

    /// The packages selected for `env`.
    pub fn select(&self, env: &MarkerEnvironment, path: &Path) -> Result<Locked> {
        requires_python(self.requires_python.as_deref(), env, path)?;
        let mut pins = Vec::new();
        let mut sources = Vec::new();
        let mut indexes: Vec<String> = Vec::new();
        for package in &self.packages {
            if !holds(package.marker.as_deref(), env, path)? {
                continue;
            }
            if let Some(spec) = &package.requires_python {
                let specs = VersionSpecifiers::from_str(spec)
                    .with_context(|| format!("{}: requires-python {spec:?}", path.display()))?;
                if !specs.contains(&env.python_full_version().version) {
                    continue;
                }
            }
            if let Some(directory) = &package.directory {
                sources.push(Source {
                    name: package.name.clone(),
                    kind: SourceKind::Directory(beside(path, &directory.path)),
                });
                continue;
            }
            if let Some(vcs) = &package.vcs {
                let url = match (&vcs.url, &vcs.path) {
                    (Some(url), _) => url.clone(),
                    (None, Some(local)) => file_url(&beside(path, local)),
                    (None, None) => {
                        return unsupported(
                            path,
                            &package.name,
                            "is a vcs entry with neither url nor path",
                        )
                    }
                };
                sources.push(Source::vcs(
                    &package.name,
                    &vcs.tool,
                    &url,
                    vcs.commit.as_deref(),
                    vcs.subdirectory.as_deref(),
                    path,
                )?);
                continue;
            }
            let mut pin = Pin {
                name: package.name.clone(),
                version: package.version.clone().unwrap_or_default(),
                wheels: package.wheels.iter().filter_map(File::locked).collect(),
                sdist: package.sdist.as_ref().and_then(File::locked),
                direct: None,
                chosen: None,
            };
            if let Some(archive) = &package.archive {
                let Some(file) = archive.locked() else {
                    return unsupported(
                        path,
                        &package.name,
                        "is an archive entry without a sha256 hash",
                    );
                };
                pin.direct = match (&archive.url, &archive.path) {
                    (Some(url), _) => Some(url.clone()),
                    (None, Some(local)) => Some(file_url(&beside(path, local))),
                    (None, None) => {
                        return unsupported(
                            path,
                            &package.name,
                            "is an archive entry with neither url nor path",
                        )
                    }
                };
                if file.name.ends_with(".whl") {
                    pin.wheels = vec![file];
                } else {
                    pin.sdist = Some(file);
                }
            }
            if pin.wheels.is_empty() && pin.sdist.is_none() {
                return unsupported(path, &package.name, "has no file with a sha256 hash");
            }
            if let Some(index) = &package.index {
                if !indexes.contains(index) {
                    indexes.push(index.clone());
                }
            }
            pins.push(pin);
        }
        pins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Locked {
            pins,
            sources,
            indexes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(python: &str, platform: &str) -> MarkerEnvironment {
        super::super::tests::environment(&format!("{python}.0"), platform)
    }

    const LOCK: &str = r#"
lock-version = "1.0"
requires-python = ">=3.8"
[[packages]]
name = "app"
directory = { path = ".", editable = true }
[[packages]]
name = "old"
version = "1.0"
marker = "python_version < '3.9'"
index = "http://127.0.0.1:1/"
wheels = [{ url = "http://127.0.0.1:1/old-1.0-py3-none-any.whl", hashes = { sha256 = "aa" } }]
[[packages]]
name = "win"
version = "2.0"
marker = "sys_platform == 'win32'"
sdist = { url = "http://127.0.0.1:1/win-2.0.tar.gz", hashes = { sha256 = "bb" } }
[[packages]]
name = "new"
version = "3.0"
requires-python = ">=3.11"
wheels = [{ url = "http://127.0.0.1:1/new-3.0-py3-none-any.whl", hashes = { sha256 = "cc" } }]
"#;

    fn names(python: &str, platform: &str) -> Vec<String> {
        let lock = Pylock::parse(LOCK, Path::new("pylock.toml")).unwrap();
        let locked = lock
            .select(&env(python, platform), Path::new("pylock.toml"))
            .unwrap();
        locked.pins.into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn markers_and_requires_python_select_for_the_target() {
        assert_eq!(names("3.8", "linux"), ["old"]);
        assert_eq!(names("3.12", "linux"), ["new"]);
        assert_eq!(names("3.12", "win32"), ["new", "win"]);
        let lock = Pylock::parse(LOCK, Path::new("pylock.toml")).unwrap();
        let err = lock
            .select(&env("3.7", "linux"), Path::new("pylock.toml"))
            .unwrap_err();
        assert!(err.to_string().contains("requires Python >=3.8"), "{err}");
    }

    #[test]
    fn source_entries_are_built_and_archives_pinned() {
        let text = "[[packages]]\nname = \"tool\"\nvcs = { type = \"git\", url = \"file:///r\", commit-id = \"c0ffee\" }\n\
                    [[packages]]\nname = \"lib\"\ndirectory = { path = \"lib\" }\n\
                    [[packages]]\nname = \"arc\"\nversion = \"1.0\"\narchive = { path = \"dist/arc-1.0.tar.gz\", hashes = { sha256 = \"dd\" } }\n";
        let lock = Pylock::parse(text, Path::new("/p/pylock.toml")).unwrap();
        let locked = lock
            .select(&env("3.11", "linux"), Path::new("/p/pylock.toml"))
            .unwrap();
        let requirements: Vec<_> = locked.sources.iter().map(Source::requirement).collect();
        assert_eq!(
            requirements,
            ["tool @ git+file://localhost/r@c0ffee", "/p/lib"]
        );
        assert_eq!(
            locked.pins[0].direct.as_deref(),
            Some("file:///p/dist/arc-1.0.tar.gz")
        );
        assert_eq!(locked.pins[0].sdist.as_ref().unwrap().hash, "sha256:dd");
        let unhashed = "[[packages]]\nname = \"arc\"\narchive = { url = \"http://x/arc.whl\" }\n";
        let err = Pylock::parse(unhashed, Path::new("pylock.toml"))
            .unwrap()
            .select(&env("3.11", "linux"), Path::new("pylock.toml"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("arc is an archive entry without a sha256"),
            "{err}"
        );
    }
}
