//! The harness every test module uses: a fresh directory per test, the real `rshiv` binary
//! and real CPythons run in it with a clean environment, and assertions on what a user sees.
//!
//! ```ignore
//! let t = Test::new();
//! let wheels = t.wheels(&[Wheel::new("greet", "1.0").file("greet/__init__.py", "...")]);
//! t.build(&["greet", "-e", "greet:main", "-o", "greet.pyz"], &wheels).success();
//! t.pyz(&python!(11), "greet.pyz").run().success().stdout_is("hello\n");
//! ```
//!
//! Variables the suite reads: `RSHIV_TEST_UV` (a uv to use when none is on PATH; without
//! uv, builds use pip and uv-only tests skip), `CI=true` (a missing CPython 3.8-3.13 or uv
//! fails the tests that need it instead of skipping them), `RSHIV_TEST_OFFLINE=1` (skip the
//! tests that need the package index), `RSHIV_TEST_KEEP=1` (keep a failed test's directory),
//! `RSHIV_TEST_MATURIN` (a maturin to use when none is on PATH, for `wheel.rs`).

#![allow(dead_code)] // Each topic module uses its own subset of the harness.

pub mod apps;
pub mod command;
pub mod interpreters;
pub mod project;
pub mod pyz;
pub mod wheel;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use apps::{build_greet, greet, proj};
pub use command::{Cmd, Output};
pub use interpreters::{any_python, has_uv, on_path, python, pythons, uv, Installer};
pub use project::Project;
pub use pyz::Pyz;
pub use wheel::Wheel;

use interpreters::inherited_path_without_uv;

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
        for dir in ["bin", "tmp"] {
            std::fs::create_dir_all(test.path(dir)).expect("create the test's directories");
        }
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
            // The runtime's fallback root and the build's staging live under TMPDIR: keep
            // them per test too, so no run sees another's extraction.
            ("TMPDIR", self.path("tmp").into_os_string()),
            ("PATH", self.search_path()),
            ("PIP_DISABLE_PIP_VERSION_CHECK", "1".into()),
            ("PIP_NO_INPUT", "1".into()),
            ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ];
        env.extend(set.into_iter().map(|(k, v)| (OsString::from(k), Some(v))));
        Cmd::new(program.as_ref(), env, self.dir())
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

/// Hold an exclusive flock on `lock` in a child `python` until the file `release` appears
/// or the child is killed; returns once the lock is held, failing the test after `timeout`.
#[track_caller]
pub fn hold_flock(
    t: &Test,
    python: &Path,
    lock: &Path,
    release: &Path,
    timeout: Duration,
) -> std::process::Child {
    let name = lock
        .file_name()
        .expect("a lock has a name")
        .to_string_lossy();
    let held = t.path(format!("{name}.held"));
    let child = t
        .command(python)
        .args([
            "-c",
            "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\nopen(sys.argv[2], 'w').close()\nwhile not os.path.exists(sys.argv[3]):\n    time.sleep(0.01)",
        ])
        .args([lock, &held, release])
        .spawn(&t.path(format!("{name}.holder.log")));
    wait_for(&held, timeout);
    child
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
