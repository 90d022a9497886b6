//! Build options baked into the pyz for every run: `--root`, `--build-id`, `--preamble`,
//! `--compile-pyc`, `--no-modify`, `--isolated`, `-E`.

use std::os::unix::fs::PermissionsExt;

use crate::python;
use crate::support::{build_greet, greet, listing, tree, Pyz, Test, Wheel};

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

    build_greet(&t, &["-c", "greet", "--root", "$APP_CACHE"], "var.pyz");
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
    build_greet(&t, &["-c", "greet", "--root", "~/apps"], "app.pyz");
    t.pyz(&python, "app.pyz")
        .env_remove("RSHIV_ROOT")
        .env("HOME", t.mkdir("home"))
        .run()
        .success();
    let apps = crate::support::listing(&t.path("home/apps"));
    assert!(apps.iter().any(|e| e.starts_with("app_")), "{apps:?}");
}

/// A baked `--root $VAR` whose variable is unset at run time falls back to the default
/// root, and creates nothing in the current directory.
#[test]
fn unset_root_variable_falls_back() {
    let python = python!(11);
    let t = Test::new();
    build_greet(
        &t,
        &["-c", "greet", "--root", "$RSHIV_TEST_UNSET"],
        "app.pyz",
    );
    t.mkdir("cwd");
    t.pyz(&python, "app.pyz")
        .current_dir("cwd")
        .env_remove("RSHIV_ROOT")
        .env_remove("RSHIV_TEST_UNSET")
        .env("XDG_CACHE_HOME", t.path("xdg"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert_eq!(listing(&t.path("cwd")), Vec::<String>::new());
    assert!(!listing(&t.path("xdg/rshiv")).is_empty());
}

/// `--build-id` replaces the computed id, in environment.json and in the cache path.
#[test]
fn build_id_names_the_extraction() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet", "--build-id", "release-42"], "app.pyz");
    assert_eq!(
        Pyz::open(t.path("app.pyz")).environment()["build_id"],
        "release-42"
    );
    t.pyz(&python, "app.pyz").run().success();
    assert!(t.root().join("app_release-42/site-packages").is_dir());
}

/// A `.py` preamble runs in-process before the entry point; another file runs as a command.
#[test]
fn preamble_runs_before_the_entry_point() {
    let python = python!(11);
    let t = Test::new();
    t.write("pre.py", "print('preamble', flush=True)\n");
    build_greet(&t, &["-c", "greet", "--preamble", "pre.py"], "py.pyz");
    t.pyz(&python, "py.pyz")
        .run()
        .success()
        .stdout_is("preamble\nhello from greet\n");

    let script = t.write("pre.sh", "#!/bin/sh\necho shell preamble\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the preamble executable");
    build_greet(&t, &["-c", "greet", "--preamble", "pre.sh"], "sh.pyz");
    t.pyz(&python, "sh.pyz")
        .run()
        .success()
        .stdout_is("shell preamble\nhello from greet\n");
}

/// shiv's preamble contract: globals `site_packages` (a `Path`), `env` (with attributes
/// like `build_id`) and `archive`, as shiv's documented cleanup preamble uses them.
#[test]
fn preamble_gets_shivs_globals() {
    let python = python!(11);
    let t = Test::new();
    t.write(
        "pre.py",
        "current = site_packages.parent\nname, build_id = current.name.rsplit('_', 1)\nprint(name, build_id == env.build_id, str(archive).endswith('app.pyz'), flush=True)\n",
    );
    build_greet(&t, &["-c", "greet", "--preamble", "pre.py"], "app.pyz");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("app True True\nhello from greet\n");
}

/// `--compile-pyc` leaves .pyc files beside every extracted source; without it, only the
/// imported modules get theirs.
#[test]
fn compile_pyc_compiles_at_extraction() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet", "--compile-pyc"], "pyc.pyz");
    build_greet(&t, &["-c", "greet"], "plain.pyz");
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
    // Without it, only what a run imports is compiled (bootstrap/bytecode.py): not
    // `greet/__main__.py`, which `--compile-pyc` compiled.
    let main_pyc = |f: &&String| f.starts_with("greet/__pycache__/__main__.");
    let plain = tree(&t.extraction("plain.pyz").join("site-packages"));
    assert!(!plain.iter().any(|f| main_pyc(&f)), "{plain:?}");
    let compiled = tree(&t.extraction("pyc.pyz").join("site-packages"));
    assert!(compiled.iter().any(|f| main_pyc(&f)), "{compiled:?}");
}

/// `--compile-pyc` shows a file that does not compile, and the run goes on.
#[test]
fn compile_pyc_shows_errors() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file("greet/broken.py", "def (:\n")]);
    t.build(
        &["greet", "-c", "greet", "--compile-pyc", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n")
        .stderr_contains("broken.py");
}

/// `--no-modify`: a changed or deleted extracted `.py` file stops the run, naming the file.
#[test]
fn no_modify_refuses_a_changed_extraction() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file("greet/other.py", "X = 1\n")]);
    t.build(
        &["greet", "-c", "greet", "--no-modify", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    let hashes = &Pyz::open(t.path("app.pyz")).environment()["hashes"];
    assert!(hashes.get("greet/__init__.py").is_some(), "{hashes}");
    t.pyz(&python, "app.pyz").run().success();
    let site = t.extraction("app.pyz").join("site-packages");
    std::fs::write(
        site.join("greet/__init__.py"),
        "def main():\n    print('changed')\n",
    )
    .expect("change an extracted file");
    t.pyz(&python, "app.pyz")
        .run()
        .failure()
        .stdout_is("")
        .stderr_line_with(&["greet/__init__.py"]);
    t.pyz(&python, "app.pyz")
        .env("SHIV_FORCE_EXTRACT", "1")
        .run()
        .success();
    std::fs::remove_file(site.join("greet/other.py")).expect("delete an extracted file");
    t.pyz(&python, "app.pyz")
        .run()
        .failure()
        .stderr_line_with(&["greet/other.py"]);
}

/// `--isolated` keeps the interpreter's own site-packages off `sys.path`.
#[test]
fn isolated_drops_system_site_packages() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:path", "--isolated"], "iso.pyz");
    let purelib = t
        .command(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .run()
        .stdout
        .trim()
        .to_owned();
    let out = t.pyz(&python, "iso.pyz").run();
    out.success();
    assert!(!out.lines().contains(&purelib.as_str()), "{}", out.stdout);
    let payload = t.extraction("iso.pyz").join("site-packages");
    assert!(out.lines().contains(&payload.to_string_lossy().as_ref()));
}

/// `-E` keeps the user's own PYTHONPATH for children, adding the payload to it.
#[test]
fn extend_pythonpath_keeps_the_users_entries() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/pp.py",
        "import os\n\n\ndef main():\n    print(os.environ['PYTHONPATH'])\n",
    )]);
    t.build(
        &["greet", "-E", "-e", "greet.pp:main", "-o", "pp.pyz"],
        &wheels,
    )
    .success();
    let mine = t.mkdir("mine");
    let out = t.pyz(&python, "pp.pyz").env("PYTHONPATH", &mine).run();
    out.success();
    let entries: Vec<&str> = out.stdout.trim().split(':').collect();
    let payload = t.extraction("pp.pyz").join("site-packages");
    assert!(entries.contains(&mine.as_str()), "{entries:?}");
    assert!(
        entries.contains(&payload.to_string_lossy().as_ref()),
        "{entries:?}"
    );
}

/// `--prune-old-builds`: the first run of a new build removes the app's older extractions.
#[test]
fn prune_old_builds_removes_older_extractions() {
    let python = python!(11);
    let t = Test::new();
    let extractions = || -> Vec<String> {
        listing(&t.root())
            .into_iter()
            .filter(|e| e.starts_with("app_"))
            .collect()
    };
    for (version, value) in [("1.0", "one"), ("2.0", "two")] {
        let wheels = t.path(format!("wheels-{version}"));
        Wheel::new("ver", version)
            .file("ver.py", format!("def main():\n    print({value:?})\n"))
            .write(&wheels);
        t.build(
            &[
                "ver",
                "-e",
                "ver:main",
                "--prune-old-builds",
                "-o",
                "app.pyz",
            ],
            &wheels,
        )
        .success();
        t.pyz(&python, "app.pyz")
            .run()
            .success()
            .stdout_is(&format!("{value}\n"));
    }
    let latest = t.extraction("app.pyz");
    let latest = latest.file_name().expect("a name").to_string_lossy();
    assert_eq!(extractions(), [latest]);
}

/// `--no-modify` with `--compile-pyc`: the bytecode written at extraction is not a change.
#[test]
fn no_modify_with_compile_pyc() {
    let python = python!(11);
    let t = Test::new();
    build_greet(
        &t,
        &["-c", "greet", "--no-modify", "--compile-pyc"],
        "app.pyz",
    );
    for _ in 0..2 {
        t.pyz(&python, "app.pyz")
            .run()
            .success()
            .stdout_is("hello from greet\n");
    }
}

/// The keys the bootstrap reads from the baked dict (`baked["name"]`, `_BAKED["name"]`,
/// `baked.get("name")`) and from its `native` record (`native["python"]`) are exactly the
/// fields `rshiv::archive::environment::{Baked, Native}` serialize (a multi-target one,
/// which has `targets`), and those it reads from a target (`target["python"]`) are
/// `BakedTarget`'s: a field renamed or dropped on either side fails here, not at some
/// user's first run.
#[test]
fn bootstrap_reads_exactly_the_baked_fields() {
    use rshiv::archive::environment::{Baked, BakedTarget, Native};
    use std::collections::BTreeSet;
    let fields = |value: serde_json::Value| -> BTreeSet<String> {
        value
            .as_object()
            .expect("serializes to an object")
            .keys()
            .cloned()
            .collect()
    };
    let several = Baked {
        targets: vec![BakedTarget::default()],
        ..Baked::default()
    };
    let baked = fields(serde_json::to_value(several).expect("Baked serializes"));
    let target =
        fields(serde_json::to_value(BakedTarget::default()).expect("BakedTarget serializes"));
    let native = fields(serde_json::to_value(Native::default()).expect("Native serializes"));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bootstrap");
    let mut read_baked = BTreeSet::new();
    let mut read_native = BTreeSet::new();
    let mut read_target = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("read bootstrap/") {
        let path = entry.expect("a bootstrap entry").path();
        if path.extension().is_none_or(|ext| ext != "py") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("read a bootstrap file");
        for key in [
            "baked[\"",
            "_BAKED[\"",
            "baked.get(\"",
            "native[\"",
            "target[\"",
        ] {
            let found = if key.starts_with("native") {
                &mut read_native
            } else if key.starts_with("target") {
                &mut read_target
            } else {
                &mut read_baked
            };
            for (at, _) in source.match_indices(key) {
                let rest = &source[at + key.len()..];
                let name = &rest[..rest.find('"').expect("a closing quote")];
                found.insert(name.to_owned());
            }
        }
    }
    // Recorded for tools reading the stub's `_BAKED`, not for the bootstrap.
    let unread_by_design = BTreeSet::from(["format".to_owned()]);
    let unknown: Vec<_> = read_baked.difference(&baked).collect();
    assert!(
        unknown.is_empty(),
        "bootstrap/*.py reads baked keys that Baked does not define: {unknown:?}"
    );
    let unread: Vec<_> = baked
        .difference(&read_baked)
        .filter(|field| !unread_by_design.contains(*field))
        .collect();
    assert!(
        unread.is_empty(),
        "Baked defines fields no bootstrap file reads: {unread:?}"
    );
    assert_eq!(
        read_native, native,
        "the bootstrap's native[...] keys and Native's fields differ"
    );
    let unknown: Vec<_> = read_target.difference(&target).collect();
    assert!(
        unknown.is_empty(),
        "bootstrap/*.py reads target keys that BakedTarget does not define: {unknown:?}"
    );
}
