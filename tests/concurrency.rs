//! A pyz among others: the extraction lock and its timeout, and runs that must not disturb
//! one another (a forced re-extraction or a rebuild while a copy is running).

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::python;
use crate::support::{build_greet, hold_flock, wait_exit, wait_for, Test, Wheel};

/// How long to wait for a spawned process to reach a point.
const PATIENCE: Duration = Duration::from_secs(60);

/// An app that signals `$READY`, waits for `$GO`, then imports a module it had not
/// imported yet and prints its value: a long-running process that still needs its files.
fn waiter(version: &str, value: &str) -> Wheel {
    Wheel::new("waiter", version)
        .file(
            "waiter/__init__.py",
            r#"import os
import time


def main():
    open(os.environ["READY"], "w").close()
    while not os.path.exists(os.environ["GO"]):
        time.sleep(0.01)
    import waiter.late

    print(waiter.late.VALUE)


def quick():
    print("quick")
"#,
        )
        .file("waiter/late.py", format!("VALUE = {value:?}\n"))
}

/// Hold an exclusive flock on `lock` in a child Python until it is killed; returns once held.
fn hold_lock(t: &Test, python: &Path, lock: &Path) -> Child {
    hold_flock(t, python, lock, &t.path("never-released"), PATIENCE)
}

/// The extraction lock file of `pyz` under the test's root.
fn lock_of(t: &Test, pyz: &str) -> std::path::PathBuf {
    let extraction = t.extraction(pyz);
    let stem = extraction.file_name().expect("a name").to_string_lossy();
    t.root().join(format!(".{stem}.lock"))
}

/// A cold run that cannot get the extraction lock gives up after `RSHIV_LOCK_TIMEOUT`
/// seconds with one line naming the lock file.
#[test]
fn lock_timeout_names_the_lock() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    std::fs::create_dir_all(t.root()).expect("create the cache root");
    let lock = lock_of(&t, "app.pyz");
    let mut holder = hold_lock(&t, &python, &lock);
    let started = Instant::now();
    let out = t
        .pyz(&python, "app.pyz")
        .env("RSHIV_LOCK_TIMEOUT", "1")
        .run();
    let waited = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    out.failure()
        .stderr_line_with(&[&lock.file_name().expect("a name").to_string_lossy()]);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(30),
        "gave up after {waited:?}"
    );
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// A cold run waits for the lock and goes on once it is released.
#[test]
fn cold_run_waits_for_the_lock() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    std::fs::create_dir_all(t.root()).expect("create the cache root");
    let mut holder = hold_lock(&t, &python, &lock_of(&t, "app.pyz"));
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let _ = holder.kill();
        let _ = holder.wait();
    });
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    release.join().expect("the releasing thread");
}

/// Start `app.pyz` with the `waiter` entry point and wait until it is running.
fn start_waiter(t: &Test, python: &Path, log: &str) -> Child {
    let child = t
        .pyz(python, "app.pyz")
        .env("READY", t.path(format!("{log}.ready")))
        .env("GO", t.path("go"))
        .spawn(&t.path(log));
    wait_for(&t.path(format!("{log}.ready")), PATIENCE);
    child
}

/// Let the waiter go on; its exit code and output.
fn finish_waiter(t: &Test, mut child: Child, log: &str) -> (Option<i32>, String) {
    std::fs::write(t.path("go"), "").expect("write the go file");
    let status = wait_exit(&mut child, "the waiter", PATIENCE);
    (
        status.code(),
        String::from_utf8_lossy(&t.read(log)).into_owned(),
    )
}

/// `SHIV_FORCE_EXTRACT` while another copy runs: the running copy can still import its
/// files, and the forced run gets a fresh tree.
#[test]
fn force_extract_does_not_break_a_running_copy() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[waiter("1.0", "old")]);
    t.build(&["waiter", "-e", "waiter:main", "-o", "app.pyz"], &wheels)
        .success();
    let running = start_waiter(&t, &python, "running.log");
    t.pyz(&python, "app.pyz")
        .env("SHIV_ENTRY_POINT", "waiter:quick")
        .env("SHIV_FORCE_EXTRACT", "1")
        .run()
        .success()
        .stdout_is("quick\n");
    let (code, log) = finish_waiter(&t, running, "running.log");
    assert_eq!((code, log.as_str()), (Some(0), "old\n"));
}

/// Rebuilding the pyz while a copy runs: the running copy keeps its own files, and the next
/// run gets the new build.
#[test]
fn rebuild_does_not_break_a_running_copy() {
    let python = python!(11);
    let t = Test::new();
    let old = t.wheels(&[waiter("1.0", "old")]);
    t.build(&["waiter", "-e", "waiter:main", "-o", "app.pyz"], &old)
        .success();
    let running = start_waiter(&t, &python, "running.log");
    // A new version: installers may cache a wheel by its file name.
    std::fs::remove_dir_all(&old).expect("drop the old wheel");
    let new = t.wheels(&[waiter("2.0", "new")]);
    t.build(&["waiter", "-e", "waiter:main", "-o", "app.pyz"], &new)
        .success();
    let (code, log) = finish_waiter(&t, running, "running.log");
    assert_eq!((code, log.as_str()), (Some(0), "old\n"));
    t.pyz(&python, "app.pyz")
        .env("SHIV_ENTRY_POINT", "waiter:quick")
        .run()
        .success();
    let next = start_waiter(&t, &python, "next.log");
    let (code, log) = finish_waiter(&t, next, "next.log");
    assert_eq!((code, log.as_str()), (Some(0), "new\n"));
}
