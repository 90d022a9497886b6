//! Fixture projects: a source tree with a `pyproject.toml` whose PEP 517 backend lives in
//! the tree itself (`backend-path`, PEP 517 "In-tree build backends"), so `rshiv .` builds
//! it with pip or uv and `--no-index`, without fetching setuptools.
//!
//! The backend (`_backend/backend.py`, stdlib only) reads `_backend/project.json`, written
//! here, and zips the listed files into a PEP 427 wheel.

use std::path::{Path, PathBuf};

/// A project to write: `Project::new("greet", "1.0").file("greet/__init__.py", ..).write(dir)`.
#[derive(Debug, Clone)]
pub struct Project {
    name: String,
    version: String,
    files: Vec<(String, String)>,
    console_scripts: Vec<(String, String)>,
    dependencies: Vec<String>,
}

/// The in-tree backend: `get_requires_for_build_wheel` and `build_wheel` of PEP 517.
const BACKEND: &str = r#""""A PEP 517 backend for rshiv's test projects: zips project.json's files into a wheel."""
import base64
import hashlib
import json
import os
import zipfile


def _project():
    with open(os.path.join("_backend", "project.json")) as f:
        return json.load(f)


def get_requires_for_build_wheel(config_settings=None):
    return []


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d\n" % (name, digest.decode(), len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    stem = "%s-%s" % (project["name"].replace("-", "_"), project["version"])
    members = []
    for path in project["files"]:
        with open(path, "rb") as f:
            members.append((path, f.read()))
    metadata = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (project["name"], project["version"])
    metadata += "".join("Requires-Dist: %s\n" % d for d in project["dependencies"])
    wheel = "Wheel-Version: 1.0\nGenerator: rshiv-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members.append((stem + ".dist-info/METADATA", metadata.encode()))
    members.append((stem + ".dist-info/WHEEL", wheel.encode()))
    scripts = "".join("%s = %s\n" % (n, t) for n, t in project["console_scripts"])
    if scripts:
        members.append((stem + ".dist-info/entry_points.txt", ("[console_scripts]\n" + scripts).encode()))
    record = "".join(_record_line(name, data) for name, data in members)
    members.append((stem + ".dist-info/RECORD", (record + stem + ".dist-info/RECORD,,\n").encode()))
    wheel_name = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return wheel_name
"#;

/// `pyproject.toml`; `[project]` matches what the backend builds, since uv may read it
/// instead of asking the backend (PEP 621 static metadata).
const PYPROJECT: &str = r#"[build-system]
requires = []
build-backend = "backend"
backend-path = ["_backend"]

[project]
name = NAME
version = VERSION
dependencies = DEPENDENCIES

[project.scripts]
"#;

impl Project {
    pub fn new(name: &str, version: &str) -> Self {
        Project {
            name: name.to_owned(),
            version: version.to_owned(),
            files: Vec::new(),
            console_scripts: Vec::new(),
            dependencies: Vec::new(),
        }
    }

    /// A file of the project, shipped in its wheel under the same path.
    pub fn file(mut self, path: &str, contents: &str) -> Self {
        self.files.push((path.to_owned(), contents.to_owned()));
        self
    }

    pub fn console_script(mut self, name: &str, target: &str) -> Self {
        self.console_scripts
            .push((name.to_owned(), target.to_owned()));
        self
    }

    pub fn dependency(mut self, requirement: &str) -> Self {
        self.dependencies.push(requirement.to_owned());
        self
    }

    /// Write the project into `dir` (created if needed) and return `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let write = |relative: &str, contents: &str| {
            let path = dir.join(relative);
            std::fs::create_dir_all(path.parent().expect("a file has a parent"))
                .expect("create a project directory");
            std::fs::write(&path, contents)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        };
        for (path, contents) in &self.files {
            write(path, contents);
        }
        let spec = serde_json::json!({
            "name": self.name,
            "version": self.version,
            "files": self.files.iter().map(|(path, _)| path).collect::<Vec<_>>(),
            "console_scripts": self.console_scripts,
            "dependencies": self.dependencies,
        });
        write("_backend/project.json", &spec.to_string());
        write("_backend/backend.py", BACKEND);
        // JSON strings and arrays of strings are valid TOML.
        let mut pyproject = PYPROJECT
            .replace("NAME", &spec["name"].to_string())
            .replace("VERSION", &spec["version"].to_string())
            .replace("DEPENDENCIES", &spec["dependencies"].to_string());
        for (name, target) in &self.console_scripts {
            pyproject.push_str(&format!("{name:?} = {target:?}\n"));
        }
        write("pyproject.toml", &pyproject);
        dir.to_owned()
    }
}
