//! What rshiv reads of a project's `pyproject.toml`: how to build it (PEP 517/518
//! `[build-system]`, with their fallbacks) and the requirements `[project]` declares
//! statically (PEP 621).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// PEP 517's fallback for a tree without `build-backend`: setup.py through setuptools.
const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";
/// The requirements of a project without `[build-system]` (PEP 518's defaults), as pip has
/// used them since 24.0: without `wheel`, which setuptools' `get_requires_for_build_wheel`
/// asks for itself when it needs it.
const LEGACY_REQUIRES: &str = "setuptools>=40.8.0";

/// A project's `[build-system]` (PEP 518), with PEP 517's fallbacks filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSystem {
    pub requires: Vec<String>,
    /// `module:object`.
    pub backend: String,
    /// In-tree backend directories, relative to the project.
    pub backend_path: Vec<String>,
}

/// What rshiv reads of a project's `pyproject.toml`.
pub struct ProjectFile {
    /// How to build it; `None` when the installer should build it itself.
    pub build_system: Option<BuildSystem>,
    /// Its requirements, when `[project]` declares them statically.
    pub declared: Option<Declared>,
}

#[derive(Deserialize)]
struct PyProject {
    #[serde(rename = "build-system")]
    build_system: Option<RawBuildSystem>,
    /// Read leniently: a `[project]` table rshiv cannot use only costs the overlap.
    project: Option<toml::Value>,
}

#[derive(Deserialize)]
struct RawBuildSystem {
    requires: Option<Vec<String>>,
    #[serde(rename = "build-backend")]
    build_backend: Option<String>,
    #[serde(rename = "backend-path", default)]
    backend_path: Vec<String>,
}

impl ProjectFile {
    /// Read `dir/pyproject.toml`; a tree with `setup.py` alone is a legacy setuptools build.
    pub fn read(dir: &Path) -> Result<ProjectFile> {
        let path = dir.join("pyproject.toml");
        if !path.is_file() {
            return Ok(ProjectFile {
                build_system: Some(BuildSystem::legacy(vec![LEGACY_REQUIRES.to_string()])),
                declared: None,
            });
        }
        let text = fs_err::read_to_string(&path)?;
        Self::parse(&text).with_context(|| format!("{} is not valid TOML", path.display()))
    }

    fn parse(text: &str) -> Result<ProjectFile> {
        let pyproject: PyProject =
            toml::from_str(text).map_err(|err| anyhow::anyhow!(err.message().to_string()))?;
        Ok(ProjectFile {
            build_system: BuildSystem::from_table(pyproject.build_system),
            declared: pyproject.project.as_ref().and_then(Declared::from_table),
        })
    }
}

impl BuildSystem {
    /// The legacy setuptools build of a tree without `build-backend` (PEP 517).
    fn legacy(requires: Vec<String>) -> BuildSystem {
        BuildSystem {
            requires,
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        }
    }

    /// The build system a `[build-system]` table describes, with PEP 518's default
    /// requirements for a file without one; `None` for a table without `requires`.
    fn from_table(table: Option<RawBuildSystem>) -> Option<BuildSystem> {
        match table {
            None => Some(Self::legacy(vec![LEGACY_REQUIRES.to_string()])),
            Some(RawBuildSystem { requires: None, .. }) => None,
            Some(RawBuildSystem {
                requires: Some(requires),
                build_backend: None,
                ..
            }) => Some(Self::legacy(requires)),
            Some(RawBuildSystem {
                requires: Some(requires),
                build_backend: Some(backend),
                backend_path,
            }) => Some(BuildSystem {
                requires,
                backend,
                backend_path,
            }),
        }
    }
}

/// A project's requirements as `[project]` declares them (PEP 621). A field not listed in
/// `dynamic` is the only source of that metadata: the backend must write these
/// requirements into the wheel's `Requires-Dist` as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub dependencies: Vec<String>,
    /// `optional-dependencies` by extra; `None` when they are dynamic.
    pub optional: Option<BTreeMap<String, Vec<String>>>,
}

impl Declared {
    /// `None` when the name or the dependencies are missing, dynamic or not what PEP 621
    /// says they are.
    fn from_table(project: &toml::Value) -> Option<Declared> {
        let strings = |value: &toml::Value| -> Option<Vec<String>> {
            value
                .as_array()?
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        };
        let dynamic = match project.get("dynamic") {
            Some(value) => strings(value)?,
            None => Vec::new(),
        };
        let is_dynamic = |field: &str| dynamic.iter().any(|d| d == field);
        if is_dynamic("dependencies") {
            return None;
        }
        let name = project.get("name")?.as_str()?.to_string();
        let dependencies = match project.get("dependencies") {
            Some(value) => strings(value)?,
            None => Vec::new(),
        };
        let optional = if is_dynamic("optional-dependencies") {
            None
        } else {
            match project.get("optional-dependencies") {
                Some(table) => Some(
                    table
                        .as_table()?
                        .iter()
                        .map(|(extra, value)| Some((extra.clone(), strings(value)?)))
                        .collect::<Option<_>>()?,
                ),
                None => Some(BTreeMap::new()),
            }
        };
        Some(Declared {
            name,
            dependencies,
            optional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_system_fallbacks_follow_peps_517_and_518() {
        let parse = |text| ProjectFile::parse(text).unwrap().build_system;
        assert_eq!(
            parse("[project]\nname = 'x'\n"),
            Some(BuildSystem::legacy(vec![LEGACY_REQUIRES.to_string()]))
        );
        assert_eq!(
            parse("[build-system]\nrequires = ['setuptools>=61']\n"),
            Some(BuildSystem {
                requires: vec!["setuptools>=61".to_string()],
                backend: LEGACY_BACKEND.to_string(),
                backend_path: vec![],
            })
        );
        assert_eq!(
            parse(
                "[build-system]\nrequires = []\nbuild-backend = 'backend'\nbackend-path = ['_b']\n"
            ),
            Some(BuildSystem {
                requires: vec![],
                backend: "backend".to_string(),
                backend_path: vec!["_b".to_string()],
            })
        );
        assert_eq!(parse("[build-system]\nbuild-backend = 'x'\n"), None);
        assert!(ProjectFile::parse("[build-system\n").is_err());
    }

    #[test]
    fn declared_requirements_are_static_ones_only() {
        let declared = |text: &str| ProjectFile::parse(text).unwrap().declared;
        assert_eq!(
            declared(
                "[project]\nname = 'app'\ndependencies = ['a>=1']\n\
                 [project.optional-dependencies]\nfast = ['b']\n"
            ),
            Some(Declared {
                name: "app".into(),
                dependencies: vec!["a>=1".into()],
                optional: Some(BTreeMap::from([("fast".into(), vec!["b".into()])])),
            })
        );
        assert_eq!(
            declared("[project]\nname = 'app'\ndynamic = ['optional-dependencies']\n"),
            Some(Declared {
                name: "app".into(),
                dependencies: vec![],
                optional: None,
            })
        );
        assert_eq!(
            declared("[project]\nname = 'app'\ndynamic = ['dependencies']\n"),
            None
        );
        assert_eq!(declared("[project]\ndependencies = ['a']\n"), None);
        assert_eq!(
            declared("[project]\nname = 'app'\ndependencies = 'a'\n"),
            None
        );
        assert_eq!(declared("[build-system]\nrequires = []\n"), None);
    }
}
