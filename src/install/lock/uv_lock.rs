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
use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, MarkerTree, Requirement, VerbatimUrl, VersionOrUrl};
use serde::Deserialize;

use super::sources::{beside, file_url, Source, SourceKind};
use super::{holds, normalize, requires_python, unsupported, Locked, LockedFile, Pin};

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
    marker: Option<String>,
}

/// What rshiv compares of pyproject.toml with the lock, and `[tool.uv]`'s default groups.
#[derive(Deserialize)]
struct PyProject {
    project: Option<Project>,
    #[serde(rename = "dependency-groups", default)]
    groups: BTreeMap<String, Vec<toml::Value>>,
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Project {
    name: String,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(rename = "optional-dependencies", default)]
    optional: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Tool {
    uv: Option<UvTool>,
}

#[derive(Deserialize)]
struct UvTool {
    /// A list of group names, or `"all"`.
    #[serde(rename = "default-groups")]
    default_groups: Option<toml::Value>,
}

/// A requirement reduced to what both files say of it: name, extras, specifiers, and its
/// marker in canonical form (an optional dependency's with `extra == 'NAME'`, as uv
/// records it).
type Key = (String, Vec<String>, String, String);

impl UvLock {
    pub fn parse(text: &str, path: &Path) -> Result<UvLock> {
        toml::from_str(text).map_err(|err| {
            anyhow::anyhow!("{}: not a valid uv.lock: {}", path.display(), err.message())
        })
    }

    /// Fail unless the lock's record of the project's requirements (their specifiers,
    /// extras and markers) and of its `requires-python` is what `pyproject` declares now.
    /// The groups a build installs besides the ones asked for: `[tool.uv]`'s
    /// `default-groups` (uv's default: `dev`), less `dev`, as `uv sync --no-dev` does.
    pub fn check_fresh(&self, pyproject: &Path, path: &Path) -> Result<Vec<String>> {
        let text = fs_err::read_to_string(pyproject)?;
        let file: PyProject = toml::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{}: {}", pyproject.display(), err.message()))?;
        let Some(project) = file.project else {
            return Ok(Vec::new());
        };
        let stale = || {
            anyhow::anyhow!(
                "{} does not match {}: run `uv lock` to update it (or pass --no-lock to resolve afresh)",
                path.display(),
                pyproject.display()
            )
        };
        if let Some(declared) = &project.requires_python {
            if !same_pythons(declared, self.requires_python.as_deref()) {
                return Err(stale());
            }
        }
        let root = self.root(&project.name).ok_or_else(stale)?;
        let metadata = root.metadata.clone().unwrap_or_default();
        let mut wanted = Vec::new();
        for requirement in &project.dependencies {
            wanted.push(key_of(requirement, None)?);
        }
        for (extra, requirements) in &project.optional {
            for requirement in requirements {
                wanted.push(key_of(requirement, Some(extra))?);
            }
        }
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
                .map(|r| key_of(r, None))
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
        let defaults = file
            .tool
            .and_then(|t| t.uv)
            .and_then(|uv| uv.default_groups);
        let defaults: Vec<String> = match &defaults {
            None => Vec::new(),
            Some(toml::Value::String(all)) if all == "all" => file.groups.keys().cloned().collect(),
            Some(toml::Value::Array(names)) => names
                .iter()
                .filter_map(toml::Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(other) => bail!(
                "{}: [tool.uv] default-groups is a list of group names or \"all\", not {other}",
                pyproject.display()
            ),
        };
        Ok(defaults
            .iter()
            .map(|g| normalize(g))
            .filter(|g| g != "dev" && root.dev.contains_key(g))
            .collect())
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
        let mut sources = Vec::new();
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
            let source = |key: &str| package.source.get(key).and_then(toml::Value::as_str);
            let version = package.version.clone().unwrap_or_default();
            let mut pin = Pin {
                name: package.name.clone(),
                version: version.clone(),
                wheels: package
                    .wheels
                    .iter()
                    .filter_map(|w| w.locked(None))
                    .collect(),
                sdist: package.sdist.as_ref().and_then(|s| s.locked(None)),
                direct: None,
                chosen: None,
            };
            if let Some(dir) = source("directory").or(source("editable")) {
                sources.push(Source {
                    name: package.name.clone(),
                    kind: SourceKind::Directory(beside(path, dir)),
                });
                continue;
            } else if source("virtual").is_some() {
                continue;
            } else if let Some(git) = source("git") {
                sources.push(git_source(&package.name, git, path)?);
                continue;
            } else if let Some(url) = source("url") {
                pin.direct = Some(url.to_string());
                pin.wheels = package
                    .wheels
                    .iter()
                    .filter_map(|w| w.locked(Some(url)))
                    .collect();
                pin.sdist = package.sdist.as_ref().and_then(|s| s.locked(Some(url)));
            } else if let Some(file) = source("path") {
                let file = beside(path, file);
                let url = file_url(&file);
                pin.direct = Some(url.clone());
                pin.wheels = package
                    .wheels
                    .iter()
                    .filter_map(|w| w.locked(Some(&url)))
                    .collect();
                pin.sdist = package.sdist.as_ref().and_then(|s| s.locked(Some(&url)));
            } else if let Some(registry) = source("registry") {
                if !indexes.iter().any(|i| i == registry) {
                    indexes.push(registry.to_string());
                }
            } else {
                return unsupported(path, &package.name, "has a source rshiv does not know");
            }
            if pin.wheels.is_empty() && pin.sdist.is_none() {
                return unsupported(path, &package.name, "has no file with a hash");
            }
            if !pins
                .iter()
                .any(|p: &Pin| p.name == package.name && p.version == version)
            {
                pins.push(pin);
            }
        }
        pins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Locked {
            pins,
            sources,
            indexes,
        })
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

impl File {
    /// The file with its hash; `at` names it when the lock gives neither URL nor path (a
    /// `url` or `path` source's one file).
    fn locked(&self, at: Option<&str>) -> Option<LockedFile> {
        let location = self.url.as_deref().or(self.path.as_deref()).or(at)?;
        LockedFile::new(location, self.hash.as_deref())
    }
}

/// A `git` source: `URL?subdirectory=DIR&rev=REF#COMMIT`, uv's spelling, at its commit.
fn git_source(name: &str, git: &str, path: &Path) -> Result<Source> {
    let (location, commit) = git.split_once('#').unwrap_or((git, ""));
    let (url, query) = location.split_once('?').unwrap_or((location, ""));
    let subdirectory = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("subdirectory="));
    Source::vcs(name, "git", url, Some(commit), subdirectory, path)
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
        let marker = self
            .marker
            .as_deref()
            .and_then(|m| MarkerTree::from_str(m).ok())
            .and_then(|m| m.try_to_string())
            .unwrap_or_default();
        (normalize(&self.name), extras, spec, marker)
    }
}

/// A pyproject.toml requirement (PEP 508), of the optional dependencies `extra` when
/// given, as a [`Key`].
fn key_of(written: &str, extra: Option<&str>) -> Result<Key> {
    let requirement = Requirement::<VerbatimUrl>::from_str(written)
        .with_context(|| format!("pyproject.toml: requirement {written:?} is not valid PEP 508"))?;
    let mut extras: Vec<String> = requirement.extras.iter().map(|e| e.to_string()).collect();
    extras.sort();
    let spec = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specs)) => specs.to_string(),
        _ => String::new(),
    };
    let mut marker = requirement.marker.clone();
    if let Some(extra) = extra {
        let condition = MarkerTree::from_str(&format!("extra == '{}'", normalize(extra)))
            .with_context(|| format!("pyproject.toml: extra {extra:?} is not a valid name"))?;
        marker.and(condition);
    }
    let marker = marker.try_to_string().unwrap_or_default();
    Ok((requirement.name.to_string(), extras, spec, marker))
}

/// Whether two `requires-python` specifiers admit the same Pythons (uv rewrites what it
/// records: `~=3.8` may be locked as `>=3.8, <4`), checked on every release 2.0 to 4.x.
fn same_pythons(declared: &str, locked: Option<&str>) -> bool {
    let (Ok(declared), Some(Ok(locked))) = (
        VersionSpecifiers::from_str(declared),
        locked.map(VersionSpecifiers::from_str),
    ) else {
        return false;
    };
    (2..=4).all(|major| {
        (0..=30).all(|minor| {
            [0, 1, 99].iter().all(|micro| {
                let version = Version::new([major, minor, *micro]);
                declared.contains(&version) == locked.contains(&version)
            })
        })
    })
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
        assert_eq!(select("3.11.4", &[], &["dev"]).unwrap(), ["dep==1.0"]);
        let lock = UvLock::parse(LOCK, Path::new("uv.lock")).unwrap();
        let locked = lock
            .select(&env("3.11.4"), &[], &["dev".into()], Path::new("uv.lock"))
            .unwrap();
        assert_eq!(
            locked.sources[0].requirement(),
            "devtool @ git+https://example.invalid/devtool@abc"
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
