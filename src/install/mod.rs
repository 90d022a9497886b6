//! The installers that resolve requirements into a site-packages tree: pip and uv.
//!
//! Both are run as they are (`python -m pip install --target`, `uv pip install --target`);
//! rshiv only chooses one, finds the interpreter, translates the few arguments whose
//! spelling differs, and surfaces their output when they fail. Local project directories
//! are built into wheels first, in a reused build environment (`project`, `build_env`).

mod args;
mod beside;
mod build_env;
mod early;
mod interpreter;
mod pip;
mod project;
mod uv;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};

pub use args::{check_refused, names_requirements, translate_for_uv};
pub use interpreter::Interpreter;
pub use project::{build_local_projects, Prepared};

use args::{configures_builds, index_options, local_projects};

use crate::cli::InstallerChoice;
use crate::progress::{Progress, Step};

/// How one installer is invoked.
trait Frontend {
    /// `pip 23.2.1`, `uv 0.13.8`.
    fn describe(&self) -> String;
    /// The command that installs `args` into `target`.
    fn command(&self, target: &Path, args: &[OsString], bytecode: Bytecode) -> Result<Command>;
    /// A hint for a failure, from the installer's own output.
    fn hint(&self, output: &str) -> Option<String>;
    /// The flag that has the installer resolve from its cache alone, stale or not, when it
    /// has one (uv's `--offline`); what makes [`early`] possible.
    fn offline_flag(&self) -> Option<&'static str> {
        None
    }
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

    /// One line for the user: which installer for which interpreter.
    pub fn describe(&self) -> String {
        format!("{} for {}", self.frontend.describe(), self.python)
    }

    /// Install `args` into `target`. With `verbose`, the installer's output goes straight to
    /// the terminal; otherwise it is kept and shown only if the installer fails.
    pub fn install(
        &self,
        target: &Path,
        args: &[OsString],
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.install_with(target, args, Bytecode::Skip, verbose, progress)
    }

    /// Install what `prepared` names into `target`: finish the install that started while
    /// the local projects were building, if one did, else install as
    /// [`Installer::install`] does. The build-time locks are released at the end.
    pub fn install_prepared(
        &self,
        target: &Path,
        prepared: Prepared,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let Prepared {
            args,
            early,
            _locks,
        } = prepared;
        if let Some(early) = early {
            if early.finish(self, target, &args, verbose, progress)? {
                return Ok(());
            }
        }
        self.install(target, &args, verbose, progress)
    }

    /// [`Installer::install`], choosing whether the installer compiles bytecode.
    fn install_with(
        &self,
        target: &Path,
        args: &[OsString],
        bytecode: Bytecode,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let command = self.frontend.command(target, args, bytecode)?;
        progress.start(Step::Installing, None);
        let outcome = run_reported(command, verbose);
        progress.finish();
        outcome?.map_err(|failure| {
            let mut message = format!("{} failed ({})", self.frontend.describe(), failure.code);
            if let Some(hint) = self.frontend.hint(&failure.output) {
                message.push_str(": ");
                message.push_str(&hint);
            }
            anyhow::anyhow!(message)
        })
    }
}

/// Whether an installer writes `.pyc` files for what it installs: not for a payload (the
/// pyz compiles on its first run, with `--compile-pyc`), yes for a reused build environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bytecode {
    Skip,
    Compile,
}

/// A command that ran and failed: how it ended and what it printed.
struct Failure {
    /// `exit code 1`, `a signal`.
    code: String,
    /// Its merged output (empty when it went to the terminal).
    output: String,
}

/// Run `command`: with `verbose`, its output goes straight to the terminal; otherwise it is
/// kept, and on failure shown on stderr, each line marked `  | `. A command that cannot be
/// started at all is an error of its own, naming the program.
fn run_reported(mut command: Command, verbose: bool) -> Result<std::result::Result<(), Failure>> {
    let program = command.get_program().to_string_lossy().into_owned();
    let outcome = if verbose {
        command
            .stdin(Stdio::null())
            .status()
            .map(|status| (status, String::new()))
    } else {
        run_captured(command)
    };
    let (status, output) = outcome.with_context(|| format!("could not run {program}"))?;
    if status.success() {
        return Ok(Ok(()));
    }
    if !output.is_empty() {
        let mut stderr = io::stderr().lock();
        for line in output.lines() {
            let _ = writeln!(stderr, "  | {line}");
        }
    }
    let code = status
        .code()
        .map_or("a signal".to_string(), |c| format!("exit code {c}"));
    Ok(Err(Failure { code, output }))
}

/// Run with stdout and stderr merged into one captured text.
fn run_captured(command: Command) -> io::Result<(ExitStatus, String)> {
    spawn_captured(command)?.wait()
}

/// A command started with its stdout and stderr merged into one captured text, read on a
/// thread of its own so that the command never blocks on a full pipe. Dropped before
/// [`Background::wait`], the command is killed.
struct Background {
    child: Child,
    reader: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

fn spawn_captured(mut command: Command) -> io::Result<Background> {
    let (mut reader, writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let child = command.spawn()?;
    // The command holds the pipe's write ends: drop it so that reading ends with the child.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    });
    Ok(Background {
        child,
        reader: Some(reader),
    })
}

impl Background {
    /// How the command ended and what it printed.
    fn wait(mut self) -> io::Result<(ExitStatus, String)> {
        let bytes = self.read_all()?;
        let status = self.child.wait()?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        match self.reader.take() {
            Some(reader) => reader
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the output reader panicked"))),
            None => Ok(Vec::new()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.read_all();
            let _ = self.child.wait();
        }
    }
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
