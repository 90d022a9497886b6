//! uv's `uv.lock`: which packages it pins for the project's selection (its dependencies,
//! the `--extra`s and `--group`s asked for; the `dev` group left out, as `uv sync
//! --no-dev` does), and whether it still matches `pyproject.toml`.
//!
//! Each dependency edge carries the PEP 508 marker uv resolved it under; an edge counts
//! when its marker holds in the target's environment. The lock's `requires-python` must
//! hold for the target too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep508_rs::pep440_rs::VersionSpecifiers;
use pep508_rs::{MarkerEnvironment, Requirement, VerbatimUrl, VersionOrUrl};
use serde::Deserialize;

use super::{file_name, holds, normalize, requires_python, unsupported, Locked, Pin};

/// The parts of `uv.lock` rshiv reads.
#[derive(Debug, Clone, Deserialize)]
pub struct UvLock {
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Debug, Clone, Deserialize)]
struct Package {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    #[serde(rename = "optional-dependencies", default)]
    optional: BTreeMap<String, Vec<Dependency>>,
    #[serde(rename = "dev-dependencies", default)]
    dev: BTreeMap<String, Vec<Dependency>>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
    metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Deserialize)]
struct Dependency {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct File {
    url: Option<String>,
    path: Option<String>,
    hash: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Metadata {
    #[serde(rename = "requires-dist", default)]
    requires_dist: Vec<Declared>,
    #[serde(rename = "requires-dev", default)]
    requires_dev: BTreeMap<String, Vec<Declared>>,
}

/// A requirement as the lock recorded it from pyproject.toml.
#[derive(Debug, Clone, Deserialize)]
struct Declared {
    name: String,
    specifier: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
}

/// What rshiv compares of pyproject.toml with the lock.
#[derive(Deserialize)]
struct PyProject {
    project: Option<Project>,
    #[serde(rename = "dependency-groups", default)]
    groups: BTreeMap<String, Vec<toml::Value>>,
}

#[derive(Deserialize)]
struct Project {
    name: String,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(rename = "optional-dependencies", default)]
    optional: BTreeMap<String, Vec<String>>,
}

/// A requirement reduced to what both files say of it: name, extras, specifiers.
type Key = (String, Vec<String>, String);

impl UvLock {
    pub fn parse(text: &str, path: &Path) -> Result<UvLock> {
        toml::from_str(text).map_err(|err| {
            anyhow::anyhow!("{}: not a valid uv.lock: {}", path.display(), err.message())
        })
    }

    /// Fail unless the lock's record of the project's requirements is what `pyproject`
    /// declares now.
    pub fn check_fresh(&self, pyproject: &Path, path: &Path) -> Result<()> {
        let text = fs_err::read_to_string(pyproject)?;
        let file: PyProject = toml::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{}: {}", pyproject.display(), err.message()))?;
        let Some(project) = file.project else {
            return Ok(());
        };
        let stale = || {
            anyhow::anyhow!(
                "{} does not match {}: run `uv lock` to update it (or pass --no-lock to resolve afresh)",
                path.display(),
                pyproject.display()
            )
        };
        let root = self.root(&project.name).ok_or_else(stale)?;
        let metadata = root.metadata.clone().unwrap_or_default();
        let declared = project
            .dependencies
            .iter()
            .chain(project.optional.values().flatten());
        let mut wanted = declared.map(|r| key_of(r)).collect::<Result<Vec<_>>>()?;
        let mut locked: Vec<Key> = metadata.requires_dist.iter().map(Declared::key).collect();
        wanted.sort();
        locked.sort();
        if wanted != locked {
            return Err(stale());
        }
        for (group, entries) in &file.groups {
            let mut wanted = entries
                .iter()
                .filter_map(toml::Value::as_str)
                .map(key_of)
                .collect::<Result<Vec<_>>>()?;
            let mut locked: Vec<Key> = metadata
                .requires_dev
                .get(&normalize(group))
                .or_else(|| metadata.requires_dev.get(group))
                .map(|d| d.iter().map(Declared::key).collect())
                .unwrap_or_default();
            wanted.sort();
            locked.sort();
            if wanted != locked {
                return Err(stale());
            }
        }
        Ok(())
    }

    /// The project's own entry: the one built from the project's directory.
    fn root(&self, name: &str) -> Option<&Package> {
        let name = normalize(name);
        self.package
            .iter()
            .find(|p| normalize(&p.name) == name && is_local(p))
    }

    /// The packages the project's dependencies, `extras` and `groups` reach in `env`.
    pub fn select(
        &self,
        env: &MarkerEnvironment,
        extras: &[String],
        groups: &[String],
        path: &Path,
    ) -> Result<Locked> {
        requires_python(self.requires_python.as_deref(), env, path)?;
        let roots: Vec<&Package> = self
            .package
            .iter()
            .filter(|p| is_local(p) && is_root(p))
            .collect();
        let Some(root) = roots.first() else {
            bail!("{}: no entry for the project itself", path.display());
        };
        for extra in extras {
            if !root.optional.contains_key(extra) {
                bail!("{}: the project has no extra {extra:?}", path.display());
            }
        }
        let mut edges: Vec<&Dependency> = root.dependencies.iter().collect();
        for extra in extras {
            edges.extend(&root.optional[extra]);
        }
        for group in groups {
            match root.dev.get(group) {
                Some(deps) => edges.extend(deps),
                None => bail!(
                    "{}: the project has no dependency group {group:?}",
                    path.display()
                ),
            }
        }
        let mut seen = BTreeSet::new();
        let mut pins = Vec::new();
        let mut indexes: Vec<String> = Vec::new();
        while let Some(edge) = edges.pop() {
            if !holds(edge.marker.as_deref(), env, path)? {
                continue;
            }
            let package = self.find(edge, path)?;
            let extras: Vec<&Dependency> = edge
                .extra
                .iter()
                .filter_map(|e| package.optional.get(&normalize(e)))
                .flatten()
                .collect();
            edges.extend(extras);
            let id = (
                normalize(&package.name),
                package.version.clone(),
                edge.extra.clone(),
            );
            if !seen.insert(id) {
                continue;
            }
            edges.extend(&package.dependencies);
            if is_local(package) {
                return unsupported(
                    path,
                    &package.name,
                    "is a local path in the lock besides the project",
                );
            }
            let Some(registry) = package.source.get("registry").and_then(toml::Value::as_str)
            else {
                return unsupported(path, &package.name, "comes from a git or URL source");
            };
            if !indexes.iter().any(|i| i == registry) {
                indexes.push(registry.to_string());
            }
            let hashes: Vec<String> = package
                .wheels
                .iter()
                .chain(&package.sdist)
                .filter_map(|file| file.hash.clone())
                .collect();
            if hashes.is_empty() {
                return unsupported(path, &package.name, "has no file with a hash");
            }
            let version = package.version.clone().unwrap_or_default();
            if !pins
                .iter()
                .any(|p: &Pin| p.name == package.name && p.version == version)
            {
                pins.push(Pin {
                    name: package.name.clone(),
                    version,
                    hashes,
                    wheels: package
                        .wheels
                        .iter()
                        .filter_map(|w| {
                            Some((
                                file_name(w.url.as_deref().or(w.path.as_deref())?),
                                w.hash.clone()?,
                            ))
                        })
                        .collect(),
                });
            }
        }
        pins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Locked { pins, indexes })
    }

    /// The package an edge names (by version too, where uv forked on markers).
    fn find(&self, edge: &Dependency, path: &Path) -> Result<&Package> {
        let name = normalize(&edge.name);
        self.package
            .iter()
            .find(|p| {
                normalize(&p.name) == name && (edge.version.is_none() || edge.version == p.version)
            })
            .with_context(|| format!("{}: no entry for {}", path.display(), edge.name))
    }
}

impl Declared {
    fn key(&self) -> Key {
        let mut extras: Vec<String> = self.extras.iter().map(|e| normalize(e)).collect();
        extras.sort();
        let spec = self
            .specifier
            .as_deref()
            .and_then(|s| VersionSpecifiers::from_str(s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default();
        (normalize(&self.name), extras, spec)
    }
}

/// A pyproject.toml requirement (PEP 508) as a [`Key`].
fn key_of(written: &str) -> Result<Key> {
    let requirement = Requirement::<VerbatimUrl>::from_str(written)
        .with_context(|| format!("pyproject.toml: requirement {written:?} is not valid PEP 508"))?;
    let mut extras: Vec<String> = requirement.extras.iter().map(|e| e.to_string()).collect();
    extras.sort();
    let spec = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specs)) => specs.to_string(),
        _ => String::new(),
    };
    Ok((requirement.name.to_string(), extras, spec))
}

/// An entry built from a directory rather than downloaded.
fn is_local(package: &Package) -> bool {
    ["editable", "directory", "virtual", "path"]
        .iter()
        .any(|kind| package.source.contains_key(*kind))
}

/// The project's own directory: `.`.
fn is_root(package: &Package) -> bool {
    package
        .source
        .values()
        .any(|value| value.as_str() == Some("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 1
requires-python = ">=3.8"

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "dep" },
    { name = "legacy", marker = "python_full_version < '3.9'" },
]
[package.optional-dependencies]
fast = [{ name = "speedup" }]
[package.dev-dependencies]
dev = [{ name = "devtool" }]
[package.metadata]
requires-dist = [
    { name = "dep", specifier = ">=1.0" },
    { name = "legacy", marker = "python_full_version < '3.9'" },
    { name = "speedup", marker = "extra == 'fast'" },
]
[package.metadata.requires-dev]
dev = [{ name = "devtool" }]

[[package]]
name = "dep"
version = "1.0"
source = { registry = "http://127.0.0.1:1/" }
wheels = [{ url = "http://127.0.0.1:1/dep/dep-1.0-py3-none-any.whl", hash = "sha256:aa" }]

[[package]]
name = "legacy"
version = "2.0"
source = { registry = "http://127.0.0.1:1/" }
sdist = { url = "http://127.0.0.1:1/legacy/legacy-2.0.tar.gz", hash = "sha256:bb" }

[[package]]
name = "speedup"
version = "3.0"
source = { registry = "http://127.0.0.1:1/" }
wheels = [{ url = "http://127.0.0.1:1/speedup/speedup-3.0-py3-none-any.whl", hash = "sha256:cc" }]

[[package]]
name = "devtool"
version = "1.0"
source = { git = "https://example.invalid/devtool?rev=1#abc" }
"#;

    fn env(python: &str) -> MarkerEnvironment {
        super::super::tests::environment(python, "linux")
    }

    fn select(python: &str, extras: &[&str], groups: &[&str]) -> Result<Vec<String>> {
        let lock = UvLock::parse(LOCK, Path::new("uv.lock")).unwrap();
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let locked = lock.select(
            &env(python),
            &strings(extras),
            &strings(groups),
            Path::new("uv.lock"),
        )?;
        Ok(locked
            .pins
            .into_iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect())
    }

    #[test]
    fn the_selection_follows_markers_extras_and_groups() {
        assert_eq!(select("3.11.4", &[], &[]).unwrap(), ["dep==1.0"]);
        assert_eq!(
            select("3.8.10", &[], &[]).unwrap(),
            ["dep==1.0", "legacy==2.0"]
        );
        assert_eq!(
            select("3.11.4", &["fast"], &[]).unwrap(),
            ["dep==1.0", "speedup==3.0"]
        );
        let err = select("3.11.4", &[], &["dev"]).unwrap_err().to_string();
        assert!(
            err.contains("devtool comes from a git or URL source"),
            "{err}"
        );
        let err = select("3.11.4", &["nope"], &[]).unwrap_err().to_string();
        assert!(err.contains("no extra \"nope\""), "{err}");
    }

    #[test]
    fn a_changed_requirement_makes_the_lock_stale() {
        let dir = tempfile::tempdir().unwrap();
        let pyproject = dir.path().join("pyproject.toml");
        let lock = UvLock::parse(LOCK, Path::new("uv.lock")).unwrap();
        let write = |deps: &str| {
            std::fs::write(
                &pyproject,
                format!(
                    "[project]\nname = \"app\"\ndependencies = [{deps}]\n\
                     [project.optional-dependencies]\nfast = [\"speedup\"]\n\
                     [dependency-groups]\ndev = [\"devtool\"]\n"
                ),
            )
            .unwrap()
        };
        write("\"dep>=1.0\", \"legacy; python_full_version < '3.9'\"");
        lock.check_fresh(&pyproject, Path::new("uv.lock")).unwrap();
        write("\"dep>=1.1\", \"legacy; python_full_version < '3.9'\"");
        let err = lock
            .check_fresh(&pyproject, Path::new("uv.lock"))
            .unwrap_err();
        assert!(err.to_string().contains("run `uv lock`"), "{err}");
    }
}
