//! Cross-target builds (a pyz built on one CPython for another) and the runtime's refusal
//! to start when the payload's compiled extensions are for a different interpreter.

use crate::support::{Installer, Test, Wheel};
use crate::{python, uv};

/// The same distribution as two "binary" wheels, one per CPython; each says which it is.
fn fastmath_wheels(t: &Test) -> std::path::PathBuf {
    let wheel = |minor: u32| {
        Wheel::new("fastmath", "1.0")
            .tag(&format!("cp3{minor}-cp3{minor}-manylinux2014_x86_64"))
            .file(
                "fastmath/__init__.py",
                format!("def main():\n    print('fastmath for 3.{minor}')\n"),
            )
    };
    t.wheels(&[wheel(8), wheel(11)])
}

/// Built with CPython 3.11 for 3.8 (`--python-version 3.8 --platform ...`): the 3.8 wheel
/// is chosen, the pyz runs under 3.8, and under 3.11 it refuses with one clear line.
fn cross_build(installer: Installer) {
    let py38 = python!(8);
    let py311 = python!(11);
    let t = Test::new();
    let wheels = fastmath_wheels(&t);
    t.rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .installer(installer)
        .args([
            "--python-version",
            "3.8",
            "--platform",
            "manylinux2014_x86_64",
        ])
        .args(["fastmath", "-e", "fastmath:main", "-o", "fm.pyz"])
        .run()
        .success();
    t.pyz(&py38, "fm.pyz")
        .run()
        .success()
        .stdout_is("fastmath for 3.8\n");
    t.pyz(&py311, "fm.pyz")
        .run()
        .code(1)
        .stdout_is("")
        .stderr_line_with(&["CPython 3.8", "cp38-cp38-manylinux2014_x86_64"])
        .stderr_lacks("Traceback");
    t.rshiv()
        .args(["info"])
        .arg(t.path("fm.pyz"))
        .run()
        .success()
        .stdout_contains("cp38 manylinux_2_17 x86_64");
}

#[test]
fn cross_build_with_uv() {
    let _ = uv!();
    cross_build(Installer::Uv);
}

#[test]
fn cross_build_with_pip() {
    cross_build(Installer::Pip);
}
