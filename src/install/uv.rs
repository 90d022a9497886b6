//! uv: `uv pip install --target DIR --python PY ARGS`, with pip's spellings translated.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use super::{last_error_line, Bytecode, Frontend, Interpreter, Job};

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
}
