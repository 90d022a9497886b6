//! Building: the output file, its bytes on disk, and what each build option changes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zip::CompressionMethod;

use crate::support::{greet, listing, tree, Installer, Project, Pyz, Test, Wheel};
use crate::{python, require};

/// A project with a console script, built from its own directory: what most users do.
fn proj() -> Project {
    Project::new("proj", "0.1")
        .file("proj/__init__.py", "def main():\n    print('proj main')\n")
        .console_script("proj", "proj:main")
}

#[test]
fn builds_a_pyz_that_runs_its_console_script() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    t.pyz(&python, "greet.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// The output is executable and runs through its own shebang line.
#[test]
fn output_is_executable_and_runs_through_its_shebang() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let shebang = python.to_str().expect("a UTF-8 path");
    t.build(
        &["greet", "-c", "greet", "-p", shebang, "-o", "greet.pyz"],
        &wheels,
    )
    .success();
    let mode = std::fs::metadata(t.path("greet.pyz"))
        .expect("the pyz exists")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "mode {mode:o} is not executable by all"
    );
    t.command(t.path("greet.pyz"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// shiv's default shebang, then `-p` replaces it verbatim.
#[test]
fn shebang_is_env_python3_unless_p_says_otherwise() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "default.pyz"], &wheels)
        .success();
    assert_eq!(
        Pyz::open(t.path("default.pyz")).shebang(),
        "#!/usr/bin/env python3"
    );
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "-p",
            "/opt/py/bin/python3 -sE",
            "-o",
            "custom.pyz",
        ],
        &wheels,
    )
    .success();
    assert_eq!(
        Pyz::open(t.path("custom.pyz")).shebang(),
        "#!/opt/py/bin/python3 -sE"
    );
}

/// The zip holds `__main__.py` and an `environment.json` with shiv's fields, and the
/// payload holds the installed distribution.
#[test]
fn archive_has_main_environment_json_and_the_payload() {
    let t = Test::new();
    // Names whose bytewise order differs from a case-folding or locale order.
    let wheels = t.wheels(&[greet()
        .file("greet/Zeta.py", "")
        .file("greet/alpha.py", "")
        .file("greet/_under.py", "")
        .file("greet/été.py", "")
        .file("greet/a/b.py", "")
        .file("greet/a.b.py", "")]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("greet.pyz"));
    let names = pyz.outer_names();
    assert!(names.contains(&"__main__.py"), "{names:?}");
    let environment = pyz.environment();
    for field in [
        "shiv_version",
        "always_write_cache",
        "build_id",
        "built_at",
        "hashes",
        "no_modify",
        "reproducible",
        "preamble",
        "entry_point",
        "compile_pyc",
        "extend_pythonpath",
        "root",
        "script",
    ] {
        assert!(
            environment.get(field).is_some(),
            "environment.json lacks shiv's {field}: {environment}"
        );
    }
    assert_eq!(environment["entry_point"], "greet:main");
    let payload = pyz.payload_names();
    assert!(
        payload.contains(&"greet/__init__.py".to_owned()),
        "{payload:?}"
    );
    assert!(
        payload.iter().any(|n| n == "greet-1.0.dist-info/METADATA"),
        "{payload:?}"
    );
    let mut sorted = payload.clone();
    sorted.sort();
    assert_eq!(payload, sorted, "payload entries are not sorted");
    assert!(
        !payload
            .iter()
            .any(|n| n.ends_with(".pyc") || n.ends_with('/')),
        "payload has .pyc or directory entries: {payload:?}"
    );
}

/// The same project built from two different directories gives identical bytes; timestamps
/// are 1980-01-01 unless SOURCE_DATE_EPOCH says otherwise.
#[test]
fn builds_are_byte_identical_from_any_directory() {
    let t = Test::new();
    for dir in ["first", "second/nested"] {
        proj().write(&t.path(dir));
        t.rshiv()
            .current_dir(dir)
            .installer(Installer::preferred())
            .args(["--no-index", ".", "-c", "proj", "-o", "../app.pyz"])
            .run()
            .success();
        std::fs::rename(
            t.path(dir).join("../app.pyz"),
            t.path(format!("{}.pyz", dir.replace('/', "-"))),
        )
        .expect("move the pyz aside");
    }
    let first = t.read("first.pyz");
    assert!(
        first == t.read("second-nested.pyz"),
        "two builds of one project from different directories differ"
    );
    for member in Pyz::open(t.path("first.pyz")).payload() {
        assert_eq!(member.modified, (1980, 1, 1, 0, 0, 0), "{}", member.name);
    }
}

/// SOURCE_DATE_EPOCH fixes every timestamp, and two builds at different times still agree.
#[test]
fn source_date_epoch_sets_the_timestamps() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for out in ["one", "two"] {
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .installer(Installer::preferred())
            .args([
                "greet",
                "-c",
                "greet",
                "-o",
                &format!("{}/app.pyz", t.mkdir(out)),
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .run()
            .success();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert!(
        t.read("one/app.pyz") == t.read("two/app.pyz"),
        "builds a second apart differ"
    );
    let pyz = Pyz::open(t.path("one/app.pyz"));
    // 1700000000 is 2023-11-14 22:13:20 UTC.
    for member in pyz.payload() {
        assert_eq!(
            member.modified,
            (2023, 11, 14, 22, 13, 20),
            "{}",
            member.name
        );
    }
    assert_eq!(pyz.environment()["built_at"], "2023-11-14 22:13:20");
}

/// Payload modes are normalized: 0755 for a file with an execute bit, 0644 otherwise.
#[test]
fn payload_modes_are_normalized() {
    let t = Test::new();
    let wheels = t.wheels(&[greet().executable("greet/tool.sh", "#!/bin/sh\necho tool\n")]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("greet.pyz"));
    assert_eq!(pyz.payload_file("greet/tool.sh").mode, Some(0o100755));
    assert_eq!(pyz.payload_file("greet/__init__.py").mode, Some(0o100644));
}

#[test]
fn no_build_machine_paths_in_the_pyz_or_its_extraction() {
    no_build_machine_paths(Installer::preferred());
}

#[test]
fn no_build_machine_paths_with_pip() {
    no_build_machine_paths(Installer::Pip);
}

/// Nothing in the payload or the extracted tree names the directory the build ran in,
/// the staging directory or the build interpreter (a script's `#!` line);
/// `direct_url.json` of a local project is dropped or holds no path.
fn no_build_machine_paths(installer: Installer) {
    let python = python!(11);
    let t = Test::new();
    proj().write(&t.path("src"));
    t.rshiv()
        .current_dir("src")
        .installer(installer)
        .args(["--no-index", ".", "-c", "proj", "-o", "../app.pyz"])
        .run()
        .success();
    // The project's directory, the staging directory, the build interpreter's prefix.
    let here = t.path("src").to_string_lossy().into_owned();
    let prefix = python
        .parent()
        .and_then(Path::parent)
        .expect("python is in PREFIX/bin")
        .to_string_lossy()
        .into_owned();
    let forbidden = [here.as_str(), "rshiv-stage-", prefix.as_str()];
    let pyz = Pyz::open(t.path("app.pyz"));
    for member in pyz.payload().iter().chain(&pyz.outer) {
        if member.name.ends_with(".zip") {
            continue;
        }
        let text = String::from_utf8_lossy(&member.data);
        for path in forbidden {
            assert!(!text.contains(path), "{} names {path}", member.name);
        }
        if member.name.ends_with("direct_url.json") {
            assert!(
                !String::from_utf8_lossy(&member.data).contains("file://"),
                "{} keeps a file URL",
                member.name
            );
        }
    }
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
    // Only the payload: the runtime's own bytecode names the cache, which is in the test dir.
    let extraction = t.extraction("app.pyz").join("site-packages");
    for file in tree(&extraction) {
        let data = std::fs::read(extraction.join(&file)).expect("read an extracted file");
        let text = String::from_utf8_lossy(&data);
        for path in forbidden {
            assert!(!text.contains(path), "extracted {file} names {path}");
        }
    }
}

/// A failed build leaves an existing output as it was and no temp file beside it.
#[test]
fn failed_build_leaves_the_old_output_untouched() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.write("out/app.pyz", "the previous build");
    t.build(
        &["no-such-dist", "-c", "greet", "-o", "out/app.pyz"],
        &wheels,
    )
    .failure();
    assert_eq!(t.read("out/app.pyz"), b"the previous build");
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
}

/// A successful rebuild replaces the file by rename: a process holding the old one open
/// still reads the old bytes.
#[test]
fn rebuild_replaces_the_output_atomically() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.mkdir("out");
    t.build(&["greet", "-c", "greet", "-o", "out/app.pyz"], &wheels)
        .success();
    let before = t.read("out/app.pyz");
    let held = std::fs::File::open(t.path("out/app.pyz")).expect("open the old pyz");
    t.build(
        &["greet", "-e", "greet:seven", "-o", "out/app.pyz"],
        &wheels,
    )
    .success();
    let mut still = Vec::new();
    std::io::Read::read_to_end(&mut &held, &mut still).expect("read the old pyz");
    assert!(still == before, "the old file was rewritten in place");
    assert!(t.read("out/app.pyz") != before);
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
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

    let wheels = t.wheels(&[greet()]);
    t.build(
        &[
            "greet",
            "--site-packages",
            "one",
            "--site-packages",
            "two",
            "-e",
            "first:main",
            "-o",
            "both.pyz",
        ],
        &wheels,
    )
    .success();
    let payload = Pyz::open(t.path("both.pyz")).payload_names();
    for name in ["first.py", "second.py", "greet/__init__.py"] {
        assert!(
            payload.contains(&name.to_owned()),
            "{name} missing: {payload:?}"
        );
    }
}

/// Deflate by default (`--compressed`), STORED with `--uncompressed`.
#[test]
fn compressed_and_uncompressed() {
    let t = Test::new();
    let big = "print('a line that compresses very well')\n".repeat(500);
    let wheels = t.wheels(&[greet().file("greet/big.py", &big)]);
    for (flag, out) in [("--compressed", "c.pyz"), ("--uncompressed", "u.pyz")] {
        t.build(&["greet", "-c", "greet", flag, "-o", out], &wheels)
            .success();
    }
    let compressed = Pyz::open(t.path("c.pyz")).payload_file("greet/big.py");
    assert_eq!(compressed.compression, CompressionMethod::Deflated);
    assert_eq!(compressed.data, big.as_bytes());
    for member in Pyz::open(t.path("u.pyz")).payload() {
        assert_eq!(
            member.compression,
            CompressionMethod::Stored,
            "{}",
            member.name
        );
    }
    t.build(&["greet", "-c", "greet", "-o", "default.pyz"], &wheels)
        .success();
    assert!(
        Pyz::open(t.path("default.pyz")).payload() == Pyz::open(t.path("c.pyz")).payload(),
        "deflate is not the default"
    );
}

/// `--compile-pyc` leaves .pyc files beside the extracted sources; without it, none.
#[test]
fn compile_pyc_compiles_at_extraction() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(
        &["greet", "-c", "greet", "--compile-pyc", "-o", "pyc.pyz"],
        &wheels,
    )
    .success();
    t.build(&["greet", "-c", "greet", "-o", "plain.pyz"], &wheels)
        .success();
    assert!(!Pyz::open(t.path("pyc.pyz"))
        .payload_names()
        .iter()
        .any(|n| n.ends_with(".pyc")));
    for pyz in ["pyc.pyz", "plain.pyz"] {
        t.pyz(&python, pyz)
            .run()
            .success()
            .stdout_is("hello from greet\n");
    }
    let compiled = tree(&t.extraction("pyc.pyz"));
    assert!(
        compiled.iter().any(
            |f| f.starts_with("site-packages/greet/__pycache__/__init__.") && f.ends_with(".pyc")
        ),
        "{compiled:?}"
    );
    // The runtime keeps its own bytecode in `.rshiv/`; the payload stays uncompiled.
    let plain = tree(&t.extraction("plain.pyz").join("site-packages"));
    assert!(!plain.iter().any(|f| f.ends_with(".pyc")), "{plain:?}");
}

/// A `.py` preamble runs in-process before the entry point; another file runs as a command.
#[test]
fn preamble_runs_before_the_entry_point() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.write("pre.py", "print('preamble', flush=True)\n");
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--preamble",
            "pre.py",
            "-o",
            "py.pyz",
        ],
        &wheels,
    )
    .success();
    t.pyz(&python, "py.pyz")
        .run()
        .success()
        .stdout_is("preamble\nhello from greet\n");

    let script = t.write("pre.sh", "#!/bin/sh\necho shell preamble\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the preamble executable");
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--preamble",
            "pre.sh",
            "-o",
            "sh.pyz",
        ],
        &wheels,
    )
    .success();
    t.pyz(&python, "sh.pyz")
        .run()
        .success()
        .stdout_is("shell preamble\nhello from greet\n");
}

/// `--root DIR` is the default cache root when no variable names one; `$VAR` reads VAR
/// at run time.
#[test]
fn root_is_baked_and_may_name_a_variable() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let baked = t.path("baked");
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--root",
            baked.to_str().expect("UTF-8"),
            "-o",
            "fixed.pyz",
        ],
        &wheels,
    )
    .success();
    t.pyz(&python, "fixed.pyz")
        .env_remove("RSHIV_ROOT")
        .run()
        .success();
    let id = Pyz::open(t.path("fixed.pyz")).environment()["build_id"]
        .as_str()
        .expect("build_id")
        .to_owned();
    assert!(
        baked.join(format!("fixed_{id}/site-packages")).is_dir(),
        "{:?}",
        tree(&baked)
    );

    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--root",
            "$APP_CACHE",
            "-o",
            "var.pyz",
        ],
        &wheels,
    )
    .success();
    t.pyz(&python, "var.pyz")
        .env_remove("RSHIV_ROOT")
        .env("APP_CACHE", t.path("from-var"))
        .run()
        .success();
    assert!(
        t.path(format!("from-var/var_{id}/site-packages")).is_dir(),
        "{:?}",
        tree(&t.path("from-var"))
    );
}

/// A baked root starting with `~` is under the runner's home.
#[test]
fn root_tilde_is_the_home_directory() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(
        &["greet", "-c", "greet", "--root", "~/apps", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "app.pyz")
        .env_remove("RSHIV_ROOT")
        .env("HOME", t.mkdir("home"))
        .run()
        .success();
    let apps = crate::support::listing(&t.path("home/apps"));
    assert!(apps.iter().any(|e| e.starts_with("app_")), "{apps:?}");
}

/// `--build-id` replaces the computed id, in environment.json and in the cache path.
#[test]
fn build_id_names_the_extraction() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--build-id",
            "release-42",
            "-o",
            "app.pyz",
        ],
        &wheels,
    )
    .success();
    assert_eq!(
        Pyz::open(t.path("app.pyz")).environment()["build_id"],
        "release-42"
    );
    t.pyz(&python, "app.pyz").run().success();
    assert!(t.root().join("app_release-42/site-packages").is_dir());
}

/// Console script names are case-sensitive keys of `[console_scripts]`.
#[test]
fn console_script_names_are_case_sensitive() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .console_script("Shout", "greet:main")
        .console_script("shout", "greet:seven")]);
    t.build(&["greet", "-c", "Shout", "-o", "upper.pyz"], &wheels)
        .success();
    t.build(&["greet", "-c", "shout", "-o", "lower.pyz"], &wheels)
        .success();
    t.pyz(&python, "upper.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    t.pyz(&python, "lower.pyz").run().code(7);
}

/// `-c NAME` falls back to the script `bin/NAME` when no console script has that name.
#[test]
fn console_script_falls_back_to_a_bin_script() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().script("hello-script", "#!python\nprint('from bin')\n")]);
    t.build(
        &["greet", "-c", "hello-script", "-o", "script.pyz"],
        &wheels,
    )
    .success();
    assert!(Pyz::open(t.path("script.pyz"))
        .payload_names()
        .contains(&"bin/hello-script".to_owned()));
    t.pyz(&python, "script.pyz")
        .run()
        .success()
        .stdout_is("from bin\n");
}

/// `-e MOD` may name a standard-library module of the build interpreter.
#[test]
fn entry_point_may_be_a_stdlib_module() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-e", "json.tool", "-o", "json.pyz"], &wheels)
        .success();
    t.pyz(&python, "json.pyz")
        .stdin("{\"a\": [1]}")
        .run()
        .success()
        .stdout_is("{\n    \"a\": [\n        1\n    ]\n}\n");
}

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

/// Both installers build the same payload, and each build says which installer and which
/// interpreter it used.
#[test]
fn installer_and_interpreter_are_named() {
    let python = python!(11);
    require!(crate::support::uv(), "uv not found");
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
    if crate::support::uv().is_some() {
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

/// The layout of `src/archive/mod.rs`: five STORED outer members in a fixed order, the
/// payload first, its data at `len(shebang line) + 30 + len("_rshiv/payload.zip")`.
#[test]
fn archive_layout_follows_the_format() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("app.pyz"));
    assert_eq!(
        pyz.outer_names(),
        [
            "_rshiv/payload.zip",
            "_rshiv/__init__.py",
            "_rshiv/extract.py",
            "_rshiv/runtime.py",
            "_rshiv/unpack.py",
            "__main__.py",
            "environment.json"
        ]
    );
    // The payload and the warm path's `__main__.py` are stored; what only first runs and
    // tools read is deflated.
    for member in &pyz.outer {
        let deflated = [
            "_rshiv/extract.py",
            "_rshiv/runtime.py",
            "_rshiv/unpack.py",
            "environment.json",
        ]
        .contains(&member.name.as_str());
        let expected = if deflated {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        assert_eq!(member.compression, expected, "{}", member.name);
    }
    let start = pyz.shebang().len() + 1 + 30 + "_rshiv/payload.zip".len();
    let payload = &pyz.outer_member("_rshiv/payload.zip").data;
    assert!(
        pyz.bytes[start..].starts_with(payload),
        "the payload's data does not start at byte {start}"
    );
}

/// The build id is sha256 over the payload in entry order of
/// `path, 0, "100644"|"100755", 0, sha256(contents)`, as `src/archive/mod.rs` defines it.
#[test]
fn build_id_is_the_payload_hash() {
    use sha2::{Digest, Sha256};
    let t = Test::new();
    let wheels = t.wheels(&[greet().executable("greet/tool.sh", "#!/bin/sh\n")]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("app.pyz"));
    let mut hasher = Sha256::new();
    for member in pyz.payload() {
        let mode = if member.mode.unwrap_or(0) & 0o111 != 0 {
            "100755"
        } else {
            "100644"
        };
        hasher.update(member.name.as_bytes());
        hasher.update([0]);
        hasher.update(mode.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(&member.data));
    }
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(pyz.environment()["build_id"], expected.as_str());
}

/// `--reproducible` is accepted for shiv compatibility and changes nothing.
#[test]
fn reproducible_is_accepted() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for dir in ["plain", "reproducible"] {
        let out = format!("{}/app.pyz", t.mkdir(dir));
        let mut args = vec!["greet", "-c", "greet", "-o", &out];
        if dir == "reproducible" {
            args.push("--reproducible");
        }
        t.build(&args, &wheels).success();
    }
    assert!(t.read("plain/app.pyz") == t.read("reproducible/app.pyz"));
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
}

/// With only `--site-packages`, `-e` may still name a standard-library module.
#[test]
fn stdlib_entry_point_without_an_installer() {
    let python = python!(11);
    let t = Test::new();
    t.write("sp/helper.py", "");
    t.rshiv()
        .args(["--site-packages", "sp", "-e", "json.tool", "-o", "json.pyz"])
        .run()
        .success();
    t.pyz(&python, "json.pyz")
        .stdin("[1]")
        .run()
        .success()
        .stdout_is("[\n    1\n]\n");
}

/// Entry points as the entry points spec writes them: nested packages, namespace packages,
/// dotted attributes, and console scripts with extras (`mod:attr [extra]`).
#[test]
fn entry_point_forms() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .file("greet/sub/__init__.py", "")
        .file("greet/sub/deep.py", "def main():\n    print('deep')\n")
        .file("nspkg/inner.py", "def main():\n    print('namespace')\n")
        .file(
            "greet/tools.py",
            "class Tool:\n    @staticmethod\n    def run():\n        print('dotted')\n",
        )
        .console_script("fancy", "greet:main [color]")]);
    for (flag, value, expected) in [
        ("-e", "greet.sub.deep:main", "deep\n"),
        ("-e", "nspkg.inner:main", "namespace\n"),
        ("-e", "greet.tools:Tool.run", "dotted\n"),
        ("-c", "fancy", "hello from greet\n"),
    ] {
        let out = format!("{}.pyz", value.replace([':', '.'], "-"));
        t.build(&["greet", flag, value, "-o", &out], &wheels)
            .success();
        t.pyz(&python, &out).run().success().stdout_is(expected);
    }
}

/// Output names with spaces, several dots, or no extension: the stem names the app.
#[test]
fn output_names() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for (out, stem) in [
        ("my app.pyz", "my app"),
        ("api.v2.pyz", "api.v2"),
        ("tool", "tool"),
    ] {
        t.build(&["greet", "-c", "greet", "-o", out], &wheels)
            .success();
        assert_eq!(Pyz::open(t.path(out)).environment()["name"], stem);
        t.pyz(&python, out)
            .run()
            .success()
            .stdout_is("hello from greet\n");
        assert!(t.extraction(out).join("site-packages").is_dir(), "{out}");
    }
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

#[test]
fn rebuild_after_an_edit_ships_the_edit() {
    rebuild_ships_the_edit(Installer::preferred());
}

#[test]
fn rebuild_after_an_edit_ships_the_edit_with_pip() {
    rebuild_ships_the_edit(Installer::Pip);
}

/// The bytes do not depend on how many threads compress: `-j 1`, `-j 2` and `-j 7` agree,
/// for a payload of many files of mixed sizes (some over libdeflate's whole-file limit
/// would need 32 MiB; these exercise the ordering of many small and medium entries).
#[test]
fn builds_are_byte_identical_across_thread_counts() {
    let t = Test::new();
    let mut wheel = greet();
    for i in 0..300 {
        let body = format!("VALUE_{i} = {:?}\n", "x".repeat(i * 97 % 20_000));
        wheel = wheel.file(&format!("greet/data/m{i:03}.py"), body);
    }
    let wheels = t.wheels(&[wheel]);
    let outputs = ["j1", "j2", "j7"];
    for (dir, jobs) in outputs.iter().zip(["1", "2", "7"]) {
        std::fs::create_dir(t.path(dir)).expect("mkdir");
        t.build(
            &[
                "greet",
                "-c",
                "greet",
                "-j",
                jobs,
                "-o",
                &format!("{dir}/app.pyz"),
            ],
            &wheels,
        )
        .success();
    }
    let first = t.read("j1/app.pyz");
    for dir in &outputs[1..] {
        assert!(
            first == t.read(format!("{dir}/app.pyz")),
            "-j {dir} differs from -j 1"
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

/// Two builds racing to the same output both finish, and what is left is one whole pyz.
#[test]
fn concurrent_builds_to_one_output() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.mkdir("out");
    std::thread::scope(|scope| {
        let builds: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| t.build(&["greet", "-c", "greet", "-o", "out/app.pyz"], &wheels))
            })
            .collect();
        for build in builds {
            build.join().expect("a build thread").success();
        }
    });
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
    t.pyz(&python, "out/app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
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

/// Every `--compression` method gives a pyz that unpacks and runs on the oldest and the
/// newest CPython, a file over a MiB (unpacked in pieces) included.
#[test]
fn every_compression_method_runs() {
    let t = Test::new();
    let big: String = (0..120_000)
        .map(|i| format!("{:07}\n", i * 7919 % 1_000_003))
        .collect();
    let wheel = greet().file("greet/big.txt", &big).file(
        "greet/check.py",
        "import os\ndef main():\n    path = os.path.join(os.path.dirname(__file__), 'big.txt')\n    print(len(open(path).read()))\n",
    );
    let wheels = t.wheels(&[wheel]);
    for method in ["stored", "deflate-1", "deflate-12", "bzip2", "lzma"] {
        std::fs::create_dir(t.path(method)).expect("mkdir");
        let out = format!("{method}/app.pyz");
        t.build(
            &[
                "greet",
                "-e",
                "greet.check:main",
                "--compression",
                method,
                "-o",
                &out,
            ],
            &wheels,
        )
        .success();
        for minor in [8, 13] {
            let python = python!(minor);
            t.pyz(&python, &out)
                .env("RSHIV_ROOT", t.path(format!("root-{method}-{minor}")))
                .run()
                .success()
                .stdout_is(&format!("{}\n", big.len()));
        }
    }
}
