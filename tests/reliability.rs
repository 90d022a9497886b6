//! The runtime under stress (issue 5's reliability list, and issue 4's `--prune-old-builds`):
//! crowds of first runs, first runs killed at any moment, a cache root it cannot write, a
//! full disk, payloads over 65,535 files on CPython 3.8, the status line of a slow first
//! run; plus the shell completions and man page an operator installs.
//!
//! Payloads are written straight into a `--site-packages` directory, so builds need no
//! installer. Each test checks what a user sees: exit codes, output, and the cache root.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::{
    any_python, hold_flock, listing, on_path, tree, wait_exit, Output, Pyz, Test,
};
use crate::{python, require};

/// How long to wait for a spawned process to reach a point or to end.
const PATIENCE: Duration = Duration::from_secs(120);

/// The completion marker of a published extraction.
const MARKER: &str = ".rshiv-ready";

/// Build `<sp>` into `<out>` with entry point `main:main`, plus `extra` options.
fn build(t: &Test, sp: &str, out: &str, extra: &[&str]) {
    if let Some(parent) = Path::new(out).parent() {
        t.mkdir(parent);
    }
    t.rshiv()
        .args(["--site-packages", sp, "-e", "main:main", "-o", out])
        .args(extra)
        .run()
        .success();
}

/// `n` bytes that deflate cannot shrink (xorshift64*), different for each `seed`.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A site-packages dir `sp` with `main.py` printing `printed`, `small` modules of a few KB
/// and `blobs` files of `blob_mb` MB of noise: a payload whose extraction takes a moment.
fn heavy_payload(t: &Test, sp: &str, printed: &str, small: usize, blobs: usize, blob_mb: usize) {
    t.write(
        format!("{sp}/main.py"),
        format!("def main():\n    print({printed:?})\n"),
    );
    for i in 0..small {
        let text = format!("VALUE = {i}\n# {}\n", "x".repeat(1000 + i * 7 % 3000));
        t.write(format!("{sp}/heavy/m{}/f{i}.py", i / 50), text);
    }
    for i in 0..blobs {
        t.write(
            format!("{sp}/heavy/data/blob{i}.bin"),
            noise(blob_mb << 20, i as u64 + 1),
        );
    }
}

/// A site-packages dir `sp` of `count` one-line modules `bulk/d<k>/f<i>.py` (namespace
/// packages) and `main.py` printing the last one's value; written directly, for speed.
fn many_files(t: &Test, sp: &str, count: usize) {
    let last = count - 1;
    t.write(
        format!("{sp}/main.py"),
        format!(
            "def main():\n    import bulk.d{}.f{last} as m\n    print(m.VALUE)\n",
            last / 1000
        ),
    );
    for dir in 0..=last / 1000 {
        let path = t.path(format!("{sp}/bulk/d{dir}"));
        std::fs::create_dir_all(&path).expect("create a bulk directory");
        for i in dir * 1000..((dir + 1) * 1000).min(count) {
            std::fs::write(path.join(format!("f{i}.py")), format!("VALUE = {i}\n"))
                .expect("write a bulk module");
        }
    }
}

/// `<name>_<build id>`: the directory `pyz` extracts to under any root.
fn extraction_name(t: &Test, pyz: &str) -> String {
    t.extraction(pyz)
        .file_name()
        .expect("an extraction has a name")
        .to_string_lossy()
        .into_owned()
}

/// Every payload file of `pyz` with its size.
fn payload_sizes(pyz: &Path) -> BTreeMap<String, u64> {
    Pyz::open(pyz)
        .payload()
        .into_iter()
        .filter(|member| !member.name.ends_with('/'))
        .map(|member| (member.name, member.data.len() as u64))
        .collect()
}

/// `root` after first runs: exactly one published extraction `stem`, no `.tmp-*` or
/// `.trash-*` left, and every payload file in its `site-packages` with its size.
#[track_caller]
fn assert_one_complete_extraction(root: &Path, stem: &str, payload: &BTreeMap<String, u64>) {
    assert_eq!(
        extractions(root),
        [stem],
        "extractions in {}",
        root.display()
    );
    assert_no_leftovers(root);
    assert_complete(root, stem, payload);
}

/// No `.tmp-*` or `.trash-*` dir in `root`.
#[track_caller]
fn assert_no_leftovers(root: &Path) {
    let leftovers: Vec<String> = listing(root)
        .into_iter()
        .filter(|n| n.contains(".tmp-") || n.starts_with(".trash-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "leftovers in {}: {leftovers:?}",
        root.display()
    );
}

/// `<root>/<stem>` is published and its `site-packages` holds every payload file with its
/// size, and nothing else.
#[track_caller]
fn assert_complete(root: &Path, stem: &str, payload: &BTreeMap<String, u64>) {
    let extraction = root.join(stem);
    assert!(
        extraction.join(MARKER).is_file(),
        "no marker in {}",
        extraction.display()
    );
    let site = extraction.join("site-packages");
    // Bytecode the runs wrote (bootstrap/bytecode.py) is a cache, not part of the payload.
    let found: BTreeMap<String, u64> = tree(&site)
        .into_iter()
        .filter(|name| !name.contains("__pycache__/"))
        .map(|name| {
            let size = std::fs::metadata(site.join(&name)).map_or(u64::MAX, |m| m.len());
            (name, size)
        })
        .collect();
    let missing: Vec<&String> = payload.keys().filter(|n| !found.contains_key(*n)).collect();
    let wrong: Vec<(&String, u64)> = found
        .iter()
        .filter(|(name, size)| payload.get(*name) != Some(size))
        .map(|(name, size)| (name, *size))
        .collect();
    assert!(
        missing.is_empty() && wrong.is_empty(),
        "{}: {} payload files missing (first {:?}); {} extra or of the wrong size (first {:?})",
        site.display(),
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
}

/// Run the pyz files `runs` (paths in the test dir, each with the output it must print)
/// all at once into the test's root with the variables `env`, released together by a gate
/// (util-linux `flock`, when there is one); each must exit 0 with its output.
fn crowd(t: &Test, python: &Path, runs: &[(&str, &str)], env: &[(&str, &str)]) {
    let gate = t.path("gate");
    let release = t.path("release");
    let flock = on_path("flock");
    let mut holder = flock
        .as_ref()
        .map(|_| hold_flock(t, python, &gate, &release, PATIENCE));
    let mut children: Vec<Child> = runs
        .iter()
        .enumerate()
        .map(|(i, (pyz, _))| {
            let mut command = match &flock {
                Some(flock) => {
                    let mut command = t.command(flock);
                    command.arg("-s").arg(&gate).arg(python);
                    command
                }
                None => t.command(python),
            };
            for (key, value) in env {
                command.env(key, value);
            }
            command
                .arg(t.path(pyz))
                .spawn(&t.path(format!("run-{i}.log")))
        })
        .collect();
    if let Some(holder) = &mut holder {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&release, "").expect("open the gate");
        wait_exit(holder, "the gate holder", PATIENCE);
    }
    for (i, (child, (pyz, printed))) in children.iter_mut().zip(runs).enumerate() {
        let status = wait_exit(child, "a concurrent run", PATIENCE);
        let log = String::from_utf8_lossy(&t.read(format!("run-{i}.log"))).into_owned();
        assert!(
            status.success() && log == *printed,
            "run {i} of {}, {pyz}: {status}, output:\n{log}",
            runs.len()
        );
    }
}

/// 32 first runs of one pyz released at the same instant into an empty cache root: all
/// exit 0 with the app's output, and the root holds one complete extraction, nothing else.
#[test]
fn thirty_two_concurrent_first_runs() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "crowd ok", 400, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    crowd(&t, &python, &[("app.pyz", "crowd ok\n"); 32], &[]);
    assert_one_complete_extraction(
        &t.root(),
        &extraction_name(&t, "app.pyz"),
        &payload_sizes(&t.path("app.pyz")),
    );
}

/// 8 runs with `SHIV_FORCE_EXTRACT` at once over a published extraction: all exit 0, and
/// one complete extraction is left, with no temp dir (a replaced tree still in use may stay
/// in the trash for `rshiv cache clean`).
#[test]
fn concurrent_forced_extractions() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "forced", 200, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    t.pyz(&python, "app.pyz").run().success();
    crowd(
        &t,
        &python,
        &[("app.pyz", "forced\n"); 8],
        &[("SHIV_FORCE_EXTRACT", "1")],
    );
    let stem = extraction_name(&t, "app.pyz");
    assert_eq!(extractions(&t.root()), [stem.as_str()]);
    assert_complete(&t.root(), &stem, &payload_sizes(&t.path("app.pyz")));
    let temp: Vec<String> = listing(&t.root())
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temp.is_empty(), "{temp:?}");
}

/// Whether a first run is unpacking into `root`: files are appearing in a temp dir.
fn unpacking(root: &Path) -> bool {
    listing(root)
        .iter()
        .filter(|name| name.contains(".tmp-"))
        .any(|name| !listing(&root.join(name).join("site-packages")).is_empty())
}

/// Return as soon as the first run `run` is unpacking into `root`, or has ended.
fn wait_until_unpacking(root: &Path, run: &mut Child) {
    let started = Instant::now();
    while !unpacking(root) && run.try_wait().ok().flatten().is_none() {
        assert!(started.elapsed() < PATIENCE, "the first run never unpacked");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where a first run into `root` stands: published, extracting (a temp dir exists), or
/// not yet started unpacking.
fn moment(root: &Path, stem: &str) -> &'static str {
    if root.join(stem).join(MARKER).exists() {
        "published"
    } else if listing(root).iter().any(|n| n.contains(".tmp-")) {
        "extracting"
    } else {
        "starting"
    }
}

/// A first run killed with SIGKILL at moments spread over its extraction (24 MB of noise
/// and 300 modules), the first time as soon as its files appear: each time a run started
/// beside it (every other time) and the next run exit 0, with the whole tree and no temp
/// dir left by the killed one.
#[test]
fn first_run_killed_at_any_moment() {
    const KILLS: u32 = 8;
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "survived", 300, 4, 6);
    build(&t, "sp", "app.pyz", &[]);
    let stem = extraction_name(&t, "app.pyz");
    let payload = payload_sizes(&t.path("app.pyz"));
    let alone = t
        .pyz(&python, "app.pyz")
        .env("RSHIV_ROOT", t.path("alone"))
        .run();
    alone.success().stdout_is("survived\n");
    let window = alone.elapsed.mul_f64(1.2).max(Duration::from_millis(300));
    let mut landed = Vec::new();
    for i in 0..KILLS {
        let root = t.path(format!("root-{i}"));
        let start = |log: String| {
            t.pyz(&python, "app.pyz")
                .env("RSHIV_ROOT", &root)
                .spawn(&t.path(log))
        };
        let mut victim = start(format!("victim-{i}.log"));
        let companion = (i % 2 == 1).then(|| start(format!("companion-{i}.log")));
        if i == 0 {
            wait_until_unpacking(&root, &mut victim);
        } else {
            std::thread::sleep(window.mul_f64(f64::from(i) / f64::from(KILLS - 1)));
        }
        landed.push(moment(&root, &stem));
        let _ = victim.kill();
        let _ = victim.wait();
        if let Some(mut companion) = companion {
            let status = wait_exit(&mut companion, "a run beside a killed one", PATIENCE);
            let log = String::from_utf8_lossy(&t.read(format!("companion-{i}.log"))).into_owned();
            assert!(
                status.success() && log == "survived\n",
                "a run beside one killed while {}: {status}\n{log}",
                landed[landed.len() - 1]
            );
        }
        t.pyz(&python, "app.pyz")
            .env("RSHIV_ROOT", &root)
            .run()
            .success()
            .stdout_is("survived\n");
        assert_one_complete_extraction(&root, &stem, &payload);
    }
    eprintln!(
        "first run alone: {:?}; kills landed: {landed:?}",
        alone.elapsed
    );
}

/// Ctrl-C (SIGINT) while a first run unpacks: exit 130 without a traceback, and its temp
/// dir is gone at once, not left for the next run to clean.
#[test]
fn ctrl_c_during_a_first_run_cleans_up() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "interrupted", 1000, 4, 6);
    build(&t, "sp", "app.pyz", &[]);
    let mut finished = 0;
    for i in 0..3 {
        let root = t.path(format!("root-{i}"));
        let log = t.path(format!("run-{i}.log"));
        let mut run = t
            .pyz(&python, "app.pyz")
            .env("RSHIV_ROOT", &root)
            .spawn(&log);
        wait_until_unpacking(&root, &mut run);
        t.command("kill")
            .args(["-INT", &run.id().to_string()])
            .run()
            .success();
        let status = wait_exit(&mut run, "an interrupted first run", PATIENCE);
        let log = String::from_utf8_lossy(&t.read(format!("run-{i}.log"))).into_owned();
        if status.success() {
            finished += 1; // it had finished unpacking before the signal came
            continue;
        }
        assert_eq!(status.code(), Some(130), "after Ctrl-C:\n{log}");
        assert!(!log.contains("Traceback"), "after Ctrl-C:\n{log}");
        assert_no_leftovers(&root);
        assert!(extractions(&root).is_empty(), "{:?}", listing(&root));
    }
    if finished == 3 {
        eprintln!("skipped: every run finished unpacking before its Ctrl-C");
    }
}

/// What crashed runs leave (a temp dir holding part of a tree, a trash dir without its
/// marker) is removed by the next first run, which takes the extraction lock.
#[test]
fn next_first_run_removes_stale_leftovers() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "clean", 20, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    let stem = extraction_name(&t, "app.pyz");
    let tmp = format!("cache/.{stem}.tmp-999999-0badc0de");
    let trash = format!("cache/.trash-{stem}-999999-0badc0de");
    t.write(format!("{tmp}/site-packages/main.py"), "half a file");
    t.write(format!("{trash}/site-packages/main.py"), "an old tree");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("clean\n");
    assert_one_complete_extraction(&t.root(), &stem, &payload_sizes(&t.path("app.pyz")));
}

/// `$TMPDIR/rshiv-<uid>` for `tmp`: the private root a pyz falls back to.
fn fallback_root(t: &Test, tmp: &str) -> PathBuf {
    let uid = std::fs::metadata(t.dir()).expect("stat the test dir").uid();
    Path::new(tmp).join(format!("rshiv-{uid}"))
}

/// A run that fell back: it printed `printed`, exited 0, and its stderr is one warning
/// line naming the cache root and the fallback.
#[track_caller]
fn assert_fell_back(out: &Output, printed: &str, root: &Path, fallback: &Path) {
    out.success().stdout_is(printed);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one warning line, got:\n{}", out.stderr);
    out.stderr_line_with(&[
        "warning",
        &root.to_string_lossy(),
        &fallback.to_string_lossy(),
    ]);
}

/// A cache root that cannot be created (it lies under a regular file): the run succeeds
/// with one warning line naming both places and unpacks into `$TMPDIR/rshiv-<uid>` (0700);
/// the next run finds that extraction at once, silently.
#[test]
fn unwritable_root_falls_back_to_a_private_dir() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "fell back", 20, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    let root = t.write("blocker", "a file, not a directory").join("sub");
    let tmp = t.mkdir("tmp");
    let fallback = fallback_root(&t, &tmp);
    let run = || {
        t.pyz(&python, "app.pyz")
            .env("RSHIV_ROOT", &root)
            .env("TMPDIR", &tmp)
            .run()
    };
    assert_fell_back(&run(), "fell back\n", &root, &fallback);
    let stem = extraction_name(&t, "app.pyz");
    assert_one_complete_extraction(&fallback, &stem, &payload_sizes(&t.path("app.pyz")));
    let mode = std::fs::metadata(&fallback)
        .expect("stat the fallback")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{}", fallback.display());
    let marker = std::fs::metadata(fallback.join(&stem).join(MARKER)).expect("the marker");
    let second = run();
    second.success().stdout_is("fell back\n");
    assert_eq!(
        second.stderr, "",
        "the second run reuses the fallback silently"
    );
    let again = std::fs::metadata(fallback.join(&stem).join(MARKER)).expect("the marker");
    assert_eq!(marker.ino(), again.ino(), "the second run unpacked again");
}

/// A fallback root that others could write (mode 0777) or that is a symlink is refused:
/// one error line naming it, no traceback, and nothing unpacked into it.
#[test]
fn a_fallback_that_is_not_private_is_refused() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "unreachable", 5, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    let root = t.write("blocker", "a file, not a directory").join("sub");
    let shared = t.mkdir("shared-tmp");
    let shared_fallback = fallback_root(&t, &shared);
    std::fs::create_dir(&shared_fallback).expect("create the shared fallback");
    std::fs::set_permissions(&shared_fallback, std::fs::Permissions::from_mode(0o777))
        .expect("open the fallback to all");
    let linked = t.mkdir("linked-tmp");
    let target = t.mkdir("elsewhere");
    std::os::unix::fs::symlink(&target, fallback_root(&t, &linked)).expect("link the fallback");
    for (tmp, fallback, inside) in [
        (&shared, shared_fallback.clone(), shared_fallback.clone()),
        (&linked, fallback_root(&t, &linked), PathBuf::from(&target)),
    ] {
        let out = t
            .pyz(&python, "app.pyz")
            .env("RSHIV_ROOT", &root)
            .env("TMPDIR", tmp)
            .run();
        out.failure()
            .stdout_is("")
            .stderr_line_with(&["error", &fallback.to_string_lossy()]);
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one error line:\n{}",
            out.stderr
        );
        assert!(listing(&inside).is_empty(), "{:?}", listing(&inside));
    }
}

/// A cache root on a read-only mount: the run falls back as above, with one warning.
#[test]
fn read_only_root_falls_back_to_a_private_dir() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "read-only", 5, 0, 0);
    build(&t, "sp", "app.pyz", &[]);
    let root = t.mkdir("read-only-root");
    let tmp = t.mkdir("tmp");
    let out = require!(
        run_with_mount(
            &t,
            &python,
            &root,
            r#"mount --bind -o ro "$RSHIV_ROOT" "$RSHIV_ROOT""#,
            "true",
            ("TMPDIR", Path::new(&tmp)),
        ),
        "cannot mount in a mount namespace (unshare -m / -rm)"
    );
    let fallback = fallback_root(&t, &tmp);
    assert_fell_back(&out, "read-only\n", Path::new(&root), &fallback);
    assert!(
        listing(Path::new(&root)).is_empty(),
        "{:?}",
        listing(Path::new(&root))
    );
    assert_one_complete_extraction(
        &fallback,
        &extraction_name(&t, "app.pyz"),
        &payload_sizes(&t.path("app.pyz")),
    );
}

/// How to get a private mount namespace here: `unshare -m`, else `unshare -rm` (a user
/// namespace too); None when neither can mount a tmpfs.
fn mount_namespace(t: &Test) -> Option<Vec<&'static str>> {
    let probe = t.mkdir("probe");
    [vec!["-m"], vec!["-r", "-m"]].into_iter().find(|flags| {
        t.command("unshare")
            .args(flags)
            .args(["mount", "-t", "tmpfs", "-o", "size=1m", "rshiv-probe"])
            .arg(&probe)
            .run()
            .code
            == Some(0)
    })
}

/// In a private mount namespace: the shell command `mount` (it sees `$RSHIV_ROOT`), then
/// `python app.pyz` with `RSHIV_ROOT=root` and `env`, then the shell command `after`, whose
/// effects the namespace's end would hide. None when this machine cannot mount so.
fn run_with_mount(
    t: &Test,
    python: &Path,
    root: &str,
    mount: &str,
    after: &str,
    env: (&str, &Path),
) -> Option<Output> {
    let flags = mount_namespace(t)?;
    let script = format!("{mount} || exit 97\n\"$@\"\ncode=$?\n{after}\nexit $code");
    let out = t
        .command("unshare")
        .args(&flags)
        .args(["sh", "-c", &script, "sh"])
        .arg(python)
        .arg(t.path("app.pyz"))
        .env("RSHIV_ROOT", root)
        .env(env.0, env.1)
        .run();
    assert_ne!(out.code, Some(97), "`{mount}` failed: {}", out.stderr);
    Some(out)
}

/// A cache root on a 2 MB tmpfs and a 24 MB payload: the run fails with one error line
/// that names the root and the lack of space, no traceback, and leaves no partial tree.
#[test]
fn disk_full_is_one_clear_error() {
    let python = python!(11);
    let t = Test::new();
    heavy_payload(&t, "sp", "unreachable", 50, 4, 6);
    build(&t, "sp", "app.pyz", &[]);
    let root = t.mkdir("small-root");
    let out = require!(
        run_with_mount(
            &t,
            &python,
            &root,
            r#"mount -t tmpfs -o size=2m rshiv-full "$RSHIV_ROOT""#,
            r#"ls -A "$RSHIV_ROOT" > "$LISTING""#,
            ("LISTING", &t.path("after-listing")),
        ),
        "cannot mount a tmpfs in a mount namespace (unshare -m / -rm)"
    );
    out.failure()
        .stdout_is("")
        .stderr_line_with(&["space", &root]);
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one error line:\n{}",
        out.stderr
    );
    let left = String::from_utf8_lossy(&t.read("after-listing")).into_owned();
    let partial: Vec<&str> = left.lines().filter(|n| !n.ends_with(".lock")).collect();
    assert!(partial.is_empty(), "left in the full root: {partial:?}");
}

/// 66,000 files (more than a zip without ZIP64 can list) run on CPython 3.8, first and
/// warm, and all of them are extracted. The files and the cache root live on /dev/shm when
/// there is one: 66,000 files on a busy disk would measure the disk.
#[test]
fn over_65535_files_run_on_python_3_8() {
    const FILES: usize = 66_000;
    let python = python!(8);
    let t = Test::new();
    let shm = Path::new("/dev/shm");
    let scratch = tempfile::Builder::new()
        .prefix("rshiv-test-")
        .tempdir_in(if shm.is_dir() { shm } else { t.dir() })
        .expect("create a scratch directory");
    let sp = scratch.path().join("sp");
    let root = scratch.path().join("root");
    many_files(&t, &sp.to_string_lossy(), FILES);
    build(&t, &sp.to_string_lossy(), "many.pyz", &[]);
    for _first_then_warm in 0..2 {
        t.pyz(&python, "many.pyz")
            .env("RSHIV_ROOT", &root)
            .run()
            .success()
            .stdout_is(&format!("{}\n", FILES - 1));
    }
    let payload = payload_sizes(&t.path("many.pyz"));
    assert_eq!(
        payload.len(),
        FILES + 1,
        "the payload: {FILES} modules and main.py"
    );
    assert_one_complete_extraction(&root, &extraction_name(&t, "many.pyz"), &payload);
}

/// `DRIVER MODE ROOT ARGV...`: run ARGV with its stderr on a pseudo-terminal (MODE `tty`)
/// or a pipe (`pipe`), then print what reached it on our stderr (newlines restored); ARGV's
/// stdout and exit code pass through. With ROOT other than `-`, stall the run as a slow disk
/// would: SIGSTOP it for 1.5 s as soon as files appear in a temp dir under ROOT, and print
/// `stalled` on stdout after its output. ARGV runs at nice 19, so that on a busy machine the
/// driver still sees it early in its unpacking.
const DRIVER: &str = r#"import os, pty, signal, subprocess, sys, threading, time
mode, root, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = pty.openpty() if mode == "tty" else os.pipe()
child = subprocess.Popen(argv, stderr=slave, preexec_fn=lambda: os.nice(19))
os.close(slave)
seen = []
def read():
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return
        if not chunk:
            return
        seen.append(chunk)
reader = threading.Thread(target=read)
reader.start()
stalled = False
def unpacking():
    tmp = [n for n in (os.listdir(root) if os.path.isdir(root) else []) if ".tmp-" in n]
    return any(os.listdir(os.path.join(root, n, "site-packages")) for n in tmp)
while root != "-" and not stalled and child.poll() is None:
    try:
        busy = unpacking()
    except OSError:
        busy = False
    if busy:
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(1.5)
        os.kill(child.pid, signal.SIGCONT)
        stalled = True
    time.sleep(0.002)
code = child.wait()
reader.join()
sys.stderr.buffer.write(b"".join(seen).replace(b"\r\n", b"\n"))
if stalled:
    print("stalled", flush=True)
sys.exit(code)
"#;

/// A first run that unpacks for over a second (stalled by SIGSTOP, as on a slow disk) shows
/// one `rshiv: unpacking …` line naming the app and its size when stderr is a terminal, and
/// nothing when stderr is a pipe; a quick first run shows nothing even on a terminal.
#[test]
fn status_line_only_for_a_slow_first_run_on_a_terminal() {
    let python = python!(11);
    let driver = require!(any_python(), "no CPython to drive a pseudo-terminal");
    let t = Test::new();
    heavy_payload(&t, "slow-sp", "slow", 1000, 2, 6);
    build(&t, "slow-sp", "slow.pyz", &[]);
    heavy_payload(&t, "quick-sp", "quick", 5, 0, 0);
    build(&t, "quick-sp", "quick.pyz", &[]);
    let run = |mode: &str, pyz: &str, root: &str, stall: bool| {
        let root = t.path(root);
        let watched = if stall {
            root.clone()
        } else {
            PathBuf::from("-")
        };
        t.command(&driver)
            .args(["-c", DRIVER, mode])
            .arg(watched)
            .arg(&python)
            .arg(t.path(pyz))
            .env("RSHIV_ROOT", root)
            .run()
    };
    let quick = run("tty", "quick.pyz", "quick-root", false);
    quick.success().stdout_is("quick\n");
    assert_eq!(
        quick.stderr, "",
        "a quick first run prints nothing on a terminal"
    );
    let piped = run("pipe", "slow.pyz", "piped-root", true);
    piped.success();
    assert_eq!(piped.stderr, "", "stderr is a pipe: no status line");
    let shown = run("tty", "slow.pyz", "tty-root", true);
    shown.success();
    if piped.stdout != "slow\nstalled\n" || shown.stdout != "slow\nstalled\n" {
        eprintln!(
            "skipped: a first run ended before it could be stalled ({:?}, {:?})",
            piped.stdout, shown.stdout
        );
        return;
    }
    let lines: Vec<&str> = shown.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one status line, got:\n{}", shown.stderr);
    assert!(
        lines[0].starts_with("rshiv: unpacking")
            && lines[0].contains("slow")
            && lines[0].contains("MB"),
        "the status line says what is unpacked and how big: {:?}",
        lines[0]
    );
}

/// An app `main` of version `version` (distinct payloads, so distinct build ids): prints
/// its version, or with `$READY` set signals it, waits for `$GO`, then imports a module it
/// had not imported yet (it needs its files to the end).
fn versioned_app(t: &Test, sp: &str, version: &str) {
    t.write(
        format!("{sp}/main.py"),
        format!(
            r#"import os
import time


def main():
    if not os.environ.get("READY"):
        print({version:?})
        return
    open(os.environ["READY"], "w").close()
    while not os.path.exists(os.environ["GO"]):
        time.sleep(0.01)
    import late

    print(late.VALUE)
"#
        ),
    );
    t.write(
        format!("{sp}/late.py"),
        format!("VALUE = 'late {version}'\n"),
    );
}

/// The published extractions (no dot names) under `root`.
fn extractions(root: &Path) -> Vec<String> {
    listing(root)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect()
}

/// `--prune-old-builds`: a new build's first run leaves an older extraction that a running
/// process uses, and a later first run removes the older ones nothing uses any more.
#[test]
fn prune_old_builds_spares_what_runs() {
    let python = python!(11);
    let t = Test::new();
    for version in ["v1", "v2", "v3"] {
        versioned_app(&t, &format!("sp-{version}"), version);
        build(
            &t,
            &format!("sp-{version}"),
            &format!("{version}/app.pyz"),
            &["--prune-old-builds"],
        );
    }
    let [v1, v2, v3] = ["v1", "v2", "v3"].map(|v| extraction_name(&t, &format!("{v}/app.pyz")));
    assert!(
        v1 != v2 && v2 != v3,
        "three builds, three ids: {v1} {v2} {v3}"
    );
    let ready = t.path("v1.ready");
    let go = t.path("go");
    let mut running = t
        .pyz(&python, "v1/app.pyz")
        .env("READY", &ready)
        .env("GO", &go)
        .spawn(&t.path("v1.log"));
    crate::support::wait_for(&ready, PATIENCE);
    t.pyz(&python, "v2/app.pyz")
        .run()
        .success()
        .stdout_is("v2\n");
    let mut both = vec![v1.clone(), v2.clone()];
    both.sort();
    assert_eq!(extractions(&t.root()), both, "v1 is in use: it stays");
    std::fs::write(&go, "").expect("write the go file");
    let status = wait_exit(&mut running, "the running v1", PATIENCE);
    let log = String::from_utf8_lossy(&t.read("v1.log")).into_owned();
    assert!(
        status.success() && log == "late v1\n",
        "v1 after v2's first run: {status}\n{log}"
    );
    t.pyz(&python, "v3/app.pyz")
        .run()
        .success()
        .stdout_is("v3\n");
    assert_eq!(
        extractions(&t.root()),
        [v3],
        "v3's first run prunes v1 and v2"
    );
    assert_no_leftovers(&t.root());
}

/// Two builds of one app with `--prune-old-builds`, 12 first runs of each at once: each
/// first run may prune the other build, yet every run exits 0 with its own output, and
/// what is left is whole.
#[test]
fn prune_old_builds_in_a_crowd_of_two_versions() {
    let python = python!(11);
    let t = Test::new();
    for version in ["v1", "v2"] {
        versioned_app(&t, &format!("sp-{version}"), version);
        let pyz = format!("{version}/app.pyz");
        build(&t, &format!("sp-{version}"), &pyz, &["--prune-old-builds"]);
    }
    let runs: Vec<(&str, &str)> = (0..24)
        .map(|i| {
            if i % 2 == 0 {
                ("v1/app.pyz", "v1\n")
            } else {
                ("v2/app.pyz", "v2\n")
            }
        })
        .collect();
    crowd(&t, &python, &runs, &[]);
    let left = extractions(&t.root());
    assert!(!left.is_empty(), "no extraction left");
    assert_no_leftovers(&t.root());
    for version in ["v1", "v2"] {
        let pyz = format!("{version}/app.pyz");
        let stem = extraction_name(&t, &pyz);
        if left.contains(&stem) {
            assert_complete(&t.root(), &stem, &payload_sizes(&t.path(&pyz)));
        }
    }
}

/// Without `--prune-old-builds`, older extractions of the app stay.
#[test]
fn without_prune_old_builds_older_trees_stay() {
    let python = python!(11);
    let t = Test::new();
    let mut names = Vec::new();
    for version in ["v1", "v2"] {
        versioned_app(&t, &format!("sp-{version}"), version);
        let pyz = format!("{version}/app.pyz");
        build(&t, &format!("sp-{version}"), &pyz, &[]);
        t.pyz(&python, &pyz)
            .run()
            .success()
            .stdout_is(&format!("{version}\n"));
        names.push(extraction_name(&t, &pyz));
    }
    names.sort();
    assert_eq!(extractions(&t.root()), names);
}

/// `rshiv completions SHELL` prints a script for that shell naming rshiv; `rshiv man`
/// prints a roff man page.
#[test]
fn completions_and_man_page() {
    let t = Test::new();
    for (shell, needle) in [
        ("bash", "rshiv"),
        ("zsh", "#compdef rshiv"),
        ("fish", "complete -c rshiv"),
    ] {
        t.rshiv()
            .args(["completions", shell])
            .run()
            .success()
            .stdout_contains(needle);
    }
    let man = t.rshiv().arg("man").run();
    man.success()
        .stdout_contains(".TH")
        .stdout_contains("rshiv");
}
