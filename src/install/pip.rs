//! pip: `python -m pip install --target DIR --no-compile ARGS` (`--compile` for a build
//! environment).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use super::{last_error_line, package_after, Bytecode, Frontend, Interpreter, Job};

pub struct Pip {
    python: PathBuf,
}

impl Pip {
    pub fn new(python: &Interpreter) -> Pip {
        Pip {
            python: python.executable.clone(),
        }
    }
}

/// The version of the pip that `python -m pip` runs, from its metadata (no pip import).
pub fn version(python: &Interpreter) -> Option<String> {
    let output = Command::new(&python.executable)
        .args([
            "-c",
            "from importlib.metadata import version; print(version('pip'))",
        ])
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !version.is_empty()).then_some(version)
}

impl Frontend for Pip {
    fn describe(&self) -> String {
        "pip".to_string()
    }

    fn command(&self, job: &Job) -> Result<Command> {
        if job.args.words().iter().any(|word| word == "--offline") {
            anyhow::bail!(
                "--offline: pip has no offline mode; use --installer uv (it installs from its cache alone)"
            );
        }
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "pip", "install", "--target"])
            .arg(job.dest)
            .arg(match job.bytecode {
                Bytecode::Skip => "--no-compile",
                Bytecode::Compile => "--compile",
            })
            .arg("--no-warn-script-location")
            .args(job.target.pip_args(job.args)?)
            .args(job.args.words())
            // Environment rather than flags: older pips do not know every flag.
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .env("PIP_NO_INPUT", "1");
        Ok(command)
    }

    fn hint(&self, output: &str) -> Option<String> {
        if output.contains("No module named pip") {
            return Some(format!(
                "pip is not installed for {}; run `{} -m ensurepip`, or use --installer uv",
                self.python.display(),
                self.python.display()
            ));
        }
        last_error_line(output, &["ERROR:", "error:"])
    }

    /// `ERROR: Could not find a version that satisfies the requirement pkg>=2 (from ...)`.
    fn unsatisfiable(&self, output: &str) -> Option<String> {
        package_after(output, &["satisfies the requirement "])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_pip_cannot_satisfy_is_named() {
        let pip = Pip {
            python: "python3".into(),
        };
        let output = "ERROR: Ignored the following versions that require a different python version: 2.0 Requires-Python >=3.11\nERROR: Could not find a version that satisfies the requirement newpy>=2 (from versions: none)\nERROR: No matching distribution found for newpy>=2\n";
        assert_eq!(pip.unsatisfiable(output).as_deref(), Some("newpy"));
        assert_eq!(pip.unsatisfiable("ERROR: network is down"), None);
    }
}
