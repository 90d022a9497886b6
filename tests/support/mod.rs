//! The harness every test module uses: a fresh directory per test, the real `rshiv` binary
//! and real CPythons run in it with a clean environment, and assertions on what a user sees.
//!
//! ```ignore
//! let t = Test::new();
//! let wheels = t.wheels(&[Wheel::new("greet", "1.0").file("greet/__init__.py", "...")]);
//! t.build(&["greet", "-e", "greet:main", "-o", "greet.pyz"], &wheels).success();
//! t.pyz(&python!(11), "greet.pyz").run().success().stdout_is("hello\n");
//! ```

#![allow(dead_code)] // Each topic module uses its own subset of the harness.

pub mod project;
pub mod pyz;
pub mod wheel;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use project::Project;
pub use pyz::Pyz;
pub use wheel::Wheel;

/// Every minor version of CPython rshiv supports.
pub const MINORS: [u32; 6] = [8, 9, 10, 11, 12, 13];

/// How long any one command may take before the test fails (a hung lock, a server).
const TIMEOUT: Duration = Duration::from_secs(300);

/// Return the value of an `Option`, or print why the test is skipped and return from it.
#[macro_export]
macro_rules! require {
    ($option:expr, $($why:tt)+) => {
        match $option {
            Some(value) => value,
            None => {
                eprintln!("skipped: {}", format!($($why)+));
                return;
            }
        }
    };
}

/// The interpreter of CPython 3.`minor`, or skip the test when this machine lacks it.
#[macro_export]
macro_rules! python {
    ($minor:expr) => {
        $crate::require!(
            $crate::support::python($minor),
            "CPython 3.{} not found",
            $minor
        )
    };
}

/// The uv executable, or skip the test when there is none.
#[macro_export]
macro_rules! uv {
    () => {
        $crate::require!(
            $crate::support::uv(),
            "uv not found (put it on PATH or set RSHIV_TEST_UV)"
        )
    };
}

/// Define `mod $check` with one test per supported CPython, `cpython_3_8` ... `cpython_3_13`,
/// each calling `$check(minor)`; a missing CPython skips its test.
#[macro_export]
macro_rules! every_cpython {
    ($check:ident) => {
        mod $check {
            #[test]
            fn cpython_3_8() {
                super::$check(8)
            }
            #[test]
            fn cpython_3_9() {
                super::$check(9)
            }
            #[test]
            fn cpython_3_10() {
                super::$check(10)
            }
            #[test]
            fn cpython_3_11() {
                super::$check(11)
            }
            #[test]
            fn cpython_3_12() {
                super::$check(12)
            }
            #[test]
            fn cpython_3_13() {
                super::$check(13)
            }
        }
    };
}

/// One test's world: a temporary directory that holds its inputs, its outputs and its cache
/// root (`RSHIV_ROOT`), deleted when the test ends (kept on failure with `RSHIV_TEST_KEEP=1`).
pub struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rshiv-test-")
            .tempdir()
            .expect("create a temporary directory");
        let test = Test { dir };
        std::fs::create_dir_all(test.path("bin")).expect("create the test's bin directory");
        if let Some(uv) = uv() {
            std::os::unix::fs::symlink(uv, test.path("bin/uv")).expect("link uv into bin");
        }
        test
    }

    /// The test's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the test's directory.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The cache root every command gets as `RSHIV_ROOT`.
    pub fn root(&self) -> PathBuf {
        self.path("cache")
    }

    /// Write a file (creating its parents) and return its path.
    pub fn write(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Create a directory (and its parents) in the test's directory; its path as text.
    pub fn mkdir(&self, relative: impl AsRef<Path>) -> String {
        let path = self.path(relative);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        path.to_string_lossy().into_owned()
    }

    /// Read a file of the test's directory.
    pub fn read(&self, relative: impl AsRef<Path>) -> Vec<u8> {
        let path = self.path(relative);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Write each wheel into `<test>/wheels` and return that directory, for `--find-links`.
    pub fn wheels(&self, wheels: &[Wheel]) -> PathBuf {
        let dir = self.path("wheels");
        for wheel in wheels {
            wheel.write(&dir);
        }
        dir
    }

    /// Any program, run in the test's directory with the clean environment.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Cmd {
        let mut env: Vec<(OsString, Option<OsString>)> = std::env::vars_os()
            .filter(|(key, _)| {
                let key = key.to_string_lossy();
                key.starts_with("SHIV_")
                    || key.starts_with("RSHIV_")
                    || CLEARED.contains(&key.as_ref())
            })
            .map(|(key, _)| (key, None))
            .collect();
        let set = [
            ("RSHIV_ROOT", self.root().into_os_string()),
            ("XDG_CACHE_HOME", self.path("xdg-cache").into_os_string()),
            ("PATH", self.search_path()),
            ("PIP_DISABLE_PIP_VERSION_CHECK", "1".into()),
            ("PIP_NO_INPUT", "1".into()),
            ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ];
        env.extend(set.into_iter().map(|(k, v)| (OsString::from(k), Some(v))));
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env,
            cwd: self.dir().to_owned(),
            stdin: None,
            test_dir: self.dir().to_owned(),
        }
    }

    /// The real `rshiv` binary.
    pub fn rshiv(&self) -> Cmd {
        self.command(env!("CARGO_BIN_EXE_rshiv"))
    }

    /// `rshiv --no-index --find-links DIR ARGS...` with the preferred installer and CPython 3.11
    /// (or `python3` on PATH) as the build interpreter: a hermetic build from fixture wheels.
    pub fn build(&self, args: &[&str], find_links: &Path) -> Output {
        self.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(find_links)
            .installer(Installer::preferred())
            .args(args)
            .run()
    }

    /// Where a pyz of this test extracts under the test's cache root:
    /// `<root>/<stem>_<build id>`, the build id read from its `environment.json`.
    #[track_caller]
    pub fn extraction(&self, pyz: &str) -> PathBuf {
        let path = self.path(pyz);
        let stem = path
            .file_stem()
            .expect("a pyz has a name")
            .to_string_lossy();
        let environment = Pyz::open(&path).environment();
        let id = environment["build_id"]
            .as_str()
            .expect("build_id is a string");
        self.root().join(format!("{stem}_{id}"))
    }

    /// Run a pyz with `python`: `python PYZ`.
    pub fn pyz(&self, python: &Path, pyz: impl AsRef<Path>) -> Cmd {
        let mut cmd = self.command(python);
        cmd.arg(self.path(pyz));
        cmd
    }

    /// PATH for a child: the test's `bin` (with uv, when there is one) first, then every
    /// directory of ours that holds no `uv`, so the test alone decides whether uv is found.
    fn search_path(&self) -> OsString {
        let dirs = std::iter::once(self.path("bin")).chain(inherited_path_without_uv());
        std::env::join_paths(dirs).expect("PATH entries are valid")
    }
}

/// `RSHIV_TEST_KEEP=1` keeps the directory of a failed test for a look, and says where.
impl Drop for Test {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("RSHIV_TEST_KEEP").is_some_and(|v| v == "1")
        {
            self.dir.disable_cleanup(true);
            eprintln!("kept the test's directory: {}", self.dir.path().display());
        }
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

/// This process's PATH minus every directory that holds a `uv`.
fn inherited_path_without_uv() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| !dir.join("uv").exists())
        .collect()
}

/// Variables that would make a child depend on the machine rather than the test.
const CLEARED: &[&str] = &[
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONSAFEPATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "SOURCE_DATE_EPOCH",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TARGET",
    "UV_INDEX_URL",
    "UV_SYSTEM_PYTHON",
    "UV_PYTHON",
];

/// Which installer a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    Uv,
    Pip,
}

impl Installer {
    /// uv when the machine has it (much faster), else pip.
    pub fn preferred() -> Self {
        if uv().is_some() {
            Installer::Uv
        } else {
            Installer::Pip
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Installer::Uv => "uv",
            Installer::Pip => "pip",
        }
    }
}

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
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{shown}`: {e}"));
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

/// The CPythons of this machine by minor version: pyenv's, else `python3.X` on PATH.
pub fn pythons() -> &'static [(u32, PathBuf)] {
    static PYTHONS: OnceLock<Vec<(u32, PathBuf)>> = OnceLock::new();
    PYTHONS.get_or_init(|| {
        MINORS
            .iter()
            .filter_map(|&minor| find_python(minor).map(|path| (minor, path)))
            .collect()
    })
}

/// CPython 3.`minor`, if this machine has it.
pub fn python(minor: u32) -> Option<PathBuf> {
    pythons()
        .iter()
        .find(|(m, _)| *m == minor)
        .map(|(_, path)| path.clone())
}

/// Some CPython to run pyz files with: 3.11 first (the build interpreter), else any.
pub fn any_python() -> Option<PathBuf> {
    python(11).or_else(|| pythons().first().map(|(_, path)| path.clone()))
}

fn find_python(minor: u32) -> Option<PathBuf> {
    let name = format!("python3.{minor}");
    let pyenv = std::fs::read_dir("/root/.pyenv/versions")
        .ok()
        .and_then(|dirs| {
            let mut found: Vec<PathBuf> = dirs
                .filter_map(|dir| dir.ok())
                .filter(|dir| {
                    let file_name = dir.file_name();
                    let version = file_name.to_string_lossy();
                    version.starts_with(&format!("3.{minor}."))
                })
                .map(|dir| dir.path().join("bin").join(&name))
                .filter(|path| path.is_file())
                .collect();
            found.sort();
            found.pop()
        });
    pyenv.or_else(|| on_path(&name))
}

/// uv: `$RSHIV_TEST_UV`, else the first `uv` on PATH.
pub fn uv() -> Option<PathBuf> {
    static UV: OnceLock<Option<PathBuf>> = OnceLock::new();
    UV.get_or_init(|| {
        std::env::var_os("RSHIV_TEST_UV")
            .map(PathBuf::from)
            .filter(|path| path.is_file())
            .or_else(|| on_path("uv"))
    })
    .clone()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Wait until `path` exists; fail the test after `timeout`.
#[track_caller]
pub fn wait_for(path: &Path, timeout: Duration) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < timeout,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait for `child` to end; kill it and fail the test after `timeout`.
#[track_caller]
pub fn wait_exit(
    child: &mut std::process::Child,
    what: &str,
    timeout: Duration,
) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("{what} did not end within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every file under `dir`, as paths relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|entry| entry.ok())
        .filter(|entry| !entry.file_type().is_dir())
        .map(|entry| {
            entry
                .path()
                .strip_prefix(dir)
                .expect("walkdir stays under its root")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

/// Names in `dir` (not recursive), sorted; empty when `dir` does not exist.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The fixture most tests build: package `greet` with a function per kind of return value,
/// a `__main__`, and console scripts `greet` and `greet-seven`.
pub fn greet() -> Wheel {
    Wheel::new("greet", "1.0")
        .file(
            "greet/__init__.py",
            r#"import sys


def main():
    print("hello from greet")


def none():
    return None


def seven():
    return 7


def text():
    sys.stdout.flush()
    return "a message"


def argv():
    print(sys.argv[1:])


def path():
    print("\n".join(sys.path))


def env_keys():
    import os

    print(" ".join(sorted(k for k in os.environ if "SHIV_" in k)))


def child():
    """Exit with what a child interpreter gets importing greet: 0 when it can."""
    import subprocess

    return subprocess.call([sys.executable, "-c", "import greet"], stderr=subprocess.DEVNULL)
"#,
        )
        .file("greet/__main__.py", "print('greet as a module')\n")
        .console_script("greet", "greet:main")
        .console_script("greet-seven", "greet:seven")
}
