//! uv: `uv pip install --target DIR --python PY ARGS`, with pip's spellings translated.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use super::{last_error_line, package_after, Bytecode, Frontend, Interpreter, Job};

pub struct Uv {
    program: PathBuf,
    python: PathBuf,
    version: String,
}

impl Uv {
    pub fn new(program: PathBuf, python: &Interpreter) -> Result<Uv> {
        let output = Command::new(&program)
            .arg("--version")
            .output()
            .with_context(|| format!("could not run {}", program.display()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let version = text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Uv {
            program,
            python: python.executable.clone(),
            version,
        })
    }
}

impl Frontend for Uv {
    fn describe(&self) -> String {
        if self.version.is_empty() {
            "uv".to_string()
        } else {
            self.version.clone()
        }
    }

    fn command(&self, job: &Job) -> Result<Command> {
        let mut command = Command::new(&self.program);
        command
            .args(["pip", "install", "--target"])
            .arg(job.dest)
            .arg("--python")
            .arg(&self.python)
            .args(job.args.for_uv())
            .args(job.target.uv_args(job.args)?)
            .env("UV_NO_PROGRESS", "1");
        if job.bytecode == Bytecode::Compile {
            command.arg("--compile-bytecode");
        }
        Ok(command)
    }

    fn hint(&self, output: &str) -> Option<String> {
        last_error_line(output, &["error:", "Because", "not found", "No solution"])
    }

    fn offline_flag(&self) -> Option<&'static str> {
        Some("--offline")
    }

    /// uv's resolver explains a failure as `No solution found when resolving dependencies:`
    /// then `Because ...`: the first package its explanation names.
    fn unsatisfiable(&self, output: &str) -> Option<String> {
        let (_, because) = output.split_once("No solution found")?;
        package_after(
            because,
            &["versions of ", "version of ", "Because only ", "Because "],
        )
        .filter(|name| !["the", "you", "there", "your"].contains(&name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uv() -> Uv {
        Uv {
            program: "uv".into(),
            python: "python3".into(),
            version: String::new(),
        }
    }

    /// As uv 0.9 words it, for a package with wheels for another Python only, and for one
    /// whose every version needs a newer Python.
    #[test]
    fn the_package_uv_cannot_satisfy_is_named() {
        let tag = "  × No solution found when resolving dependencies:\n  ╰─▶ Because only onlypkg==1.0 is available and onlypkg==1.0 has no wheels with a matching Python ABI tag (e.g., `cp38`), we can conclude that all versions of onlypkg cannot be used.\n";
        assert_eq!(uv().unsatisfiable(tag).as_deref(), Some("onlypkg"));
        let python = "  × No solution found when resolving dependencies:\n  ╰─▶ Because the requested Python version (>=3.8) does not satisfy Python>=3.11 and all versions of newpy depend on Python>=3.11, we can conclude that all versions of newpy cannot be used.\n";
        assert_eq!(uv().unsatisfiable(python).as_deref(), Some("newpy"));
        assert_eq!(
            uv().unsatisfiable("error: Failed to fetch: connection refused"),
            None
        );
    }
}
