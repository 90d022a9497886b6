//! The interpreters and installers a test may use: the CPythons 3.8 to 3.13 this machine
//! has, uv, and the macros that skip a test (saying why) when one is missing. On CI
//! (`CI=true`) a missing one fails the test instead: CI is where they must all be.

use std::path::PathBuf;
use std::sync::OnceLock;

/// Every minor version of CPython rshiv supports.
pub const MINORS: [u32; 6] = [8, 9, 10, 11, 12, 13];

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

/// Like `require!`, for what CI must have: on CI (`CI=true`) a missing value fails the
/// test, elsewhere it skips it.
#[macro_export]
macro_rules! require_on_ci {
    ($option:expr, $($why:tt)+) => {
        match $option {
            Some(value) => value,
            None => {
                let why = format!($($why)+);
                assert!(!$crate::support::interpreters::on_ci(), "{why} (CI=true: a failure, not a skip)");
                eprintln!("skipped: {why}");
                return;
            }
        }
    };
}

/// The interpreter of CPython 3.`minor`, or skip the test when this machine lacks it.
#[macro_export]
macro_rules! python {
    ($minor:expr) => {
        $crate::require_on_ci!(
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
        $crate::require_on_ci!(
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

/// Which installer a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installer {
    Uv,
    Pip,
}

impl Installer {
    /// uv when the machine has it (much faster), else pip; on CI, uv (see [`has_uv`]).
    pub fn preferred() -> Self {
        if has_uv() {
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

/// Whether uv is there for the parts of a test that need it; on CI a missing uv fails the
/// test here rather than letting it pass on pip alone.
#[track_caller]
pub fn has_uv() -> bool {
    let found = uv().is_some();
    assert!(
        found || !on_ci(),
        "uv not found (put it on PATH or set RSHIV_TEST_UV); CI=true needs it"
    );
    found
}

/// Whether the tests run on CI (`CI=true`, as CI services set it), where nothing they
/// need may be missing.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

/// The first `name` on this process's PATH that is a file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// This process's PATH minus every directory that holds a `uv`.
pub fn inherited_path_without_uv() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| !dir.join("uv").exists())
        .collect()
}
