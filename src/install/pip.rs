//! pip: `python -m pip install --target DIR --no-compile ARGS` (`--compile` for a build
//! environment).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::{last_error_line, Bytecode, Frontend, Interpreter};

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

impl Frontend for Pip {
    fn describe(&self) -> String {
        "pip".to_string()
    }

    fn command(&self, target: &Path, args: &[OsString], bytecode: Bytecode) -> Result<Command> {
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "pip", "install", "--target"])
            .arg(target)
            .arg(match bytecode {
                Bytecode::Skip => "--no-compile",
                Bytecode::Compile => "--compile",
            })
            .arg("--no-warn-script-location")
            .args(cross_defaults(args))
            .args(args)
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
}

/// pip refuses `--platform`/`--python-version`/`--abi`/`--implementation` with `--target`
/// unless binaries only are allowed: add `--only-binary=:all:` when the user did not choose.
fn cross_defaults(args: &[OsString]) -> Vec<&'static str> {
    let has = |names: &[&str]| {
        args.iter().filter_map(|a| a.to_str()).any(|a| {
            names
                .iter()
                .any(|n| a == *n || a.starts_with(&format!("{n}=")))
        })
    };
    let cross = has(&[
        "--platform",
        "--python-version",
        "--abi",
        "--implementation",
    ]);
    if cross && !has(&["--only-binary", "--no-binary", "--no-deps"]) {
        vec!["--only-binary=:all:"]
    } else {
        vec![]
    }
}
