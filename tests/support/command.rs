//! Running a program the way a test needs: a builder for the command (in the style of
//! just's `Test`), a time limit, and an `Output` with `#[track_caller]` assertions.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::interpreters::{inherited_path_without_uv, python, Installer};

/// How long any one command may take before the test fails (a hung lock, a server).
const TIMEOUT: Duration = Duration::from_secs(300);

/// A command about to run: a builder in the style of just's `Test`.
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: PathBuf,
    stdin: Option<Vec<u8>>,
    test_dir: PathBuf,
}

impl Cmd {
    /// `program`, run in `dir` with `env` applied in order (`None` removes a variable).
    pub(super) fn new(program: &OsStr, env: Vec<(OsString, Option<OsString>)>, dir: &Path) -> Self {
        Cmd {
            program: program.to_owned(),
            args: Vec::new(),
            env,
            cwd: dir.to_owned(),
            stdin: None,
            test_dir: dir.to_owned(),
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Run in this directory; a relative path is taken from the test's directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = self.test_dir.join(dir);
        self
    }

    pub fn stdin(&mut self, input: impl AsRef<[u8]>) -> &mut Self {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }

    /// `--installer NAME --build-python PY` for rshiv, PY being CPython 3.11 when present
    /// (it has pip), else whatever `python3` is on PATH.
    pub fn installer(&mut self, installer: Installer) -> &mut Self {
        self.args(["--installer", installer.name()]);
        if let Some(python) = python(11) {
            self.arg("--build-python").arg(python);
        }
        self
    }

    /// Take uv off the child's PATH.
    pub fn without_uv(&mut self) -> &mut Self {
        let path = std::env::join_paths(inherited_path_without_uv()).expect("PATH is valid");
        self.env("PATH", path)
    }

    /// Start the command and return at once (a server, a run to kill), its stdout and
    /// stderr going to the file `log`.
    #[track_caller]
    pub fn spawn(&mut self, log: &Path) -> std::process::Child {
        let file =
            std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let copy = file.try_clone().expect("duplicate the log file");
        let mut command = self.command();
        command.stdin(Stdio::null()).stdout(file).stderr(copy);
        command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{self}`: {e}"))
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(&self.cwd);
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Run to completion (or [`TIMEOUT`]) and capture everything.
    #[track_caller]
    pub fn run(&mut self) -> Output {
        let mut command = self.command();
        command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = self.to_string();
        let mut child =
            spawn_retrying(&mut command).unwrap_or_else(|e| panic!("cannot start `{shown}`: {e}"));
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || pipe.write_all(&input));
        }
        let stdout = drain(child.stdout.take().expect("stdout is piped"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break status;
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{shown}` ran for more than {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            command: shown,
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout.join().expect("stdout reader")).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned(),
            elapsed: started.elapsed(),
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Path::new(&self.program)
            .file_name()
            .unwrap_or(&self.program)
            .to_string_lossy();
        write!(f, "{name}")?;
        for arg in &self.args {
            write!(f, " {}", arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// Read a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// What a finished command did; the assertions print all of it when they fail.
#[derive(Debug)]
pub struct Output {
    pub command: String,
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- command: {}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        if self.code != Some(0) {
            self.fail("expected success");
        }
        self
    }

    /// A non-zero exit code that is not a crash: no Rust panic, no Python traceback.
    #[track_caller]
    pub fn failure(&self) -> &Self {
        if matches!(self.code, Some(0) | None) {
            self.fail("expected a non-zero exit code");
        }
        self.stderr_lacks("panicked").stderr_lacks("Traceback")
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        if self.code != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Self {
        if self.stdout != expected {
            self.fail(&format!("expected stdout {expected:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            self.fail(&format!("expected stdout to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            self.fail(&format!("expected stderr to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        if self.stderr.contains(needle) {
            self.fail(&format!("expected stderr not to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        if self.stdout.contains(needle) {
            self.fail(&format!("expected stdout not to contain {needle:?}"));
        }
        self
    }

    /// Some single line of stderr mentions every one of `needles` (an error message that
    /// names its culprit on one line, not scattered over a dump).
    #[track_caller]
    pub fn stderr_line_with(&self, needles: &[&str]) -> &Self {
        if !self
            .stderr
            .lines()
            .any(|line| needles.iter().all(|n| line.contains(n)))
        {
            self.fail(&format!(
                "expected one stderr line containing all of {needles:?}"
            ));
        }
        self
    }

    /// stdout's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Spawn `command`, retrying for a while on ETXTBSY: a test that has just written an
/// executable races with other test threads' forks, whose children hold a copy of the
/// writing descriptor until they exec (a known fork/exec race, not a bug of the binary).
fn spawn_retrying(command: &mut Command) -> std::io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
