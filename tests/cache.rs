//! The extraction cache: where a pyz extracts, that later runs reuse it, and that crashes
//! and concurrent first runs never leave a tree a later run trusts.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::python;
use crate::support::{build_greet, greet, listing, tree, Test, Wheel};

/// The first run extracts to `<root>/<name>_<build id>/site-packages` and marks it ready;
/// the second uses that tree as it is.
#[test]
fn second_run_uses_the_cache() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let extraction = t.extraction("app.pyz");
    let file = extraction.join("site-packages/greet/__init__.py");
    assert!(file.is_file(), "{:?}", tree(&t.root()));
    assert!(
        extraction.join(".rshiv-ready").is_file(),
        "no marker: {:?}",
        tree(&extraction)
    );
    let stamp = |path: &Path| {
        let meta = std::fs::metadata(path).expect("stat the extraction");
        (meta.ino(), meta.mtime(), meta.mtime_nsec())
    };
    let before = (stamp(&extraction.join("site-packages")), stamp(&file));
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert_eq!(
        before,
        (stamp(&extraction.join("site-packages")), stamp(&file))
    );
    let name = extraction
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    assert!(
        listing(&t.root())
            .iter()
            .all(|entry| entry == &name || entry.starts_with(".")),
        "{:?}",
        listing(&t.root())
    );
}

/// A renamed copy of a pyz shares the original's extraction (the name is baked).
#[test]
fn renamed_copy_shares_the_extraction() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    std::fs::copy(t.path("app.pyz"), t.path("renamed.pyz")).expect("copy the pyz");
    t.pyz(&python, "app.pyz").run().success();
    t.pyz(&python, "renamed.pyz").run().success();
    let extractions: Vec<String> = listing(&t.root())
        .into_iter()
        .filter(|entry| !entry.starts_with('.'))
        .collect();
    assert_eq!(extractions.len(), 1, "{extractions:?}");
}

/// Nothing of the payload leaks to where the pyz lies or to the current directory.
#[test]
fn running_writes_only_under_the_cache_root() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    let before = listing(t.dir());
    t.pyz(&python, "app.pyz").run().success();
    let mut after = listing(t.dir());
    after.retain(|entry| !before.contains(entry));
    assert_eq!(after, ["cache"]);
}

/// One extraction serves every CPython in turn, with and without `--compile-pyc`.
#[test]
fn one_extraction_serves_every_cpython() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for (flag, out) in [("--compile-pyc", "pyc.pyz"), ("-q", "plain.pyz")] {
        t.build(&["greet", "-c", "greet", flag, "-o", out], &wheels)
            .success();
        for (minor, python) in crate::support::pythons() {
            t.pyz(python, out)
                .run()
                .success()
                .stdout_is("hello from greet\n");
            assert!(t.extraction(out).is_dir(), "3.{minor}");
        }
    }
    let extractions = listing(&t.root())
        .into_iter()
        .filter(|e| !e.starts_with('.'))
        .count();
    assert_eq!(extractions, 2, "{:?}", listing(&t.root()));
}

/// Eight first runs at once all succeed and leave one extraction and no temp dirs.
#[test]
fn concurrent_first_runs_all_succeed() {
    let python = python!(11);
    let t = Test::new();
    let many: Vec<Wheel> = vec![(0..300).fold(greet(), |wheel, i| {
        wheel.file(&format!("greet/data/m{i}.py"), format!("X = {i}\n"))
    })];
    let wheels = t.wheels(&many);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| t.pyz(&python, "app.pyz").run()))
            .collect();
        for run in runs {
            run.join()
                .expect("a run thread")
                .success()
                .stdout_is("hello from greet\n");
        }
    });
    let entries = listing(&t.root());
    assert!(
        !entries
            .iter()
            .any(|e| e.contains(".tmp-") || e.starts_with(".trash-")),
        "{entries:?}"
    );
    assert_eq!(
        entries.iter().filter(|e| !e.starts_with('.')).count(),
        1,
        "{entries:?}"
    );
}

/// A first run killed part-way leaves nothing a later run trusts: the next run succeeds and
/// every file is whole.
#[test]
fn killed_first_run_is_recovered() {
    let python = python!(11);
    let t = Test::new();
    let body = "# padding\n".repeat(2000);
    let many: Vec<Wheel> = vec![(0..400).fold(greet(), |wheel, i| {
        wheel.file(&format!("greet/data/m{i}.py"), format!("X = {i}\n{body}"))
    })];
    let wheels = t.wheels(&many);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    for delay in [30, 80, 150] {
        let mut child = t.pyz(&python, "app.pyz").spawn(&t.path("killed.log"));
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        t.pyz(&python, "app.pyz")
            .run()
            .success()
            .stdout_is("hello from greet\n");
        let site = t.extraction("app.pyz").join("site-packages/greet/data");
        for i in 0..400 {
            let text = std::fs::read_to_string(site.join(format!("m{i}.py")))
                .unwrap_or_else(|e| panic!("m{i}.py after a kill at {delay} ms: {e}"));
            assert_eq!(text, format!("X = {i}\n{body}"), "m{i}.py");
        }
        let left: Vec<String> = listing(&t.root())
            .into_iter()
            .filter(|e| e.contains(".tmp-") || e.starts_with(".trash-"))
            .collect();
        assert!(left.is_empty(), "after a kill at {delay} ms: {left:?}");
        std::fs::remove_dir_all(t.root()).expect("clear the cache for the next round");
    }
}

/// A temp dir left by a crashed extraction is removed by the next cold run.
#[test]
fn stale_temp_dirs_are_removed() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    let name = t
        .extraction("app.pyz")
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let stale = t.root().join(format!(".{name}.tmp-99999-crashed"));
    std::fs::create_dir_all(stale.join("site-packages/greet")).expect("make a stale dir");
    std::fs::write(
        stale.join("site-packages/greet/__init__.py"),
        "raise SystemExit('stale')\n",
    )
    .expect("write a stale file");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert!(!stale.exists(), "{:?}", listing(&t.root()));
}

/// A tree without its `.rshiv-ready` marker is not trusted: the next run extracts again.
#[test]
fn unmarked_tree_is_extracted_again() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let extraction = t.extraction("app.pyz");
    std::fs::remove_file(extraction.join(".rshiv-ready")).expect("remove the marker");
    std::fs::write(
        extraction.join("site-packages/greet/__init__.py"),
        "def main():\n    print('half-written')\n",
    )
    .expect("spoil the tree");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert!(extraction.join(".rshiv-ready").is_file());
}

/// A run refreshes the marker's mtime ("last used") once it is over a minute old.
#[test]
fn a_run_marks_the_extraction_as_used() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:main"], "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let marker = t.extraction("app.pyz").join(".rshiv-ready");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&marker)
        .and_then(|file| file.set_modified(old))
        .expect("age the marker");
    t.pyz(&python, "app.pyz").run().success();
    let used = std::fs::metadata(&marker)
        .and_then(|meta| meta.modified())
        .expect("the marker's mtime");
    let age = used.elapsed().unwrap_or_default();
    assert!(
        age < std::time::Duration::from_secs(600),
        "marker is {age:?} old"
    );
}

/// A relative cache root is taken from the current directory once, at start: an app that
/// changes directory can still import from its payload.
#[test]
fn relative_root_survives_a_chdir() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/wander.py",
        "import os\n\n\ndef main():\n    os.chdir('/')\n    import greet.late\n    print(greet.late.VALUE)\n",
    )
    .file("greet/late.py", "VALUE = 'late import'\n")]);
    t.build(
        &["greet", "-e", "greet.wander:main", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.mkdir("work");
    t.pyz(&python, "app.pyz")
        .current_dir("work")
        .env("RSHIV_ROOT", "relative-cache")
        .run()
        .success()
        .stdout_is("late import\n");
    assert!(t.path("work/relative-cache").is_dir());
}

/// A pyz started from a directory that no longer exists still runs.
#[test]
fn deleted_current_directory() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    t.command("sh")
        .args([
            "-c",
            "mkdir gone && cd gone && rmdir ../gone && exec \"$0\" \"$1\"",
        ])
        .arg(&python)
        .arg(t.path("app.pyz"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// A writable cache root is where the pyz runs from, even when an earlier run with an
/// unusable root left the same build in the fallback root (`$TMPDIR/rshiv-UID`): the
/// configured root is what `rshiv cache` manages and what operators expect to hold it.
#[test]
fn writable_root_wins_over_the_fallback() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    let file = t.write("not-a-dir", "");
    t.pyz(&python, "app.pyz")
        .env("RSHIV_ROOT", &file)
        .run()
        .success();
    t.pyz(&python, "app.pyz").run().success();
    assert!(
        t.extraction("app.pyz").join(".rshiv-ready").is_file(),
        "nothing under RSHIV_ROOT: {:?}; under TMPDIR: {:?}",
        tree(&t.root()),
        tree(&t.path("tmp"))
    );
}

/// `rshiv cache list` and `clean` without `--root` see the extractions a pyz made in its
/// private fallback root (`$TMPDIR/rshiv-UID`) as well as those in the cache root.
#[test]
fn cache_commands_see_the_fallback_root() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    let blocked = t.write("not-a-dir", "").join("root");
    t.pyz(&python, "app.pyz")
        .env("RSHIV_ROOT", &blocked)
        .run()
        .success();
    let list = t
        .rshiv()
        .env("RSHIV_ROOT", &blocked)
        .args(["cache", "list"])
        .run();
    list.success()
        .stdout_contains("app")
        .stdout_contains("rshiv-");
    let clean = t
        .rshiv()
        .env("RSHIV_ROOT", &blocked)
        .args(["cache", "clean"])
        .run();
    clean.success().stdout_contains("removed app_");
    let fallback = t.path("tmp").join(
        listing(&t.path("tmp"))
            .into_iter()
            .find(|e| e.starts_with("rshiv-"))
            .expect("the fallback root"),
    );
    assert!(
        listing(&fallback).iter().all(|e| e.starts_with('.')),
        "{:?}",
        listing(&fallback)
    );
}

/// `rshiv cache clean` removes, with an extraction, this user's bytecode mirror of it in the
/// private fallback root (`$TMPDIR/rshiv-UID/.bytecode/<name>_<id>`, which a run leaves for
/// an extraction it may not write); the mirror of an extraction it keeps stays.
#[test]
fn clean_removes_the_bytecode_mirror_of_what_it_removes() {
    use std::os::unix::fs::PermissionsExt;

    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let stem = t.extraction("app.pyz").file_name().unwrap().to_owned();
    let fallback = format!("tmp/rshiv-{}", rshiv::cache::current_uid());
    t.mkdir(&fallback);
    let private = std::fs::Permissions::from_mode(0o700);
    std::fs::set_permissions(t.path(&fallback), private).unwrap();
    let mirrors = t.path(&fallback).join(".bytecode");
    let pyc = "site-packages/greet/__pycache__/__init__.cpython-311.pyc";
    let mirror = mirrors.join(&stem);
    t.write(mirror.join(pyc), "bytecode");
    let kept = mirrors.join("other_0123abcd");
    t.write(kept.join(pyc), "bytecode");
    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains("removed app_");
    assert!(!mirror.exists(), "{:?}", tree(&mirrors));
    assert!(kept.join(pyc).is_file(), "{:?}", tree(&mirrors));
}
