//! `rshiv cache` on real directories, with locks held by a real Python process through
//! `fcntl.flock`, as `bootstrap/runtime.py` holds them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use super::*;
use crate::cli::{CacheCommand, RootArg};

/// A published extraction `<root>/<key>` with one file of `size` bytes, last used `age` ago.
fn publish(root: &Path, key: &str, size: usize, age: Duration) {
    let tree = root.join(key).join("site-packages");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("mod.py"), vec![b'#'; size]).unwrap();
    let marker = std::fs::File::create(root.join(key).join(scan::MARKER)).unwrap();
    marker.set_modified(SystemTime::now() - age).unwrap();
}

/// A Python process holding `flock(mode)` on `path` until it is dropped.
struct PythonLock(Child);

impl PythonLock {
    fn hold(path: &Path, mode: &str) -> Self {
        let code = format!(
            "import fcntl, sys\nf = open(sys.argv[1])\nfcntl.flock(f, fcntl.{mode})\n\
             print('locked', flush=True)\nsys.stdin.read()\n"
        );
        let mut child = Command::new("python3")
            .args(["-c", &code])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 on PATH");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        PythonLock(child)
    }
}

impl Drop for PythonLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn run_cache(cmd: CacheCommand) -> String {
    let mut out = Vec::new();
    run(&cmd, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn root_arg(root: &Path) -> RootArg {
    RootArg {
        root: Some(root.to_path_buf()),
    }
}

const HOUR: Duration = Duration::from_secs(3_600);

#[test]
fn std_locks_and_python_flock_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    std::fs::write(&path, "").unwrap();
    let shared = PythonLock::hold(&path, "LOCK_SH");
    assert_eq!(lock::probe(&path), Probe::Busy);
    assert!(matches!(
        lock::try_exclusive(&path, false),
        Err(lock::NotHeld::Busy)
    ));
    drop(shared);
    let held = lock::try_exclusive(&path, false).unwrap();
    let code = "import fcntl, sys\nf = open(sys.argv[1])\ntry:\n    \
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(3)\n";
    let status = Command::new("python3")
        .args(["-c", code])
        .arg(&path)
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "Python must see rshiv's exclusive lock"
    );
    drop(held);
}

#[test]
fn clean_removes_everything_not_in_use_and_skips_a_running_pyz() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    publish(root, "api_aaa", 100, HOUR);
    publish(root, "api_bbb", 200, 2 * HOUR);
    publish(root, "tool_ccc", 300, HOUR);
    std::fs::create_dir_all(root.join(".trash-api_old-12-ab/site-packages")).unwrap();
    std::fs::create_dir_all(root.join(".api_ddd.tmp-34-cd/site-packages")).unwrap();
    std::fs::create_dir_all(root.join("shivapp.pyz_eee/site-packages")).unwrap();
    let running = PythonLock::hold(&root.join("api_bbb").join(scan::MARKER), "LOCK_SH");

    let dry = run_cache(CacheCommand::Clean {
        root: root_arg(root),
        dry_run: true,
    });
    assert!(dry.contains("would remove api_aaa (100 B)"), "{dry}");
    assert!(dry.contains("skipped api_bbb: in use"), "{dry}");
    assert!(root.join("api_aaa").exists(), "a dry run removes nothing");
    assert!(
        !root.join(".api_aaa.lock").exists(),
        "a dry run creates nothing"
    );

    let text = run_cache(CacheCommand::Clean {
        root: root_arg(root),
        dry_run: false,
    });
    assert!(text.contains("removed api_aaa (100 B)"), "{text}");
    assert!(text.contains("removed tool_ccc (300 B)"), "{text}");
    assert!(text.contains("removed api_old (trash)"), "{text}");
    assert!(
        text.contains("removed api_ddd (unfinished extraction)"),
        "{text}"
    );
    assert!(text.contains("skipped api_bbb: in use"), "{text}");
    assert!(text.contains("skipped shivapp.pyz_eee (shiv)"), "{text}");
    assert!(
        text.ends_with("freed 400 B: 4 removed, 2 skipped\n"),
        "{text}"
    );
    assert!(root.join("api_bbb/site-packages/mod.py").exists());
    assert!(root.join("shivapp.pyz_eee").exists());
    let left: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    drop(running);
    let text = run_cache(CacheCommand::Clean {
        root: root_arg(root),
        dry_run: false,
    });
    assert!(text.contains("removed api_bbb (200 B)"), "{text}");
}

#[test]
fn an_extraction_in_progress_is_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    std::fs::create_dir_all(root.join(".api_fff.tmp-56-ef/site-packages")).unwrap();
    std::fs::write(root.join(".api_fff.lock"), "").unwrap();
    let extracting = PythonLock::hold(&root.join(".api_fff.lock"), "LOCK_EX");
    let text = run_cache(CacheCommand::Clean {
        root: root_arg(root),
        dry_run: false,
    });
    assert!(
        text.contains("skipped api_fff (unfinished extraction): extraction in progress"),
        "{text}"
    );
    assert!(root.join(".api_fff.tmp-56-ef").exists());
    drop(extracting);
}

#[test]
fn prune_keeps_the_latest_and_the_recent_per_app() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let day = 24 * HOUR;
    publish(root, "api_1", 10, day);
    publish(root, "api_2", 10, 10 * day);
    publish(root, "api_3", 10, 40 * day);
    publish(root, "api_4", 10, 50 * day);
    publish(root, "cli_1", 10, 60 * day);
    let running = PythonLock::hold(&root.join("api_4").join(scan::MARKER), "LOCK_SH");

    let text = run_cache(CacheCommand::Prune {
        root: root_arg(root),
        older_than: Some("30d".into()),
        keep_latest: Some(3),
        dry_run: false,
    });
    assert!(text.contains("skipped api_4: in use"), "{text}");
    assert!(text.contains("freed 0 B: 0 removed, 1 skipped"), "{text}");

    let text = run_cache(CacheCommand::Prune {
        root: root_arg(root),
        older_than: None,
        keep_latest: Some(1),
        dry_run: false,
    });
    for gone in ["api_2", "api_3"] {
        assert!(text.contains(&format!("removed {gone} (10 B)")), "{text}");
        assert!(!root.join(gone).exists());
    }
    assert!(
        root.join("api_1").exists() && root.join("cli_1").exists() && root.join("api_4").exists()
    );
    drop(running);

    let text = run_cache(CacheCommand::Prune {
        root: root_arg(root),
        older_than: Some("45d".into()),
        keep_latest: None,
        dry_run: false,
    });
    assert!(
        text.contains("removed api_4") && text.contains("removed cli_1"),
        "{text}"
    );
    assert!(root.join("api_1").exists());
}

#[test]
fn prune_asks_for_a_rule_and_names_a_bad_duration() {
    let root = tempfile::tempdir().unwrap();
    let prune = |older_than: Option<&str>| {
        let cmd = CacheCommand::Prune {
            root: root_arg(root.path()),
            older_than: older_than.map(String::from),
            keep_latest: None,
            dry_run: false,
        };
        run(&cmd, &mut Vec::new()).unwrap_err().to_string()
    };
    assert!(prune(None).contains("--older-than"));
    assert!(prune(Some("30 days")).contains("`30 days`"));
}

#[test]
fn list_shows_state_and_json_has_one_object_per_entry() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let id = "3f2a9c1b2d4e".repeat(5);
    publish(root, &format!("api_{id}"), 2048, 3 * HOUR);
    publish(root, "my_tool_77", 10, 60 * 60 * HOUR);
    let _running = PythonLock::hold(&root.join("my_tool_77").join(scan::MARKER), "LOCK_SH");

    let text = run_cache(CacheCommand::List {
        root: root_arg(root),
        json: false,
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "APP      BUILD ID      SIZE     FILES  LAST USED     STATE"
    );
    assert_eq!(
        lines[1],
        "api      3f2a9c1b2d4e  2.0 KiB  2      3 hours ago   idle"
    );
    assert_eq!(
        lines[2],
        "my_tool  77            10 B     2      5 months ago  in use"
    );
    assert!(lines[3].starts_with("2 entries, 2.0 KiB in "), "{text}");

    let json: serde_json::Value = serde_json::from_str(&run_cache(CacheCommand::List {
        root: root_arg(root),
        json: true,
    }))
    .unwrap();
    let array = json.as_array().unwrap();
    assert_eq!(array.len(), 2);
    assert_eq!(array[0]["name"], "api");
    assert_eq!(array[0]["build_id"], id.as_str());
    assert_eq!(array[0]["size"], 2048);
    assert_eq!(array[0]["in_use"], false);
    assert!(array[0]["last_used"].as_str().unwrap().ends_with('Z'));
    assert_eq!(array[1]["name"], "my_tool");
    assert_eq!(array[1]["in_use"], true);
    assert_eq!(array[1]["state"], "in use");
}

#[test]
fn a_missing_root_lists_nothing() {
    let root = tempfile::tempdir().unwrap();
    let absent = root.path().join("absent");
    let list = |json| {
        run_cache(CacheCommand::List {
            root: root_arg(&absent),
            json,
        })
    };
    assert_eq!(list(false), "");
    assert_eq!(list(true), "[]\n");
    let clean = run_cache(CacheCommand::Clean {
        root: root_arg(&absent),
        dry_run: false,
    });
    assert!(clean.starts_with("nothing to remove in "), "{clean}");
    assert!(!absent.exists());
}

#[test]
fn the_default_root_is_the_runtimes() {
    let root = |pairs: &[(&str, &str)]| {
        let var = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        };
        default_root(&var)
    };
    let home = ("HOME", "/home/ops");
    let at = |pairs: &[(&str, &str)]| root(pairs).unwrap();
    assert_eq!(
        at(&[home, ("RSHIV_ROOT", "/r"), ("SHIV_ROOT", "/s")]),
        Path::new("/r")
    );
    assert_eq!(
        at(&[home, ("RSHIV_ROOT", ""), ("SHIV_ROOT", "~/s")]),
        Path::new("/home/ops/s")
    );
    assert_eq!(at(&[home, ("XDG_CACHE_HOME", "/x")]), Path::new("/x/rshiv"));
    assert_eq!(
        at(&[home, ("XDG_CACHE_HOME", "rel")]),
        Path::new("/home/ops/.cache/rshiv")
    );
    assert!(root(&[]).is_err());
}

#[test]
fn listing_does_not_write_to_the_root() {
    let root = tempfile::tempdir().unwrap();
    publish(root.path(), "api_1", 1, HOUR);
    let before = std::fs::metadata(root.path().join("api_1").join(scan::MARKER))
        .unwrap()
        .modified()
        .unwrap();
    let mut out = Vec::new();
    let cmd = CacheCommand::List {
        root: root_arg(root.path()),
        json: true,
    };
    run(&cmd, &mut out).unwrap();
    out.flush().unwrap();
    let after = std::fs::metadata(root.path().join("api_1").join(scan::MARKER))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    assert!(!root.path().join(".api_1.lock").exists());
}
