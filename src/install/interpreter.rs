//! The build interpreter: the Python that pip runs under and that uv installs for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A probed Python interpreter.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// `sys.executable`: the real interpreter, not a shim.
    pub executable: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// `CPython`, `PyPy`.
    pub implementation: String,
}

const PROBE: &str = "import sys, platform; print(sys.executable); \
print(platform.python_version()); print(platform.python_implementation())";

impl Interpreter {
    /// `--build-python`, else the first `python3` on PATH.
    pub fn find(requested: Option<&Path>) -> Result<Interpreter> {
        let path = match requested {
            Some(path) => path.to_path_buf(),
            None => super::find_on_path("python3")
                .context("no python3 on PATH to install with; pass --build-python PATH")?,
        };
        let output = Command::new(&path)
            .args(["-I", "-c", PROBE])
            .output()
            .with_context(|| format!("build interpreter {} could not be run", path.display()))?;
        if !output.status.success() {
            bail!(
                "build interpreter {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let (Some(executable), Some(version), Some(implementation)) =
            (lines.next(), lines.next(), lines.next())
        else {
            bail!(
                "build interpreter {} is not a working Python",
                path.display()
            );
        };
        Ok(Interpreter {
            executable: PathBuf::from(executable),
            version: version.to_string(),
            implementation: implementation.to_string(),
        })
    }

    /// Whether `module` is in this interpreter's standard library (not its site-packages).
    pub fn has_stdlib_module(&self, module: &str) -> Result<bool> {
        let code = "import importlib.util, sys\ntry:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\nexcept Exception:\n    found = False\nprint(found)";
        let output = Command::new(&self.executable)
            .args(["-I", "-S", "-c", code, module])
            .output()
            .with_context(|| format!("could not run {}", self.executable.display()))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim() == "True")
    }
}

impl fmt::Display for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.implementation,
            self.version,
            self.executable.display()
        )
    }
}
