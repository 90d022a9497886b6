//! The installers and what they are given: arguments passed through, the project in the
//! current directory, uv and pip, `--build-python`, `-v`, and `--site-packages` trees.

use crate::support::{build_greet, greet, listing, proj, Installer, Pyz, Test, Wheel};
use crate::{python, uv};

/// Unknown arguments go to the installer: `-r FILE` here.
#[test]
fn installer_arguments_pass_through() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet(), Wheel::new("other", "2.0").file("other.py", "")]);
    t.write("req.txt", "greet\nother\n");
    t.build(&["-r", "req.txt", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    let payload = Pyz::open(t.path("app.pyz")).payload_names();
    assert!(payload.contains(&"other.py".to_owned()), "{payload:?}");
    t.pyz(&python, "app.pyz").run().success();
}

/// Everything after `--` is the installer's, even a token that is also an rshiv option:
/// here `-c` is a constraints file, not a console script.
#[test]
fn everything_after_double_dash_goes_to_the_installer() {
    let t = Test::new();
    let wheels = t.wheels(&[
        greet(),
        Wheel::new("greet", "2.0").file("greet/__init__.py", ""),
    ]);
    t.write("constraints.txt", "greet==1.0\n");
    t.build(
        &[
            "-c",
            "greet",
            "-o",
            "app.pyz",
            "greet",
            "--",
            "-c",
            "constraints.txt",
        ],
        &wheels,
    )
    .success();
    let payload = Pyz::open(t.path("app.pyz")).payload_names();
    assert!(
        payload.contains(&"greet-1.0.dist-info/METADATA".to_owned()),
        "the constraint was not applied: {payload:?}"
    );
}

/// A cluster of rshiv's short options is rshiv's, value and all: `-qo app.pyz` is quiet
/// with an output file, not a file name for the installer.
#[test]
fn clustered_short_options_are_rshivs() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let quiet = t.build(&["greet", "-cgreet", "-qo", "app.pyz"], &wheels);
    quiet.success();
    assert_eq!(quiet.stderr, "", "-q printed something");
    t.pyz(&python, "app.pyz").run().success();
    t.build(&["greet", "-c", "greet", "-qoother.pyz"], &wheels)
        .success();
    assert!(t.path("other.pyz").is_file());
}

/// With no requirement and no `--site-packages`, rshiv builds the current directory's
/// project and says so. (The installers' own variables keep it off the index.)
#[test]
fn builds_the_project_in_the_current_directory() {
    let python = python!(11);
    let t = Test::new();
    let dir = proj().write(&t.path("proj"));
    t.rshiv()
        .current_dir("proj")
        .installer(Installer::preferred())
        .env("PIP_NO_INDEX", "1")
        .env("UV_NO_INDEX", "1")
        .args(["-c", "proj", "-o", "proj.pyz"])
        .run()
        .success()
        .stderr_line_with(&["project", &dir.to_string_lossy()]);
    t.pyz(&python, "proj/proj.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
}

/// A project directory whose path has spaces and non-ASCII characters builds and runs.
#[test]
fn project_path_with_spaces() {
    let python = python!(11);
    let t = Test::new();
    proj().write(&t.path("my projects/été app"));
    t.rshiv()
        .current_dir("my projects/été app")
        .installer(Installer::preferred())
        .args(["--no-index", ".", "-c", "proj", "-o", "out put.pyz"])
        .run()
        .success();
    t.pyz(&python, "my projects/été app/out put.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
}

#[test]
fn rebuild_after_an_edit_ships_the_edit() {
    rebuild_ships_the_edit(Installer::preferred());
}

#[test]
fn rebuild_after_an_edit_ships_the_edit_with_pip() {
    rebuild_ships_the_edit(Installer::Pip);
}

/// Edit a source file of the project, build again: the new pyz runs the edit (an
/// installer's cache must not ship the old code).
fn rebuild_ships_the_edit(installer: Installer) {
    let python = python!(11);
    let t = Test::new();
    let dir = proj().write(&t.path("proj"));
    let build = || {
        t.rshiv()
            .current_dir("proj")
            .installer(installer)
            .args(["--no-index", ".", "-c", "proj", "-o", "../app.pyz"])
            .run()
            .success();
    };
    build();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
    std::fs::write(
        dir.join("proj/__init__.py"),
        "def main():\n    print('edited')\n",
    )
    .expect("edit the project");
    build();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("edited\n");
}

/// Both installers build the same payload, and each build says which installer and which
/// interpreter it used.
#[test]
fn installer_and_interpreter_are_named() {
    let python = python!(11);
    let _ = uv!();
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let shown = python.to_string_lossy().into_owned();
    for installer in [Installer::Uv, Installer::Pip] {
        let out = format!("{}.pyz", installer.name());
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .installer(installer)
            .args(["greet", "-c", "greet", "-o", &out])
            .run()
            .success()
            .stderr_line_with(&[installer.name(), &shown]);
    }
    assert_eq!(
        Pyz::open(t.path("uv.pyz")).payload_names(),
        Pyz::open(t.path("pip.pyz")).payload_names()
    );
}

/// `--installer auto` takes uv from PATH when there is one, else pip.
#[test]
fn auto_installer_prefers_uv_then_pip() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let mut build = t.rshiv();
    build
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--build-python")
        .arg(&python)
        .args(["greet", "-c", "greet", "-o", "auto.pyz"]);
    if crate::support::has_uv() {
        build.run().success().stderr_line_with(&["uv"]);
    }
    build
        .without_uv()
        .run()
        .success()
        .stderr_line_with(&["pip"]);
}

/// `--build-python` decides which environment markers hold: a dependency only for
/// Python 3.12+ is installed for 3.12 and skipped for 3.11.
#[test]
fn build_python_decides_markers() {
    let py11 = python!(11);
    let py12 = python!(12);
    let t = Test::new();
    let wheels = t.wheels(&[
        greet().dependency("other; python_version >= \"3.12\""),
        Wheel::new("other", "2.0").file("other.py", ""),
    ]);
    for (python, out) in [(&py11, "py11.pyz"), (&py12, "py12.pyz")] {
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .args([
                "--installer",
                Installer::preferred().name(),
                "--build-python",
            ])
            .arg(python)
            .args(["greet", "-c", "greet", "-o", out])
            .run()
            .success()
            .stderr_line_with(&[&python.to_string_lossy()]);
    }
    let has_other = |pyz: &str| {
        Pyz::open(t.path(pyz))
            .payload_names()
            .contains(&"other.py".to_owned())
    };
    assert!(!has_other("py11.pyz"));
    assert!(has_other("py12.pyz"));
}

/// `-v` shows the installer's own output; a failing installer's output is shown anyway.
#[test]
fn installer_output_is_shown_with_v_and_on_failure() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let all = |out: &crate::support::Output| format!("{}{}", out.stdout, out.stderr);
    let out = t
        .rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .installer(Installer::Pip)
        .args(["-v", "greet", "-c", "greet", "-o", "app.pyz"])
        .run();
    out.success();
    assert!(
        all(&out).contains("Successfully installed greet-1.0"),
        "{out:?}"
    );
    let quiet = t.build(&["greet", "-c", "greet", "-o", "quiet.pyz"], &wheels);
    quiet.success();
    assert!(!all(&quiet).contains("Successfully installed"), "{quiet:?}");
    let failed = t
        .rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .installer(Installer::Pip)
        .args(["no-such-dist-xyz", "-c", "greet", "-o", "app.pyz"])
        .run();
    failed.failure();
    assert!(
        all(&failed).contains("No matching distribution found for no-such-dist-xyz"),
        "{failed:?}"
    );
    if crate::support::has_uv() {
        let failed = t.build(
            &["no-such-dist-xyz", "-c", "greet", "-o", "app.pyz"],
            &wheels,
        );
        failed.failure();
        assert!(all(&failed).contains("No solution found"), "{failed:?}");
    }
}

/// `--site-packages` dirs (repeatable) are merged into the payload; alone, they need no
/// installer and no project.
#[test]
fn site_packages_dirs_are_merged() {
    let python = python!(11);
    let t = Test::new();
    t.write(
        "one/first.py",
        "def main():\n    import second\n    second.main()\n",
    );
    t.write("two/second.py", "def main():\n    print('second')\n");
    t.rshiv()
        .args(["--site-packages", "one", "--site-packages", "two"])
        .args(["-e", "first:main", "-o", "sp.pyz"])
        .run()
        .success();
    t.pyz(&python, "sp.pyz")
        .run()
        .success()
        .stdout_is("second\n");
    build_greet(
        &t,
        &[
            "--site-packages",
            "one",
            "--site-packages",
            "two",
            "-e",
            "first:main",
        ],
        "both.pyz",
    );
    let payload = Pyz::open(t.path("both.pyz")).payload_names();
    for name in ["first.py", "second.py", "greet/__init__.py"] {
        assert!(
            payload.contains(&name.to_owned()),
            "{name} missing: {payload:?}"
        );
    }
}

/// Bytecode in a `--site-packages` dir stays out of the payload: no `.pyc`, no
/// `__pycache__`.
#[test]
fn site_packages_bytecode_is_left_out() {
    let t = Test::new();
    t.write("sp/mod.py", "def main():\n    pass\n");
    t.write("sp/__pycache__/mod.cpython-311.pyc", "not really bytecode");
    t.write("sp/legacy.pyc", "not really bytecode");
    t.write("sp/pkg/__pycache__/x.cpython-38.pyc", "");
    t.write("sp/pkg/__init__.py", "");
    t.rshiv()
        .args(["--site-packages", "sp", "-e", "mod:main", "-o", "app.pyz"])
        .run()
        .success();
    assert_eq!(
        Pyz::open(t.path("app.pyz")).payload_names(),
        ["mod.py", "pkg/__init__.py"]
    );
}

/// Awkward `--site-packages` contents: a dangling symlink or a file name that is not UTF-8
/// is either skipped or refused by name, never a crash or a half-written file.
#[test]
fn awkward_site_packages_entries() {
    use std::os::unix::ffi::OsStrExt;
    let t = Test::new();
    t.write("dangling/mod.py", "def main():\n    pass\n");
    std::os::unix::fs::symlink(t.path("nowhere"), t.path("dangling/gone.py")).expect("symlink");
    t.write("latin1/mod.py", "def main():\n    pass\n");
    let bad = t
        .path("latin1")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.py"));
    std::fs::write(bad, "").expect("write a non-UTF-8 name");
    for (dir, culprit) in [("dangling", "gone.py"), ("latin1", "caf")] {
        t.mkdir(format!("out-{dir}"));
        let out = t
            .rshiv()
            .args(["--site-packages", dir, "-e", "mod:main", "-o"])
            .arg(format!("out-{dir}/app.pyz"))
            .run();
        out.stderr_lacks("panicked");
        if out.code != Some(0) {
            out.failure().stderr_line_with(&[culprit]);
            assert!(listing(&t.path(format!("out-{dir}"))).is_empty());
        }
    }
}
