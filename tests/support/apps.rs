//! The apps most tests share: the `greet` wheel, the `proj` project, and a pyz of greet.

use super::{Project, Test, Wheel};

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

/// A project with a console script, built from its own directory: what most users do.
pub fn proj() -> Project {
    Project::new("proj", "0.1")
        .file("proj/__init__.py", "def main():\n    print('proj main')\n")
        .console_script("proj", "proj:main")
}

/// Build the `greet` wheel with `ARGS` (`["-c", "greet", "--compile-pyc"]`) into `OUT` in
/// the test's directory: the most common build of the suite.
#[track_caller]
pub fn build_greet(t: &Test, args: &[&str], out: &str) {
    let wheels = t.wheels(&[greet()]);
    let mut all = vec!["greet"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out]);
    t.build(&all, &wheels).success();
}
