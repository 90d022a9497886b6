//! PEP 751 `pylock.toml` (and `pylock.NAME.toml`): the packages whose `marker` and
//! `requires-python` hold for the target.
//!
//! > Tools SHOULD evaluate `packages.marker` and `packages.requires-python` to decide
//! > whether a package is to be installed.
//!
//! A `directory` entry is the project itself, named on the command line and built from
//! source as a local project; `vcs` and `archive` entries are refused, naming the package.
//! Each selected package becomes a pin with every hash the lock gives for its wheels and
//! its sdist, installed from its `index`.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::MarkerEnvironment;
use serde::Deserialize;

use super::{file_name, holds, requires_python, unsupported, Locked, Pin};

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
    directory: Option<toml::Value>,
    vcs: Option<toml::Value>,
    archive: Option<toml::Value>,
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
            if package.directory.is_some() {
                continue;
            }
            if package.vcs.is_some() || package.archive.is_some() {
                return unsupported(path, &package.name, "is a vcs or archive entry");
            }
            let hashes: Vec<String> = package
                .wheels
                .iter()
                .chain(&package.sdist)
                .filter_map(|file| file.hashes.get("sha256"))
                .map(|hash| format!("sha256:{hash}"))
                .collect();
            if hashes.is_empty() {
                return unsupported(path, &package.name, "has no file with a sha256 hash");
            }
            if let Some(index) = &package.index {
                if !indexes.contains(index) {
                    indexes.push(index.clone());
                }
            }
            pins.push(Pin {
                name: package.name.clone(),
                version: package.version.clone().unwrap_or_default(),
                hashes,
                wheels: package
                    .wheels
                    .iter()
                    .filter_map(|w| {
                        let name = w
                            .name
                            .as_deref()
                            .or(w.url.as_deref())
                            .or(w.path.as_deref())?;
                        Some((
                            file_name(name),
                            format!("sha256:{}", w.hashes.get("sha256")?),
                        ))
                    })
                    .collect(),
            });
        }
        pins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Locked { pins, indexes })
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
    fn vcs_entries_are_refused_by_name() {
        let text = "[[packages]]\nname = \"tool\"\nvcs = { type = \"git\", url = \"x\", commit-id = \"y\" }\n";
        let lock = Pylock::parse(text, Path::new("pylock.toml")).unwrap();
        let err = lock
            .select(&env("3.11", "linux"), Path::new("pylock.toml"))
            .unwrap_err();
        assert!(
            err.to_string().contains("tool is a vcs or archive entry"),
            "{err}"
        );
    }
}
