//! The installers that resolve requirements into a site-packages tree: pip and uv.
//!
//! Both are run as they are (`python -m pip install --target`, `uv pip install --target`);
//! rshiv only chooses one, finds the interpreter, translates the few arguments whose
//! spelling differs, and surfaces their output when they fail. Local project directories
//! are built into wheels first, in a reused build environment (`project`, `build_env`).
//!
//! What to install is an [`InstallRequest`] (`request`), built once from the command line
//! and `[tool.rshiv]`: the arguments read by the one table of installer options (`flags`,
//! `args`) and the [`Target`] they are for (`target`).

mod args;
pub mod beside;
mod build_env;
mod early;
mod flags;
mod interpreter;
pub mod lock;
mod pip;
pub mod precompile;
mod process;
mod project;
mod pyproject;
mod request;
mod target;
mod uv;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

pub use args::InstallerArgs;
pub use interpreter::Interpreter;
pub use project::{build_local_projects, Prepared};
pub use request::{names_requirements, InstallRequest};
pub use target::{Target, TargetName};

use process::{run_reported, RunError};

use crate::cli::InstallerChoice;
use crate::progress::{Progress, Step};

/// How one installer is invoked.
trait Frontend {
    /// `pip 23.2.1`, `uv 0.13.8`.
    fn describe(&self) -> String;
    /// The command that runs `job`.
    fn command(&self, job: &Job) -> Result<Command>;
    /// A hint for a failure, from the installer's own output.
    fn hint(&self, output: &str) -> Option<String>;
    /// The flag that has the installer resolve from its cache alone, stale or not, when it
    /// has one (uv's `--offline`); what makes [`early`] possible.
    fn offline_flag(&self) -> Option<&'static str> {
        None
    }
    /// The package a failure names as having nothing that fits the target, when the
    /// installer's output says the requirements cannot be satisfied (not a network error).
    fn unsatisfiable(&self, output: &str) -> Option<String>;
}

/// An install that failed because no distribution of `package` fits the target; the
/// message is the installer's failure as for any other.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Unsatisfiable {
    pub package: String,
    message: String,
}

/// A chosen installer, ready to run.
pub struct Installer {
    frontend: Box<dyn Frontend>,
    pub python: Interpreter,
}

impl Installer {
    /// Pick the installer (`auto`: uv beside rshiv or on PATH, else pip) and probe the
    /// interpreter.
    pub fn detect(choice: InstallerChoice, build_python: Option<&Path>) -> Result<Installer> {
        let python = Interpreter::find(build_python)?;
        let frontend: Box<dyn Frontend> = match (choice, beside::find_uv()) {
            (InstallerChoice::Uv | InstallerChoice::Auto, Some(path)) => {
                Box::new(uv::Uv::new(path, &python)?)
            }
            (InstallerChoice::Uv, None) => {
                bail!("uv is not installed (no `uv` beside rshiv or on PATH); install it, or use --installer pip")
            }
            (InstallerChoice::Pip | InstallerChoice::Auto, _) => Box::new(pip::Pip::new(&python)),
        };
        Ok(Installer { frontend, python })
    }

    /// The installer and its version: `uv 0.13.8`, `pip`.
    pub fn name(&self) -> String {
        self.frontend.describe()
    }

    /// One line for the user: which installer for which interpreter.
    pub fn describe(&self) -> String {
        format!("{} for {}", self.frontend.describe(), self.python)
    }

    /// Install `args` for `target` into `dest`. With `verbose`, the installer's output goes
    /// straight to the terminal; otherwise it is kept and shown only if the installer fails.
    pub fn install(
        &self,
        dest: &Path,
        args: &InstallerArgs,
        target: &Target,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.install_with(dest, args, target, Bytecode::Skip, verbose, progress)
    }

    /// Install what `prepared` names into `dest` for `target`: finish the install that
    /// started while the local projects were building, if one did (it is for the first
    /// target: install for that one first), else install as [`Installer::install`] does.
    pub fn install_prepared(
        &self,
        dest: &Path,
        prepared: &mut Prepared,
        target: &Target,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        if let Some(early) = prepared.early.take() {
            if early.finish(self, dest, &prepared.args, target, verbose, progress)? {
                return Ok(());
            }
        }
        self.install(dest, &prepared.args, target, verbose, progress)
    }

    /// [`Installer::install`], choosing whether the installer compiles bytecode.
    fn install_with(
        &self,
        dest: &Path,
        args: &InstallerArgs,
        target: &Target,
        bytecode: Bytecode,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let command = self.frontend.command(&Job {
            dest,
            args,
            target,
            bytecode,
        })?;
        progress.start(Step::Installing, None);
        let outcome = run_reported(command, verbose);
        progress.finish();
        match outcome {
            Ok(()) => Ok(()),
            Err(RunError::Failed { failure, .. }) => {
                if let Some(line) = lock::hash_mismatch(&failure.output) {
                    bail!(line)
                }
                let mut message = format!("{} failed ({})", self.frontend.describe(), failure.code);
                if let Some(hint) = self.frontend.hint(&failure.output) {
                    message.push_str(": ");
                    message.push_str(&hint);
                }
                match self.frontend.unsatisfiable(&failure.output) {
                    Some(package) => Err(Unsatisfiable { package, message }.into()),
                    None => bail!(message),
                }
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// One run of an installer: what it installs, for which target, into which directory.
struct Job<'a> {
    dest: &'a Path,
    args: &'a InstallerArgs,
    target: &'a Target,
    bytecode: Bytecode,
}

/// Whether an installer writes `.pyc` files for what it installs: not for a payload (the
/// pyz compiles on its first run, with `--compile-pyc`), yes for a reused build environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bytecode {
    Skip,
    Compile,
}

/// The first executable `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The word after the first of `markers` found in `text`, as a package name: cut at the
/// first character that cannot be in one (`pkg==1.0`, `pkg>=2`, `pkg,`, `` `pkg` ``).
fn package_after(text: &str, markers: &[&str]) -> Option<String> {
    markers.iter().find_map(|marker| {
        let (_, rest) = text.split_once(marker)?;
        let name: String = rest
            .trim_start_matches(['`', '\'', '"'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        let name = name.trim_end_matches('.');
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// The last line of an installer's output that looks like an error, for the one-line message.
fn last_error_line(output: &str, markers: &[&str]) -> Option<String> {
    output
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| markers.iter().any(|m| line.contains(m)))
        .map(|line| {
            line.trim_start_matches(['╰', '─', '▶', '×', ' '])
                .to_string()
        })
}
