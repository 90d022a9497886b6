//! Issue 12's attacks on a shared machine, each of which must fail: run as root with a
//! throw-away attacker user (`useradd`) and, where the victim is unprivileged, a second
//! user, both entered with `setpriv`. Every attack lies in a directory the attacker owns, or
//! a sticky or group-writable one made for the test, never in /tmp itself, so nothing
//! depends on `fs.protected_symlinks` or `fs.protected_fifos`. Each test checks that the
//! attacker's code did not run, that nothing appeared outside the cache, and that the
//! victim printed its normal output, under a short lock timeout and a hard `timeout`.

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{build_greet, listing, tree, Cmd, Output, Pyz, Test};

/// What the victim prints; what a planted `greet` would do instead.
const NORMAL: &str = "hello from greet\n";
const EVIL: &str =
    "import os\nopen(os.environ['PWNED'], 'w').close()\ndef main():\n    print('pwned')\n";

/// A local user made for this test run, removed when the test binary exits.
pub struct User {
    uid: u32,
    gid: u32,
}

/// The attacker and the unprivileged victim, or None (saying why) when this is not root
/// or `useradd` is missing; on CI that is a failure.
fn users() -> Option<&'static (User, User)> {
    static USERS: OnceLock<Option<(User, User)>> = OnceLock::new();
    let users = USERS.get_or_init(|| {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let pid = std::process::id();
        let made = (
            make_user(&format!("rshiv-atk-{pid}"))?,
            make_user(&format!("rshiv-vic-{pid}"))?,
        );
        // SAFETY: registers a plain function with no arguments.
        unsafe { libc::atexit(remove_users) };
        Some(made)
    });
    if users.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the shared-machine tests need root and useradd on CI"
        );
        eprintln!("skipped: not root, or useradd failed");
    }
    users.as_ref()
}

fn make_user(name: &str) -> Option<User> {
    let made = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/bin/sh",
            name,
        ])
        .status()
        .ok()?;
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if !made.success() && id("-u").is_none() {
        return None;
    }
    Some(User {
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

extern "C" fn remove_users() {
    let pid = std::process::id();
    for name in [format!("rshiv-atk-{pid}"), format!("rshiv-vic-{pid}")] {
        let _ = Command::new("userdel").arg(&name).status();
    }
}

/// The interpreter every user can run (pyenv's live under root's 0700 home).
fn system_python() -> Option<PathBuf> {
    let found = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the shared-machine tests need a system python3 on CI"
        );
        eprintln!("skipped: no python3 outside root's home");
    }
    found
}

/// One attack's world: a test dir every user may enter, a greet pyz, its extraction's name.
struct World {
    t: Test,
    python: PathBuf,
    stem: String,
    attacker: &'static User,
    victim: &'static User,
}

macro_rules! world {
    ($($arg:expr),*) => {
        match World::new(&[$($arg),*]) {
            Some(world) => world,
            None => return,
        }
    };
}

impl World {
    fn new(build_args: &[&str]) -> Option<World> {
        let (attacker, victim) = users()?;
        let python = system_python()?;
        let t = Test::new();
        std::fs::set_permissions(t.dir(), PermissionsExt::from_mode(0o755)).unwrap();
        let mut args = vec!["-e", "greet:main"];
        args.extend_from_slice(build_args);
        build_greet(&t, &args, "app.pyz");
        let stem = t
            .extraction("app.pyz")
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        Some(World {
            t,
            python,
            stem,
            attacker,
            victim,
        })
    }

    /// A directory `mode`, owned by `owner` (root when None).
    fn dir(&self, name: &str, owner: Option<&User>, mode: u32) -> PathBuf {
        let path = self.t.path(name);
        std::fs::create_dir_all(&path).unwrap();
        if let Some(user) = owner {
            chown(&path, Some(user.uid), Some(user.gid)).unwrap();
        }
        std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
        path
    }

    /// A directory root owns whose group is the attacker's, group-writable.
    fn group_writable(&self, name: &str) -> PathBuf {
        let path = self.dir(name, None, 0o775);
        chown(&path, None, Some(self.attacker.gid)).unwrap();
        path
    }

    /// Run a shell script as the attacker; it must succeed.
    #[track_caller]
    fn attack(&self, script: &str) {
        let out = Command::new("setpriv")
            .args(self.ids(self.attacker))
            .args(["--", "sh", "-ec", script])
            .env("PWNED", self.pwned())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the attack's set-up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ids(&self, user: &User) -> Vec<String> {
        vec![
            format!("--reuid={}", user.uid),
            format!("--regid={}", user.gid),
            "--clear-groups".into(),
        ]
    }

    /// Plant a complete-looking extraction of the app at `dir` (the attacker's).
    fn plant_tree(&self, dir: &Path) {
        let d = dir.display();
        self.attack(&format!(
            "mkdir -p '{d}/site-packages/greet' '{d}/.rshiv'\n\
             printf 'rshiv-1\\nname=app\\n' > '{d}/.rshiv-ready'\n\
             printf \"%s\" \"$EVIL\" > '{d}/site-packages/greet/__init__.py'\n\
             : > '{d}/.rshiv-sources'\n\
             printf 'import os\\nopen(os.environ[\"PWNED\"], \"w\").close()\\n' > '{d}/.rshiv/runtime-{crc:08x}.py'",
            crc = self.runtime_crc()
        ).replace("\"$EVIL\"", &shell_quote(EVIL)));
    }

    /// The CRC-32 the stub names the runtime's cached copy by.
    fn runtime_crc(&self) -> u32 {
        crc32fast::hash(
            &Pyz::open(self.t.path("app.pyz"))
                .outer_member("_rshiv/runtime.py")
                .data,
        )
    }

    /// The file the attacker's code would create.
    fn pwned(&self) -> PathBuf {
        self.t.path("pwned")
    }

    /// The pyz run as `user` (root when None) under `umask`, with a short lock timeout,
    /// bytecode writing on, a hard time limit, and for a user its own TMPDIR and HOME.
    fn pyz(&self, user: Option<&User>, umask: &str) -> Cmd {
        let mut cmd = self.t.command("timeout");
        cmd.arg("60");
        if let Some(user) = user {
            cmd.arg("setpriv").args(self.ids(user)).arg("--");
        }
        cmd.args(["sh", "-c", &format!("umask {umask}; exec \"$0\" \"$@\"")])
            .arg(&self.python)
            .arg(self.t.path("app.pyz"))
            .env("RSHIV_LOCK_TIMEOUT", "3")
            .env("PWNED", self.pwned())
            .env_remove("PYTHONDONTWRITEBYTECODE");
        if user.is_some() {
            cmd.env("TMPDIR", self.victim_tmp())
                .env("HOME", self.t.path("victim-home"));
        }
        cmd
    }

    /// The pyz run with `RSHIV_ROOT=root`.
    fn run_in(&self, user: Option<&User>, root: &Path) -> Output {
        self.pyz(user, "022").env("RSHIV_ROOT", root).run()
    }

    /// The unprivileged victim's own TMPDIR (its fallback root's parent).
    fn victim_tmp(&self) -> PathBuf {
        let path = self.t.path("victim-tmp");
        if !path.exists() {
            self.dir("victim-tmp", Some(self.victim), 0o700);
        }
        path
    }

    /// The run ended normally and the attacker's code never ran.
    #[track_caller]
    fn assert_safe(&self, out: &Output) {
        out.success().stdout_is(NORMAL);
        assert!(
            !self.pwned().exists(),
            "the attacker's code ran:\n{}",
            out.stderr
        );
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Attack 1: A planted extraction in a root the attacker owns is not run by root; nor by another
/// user in a sticky root shared on purpose.
#[test]
fn a_planted_extraction_is_not_run() {
    let w = world!();
    let owned = w.dir("attacker-root", Some(w.attacker), 0o755);
    w.plant_tree(&owned.join(&w.stem));
    let out = w.run_in(None, &owned);
    w.assert_safe(&out);
    out.stderr_line_with(&["warning", &owned.to_string_lossy(), "another user"]);
    let sticky = w.dir("sticky-root", None, 0o1777);
    w.plant_tree(&sticky.join(&w.stem));
    w.assert_safe(&w.run_in(Some(w.victim), &sticky));
    w.assert_safe(&w.run_in(None, &sticky));
    w.assert_safe(&w.run_in(None, &sticky));
}

/// Attack 2: A planted runtime copy (with a marker) in an extraction is never loaded.
#[test]
fn a_planted_runtime_copy_is_not_loaded() {
    let w = world!();
    let sticky = w.dir("sticky-root", None, 0o1777);
    let d = sticky.join(&w.stem);
    w.attack(&format!(
        "mkdir -p '{d}/.rshiv'\nprintf 'rshiv-1\\n' > '{d}/.rshiv-ready'\n\
         printf 'import os\\nopen(os.environ[\"PWNED\"], \"w\").close()\\n' > '{d}/.rshiv/runtime-{crc:08x}.py'",
        d = d.display(),
        crc = w.runtime_crc()
    ));
    w.assert_safe(&w.run_in(None, &sticky));
    w.assert_safe(&w.run_in(Some(w.victim), &sticky));
}

/// Attack 3: `--no-modify` is not bypassed by a planted tree that brings its own source list.
#[test]
fn no_modify_is_not_bypassed() {
    let w = world!("--no-modify");
    let sticky = w.dir("sticky-root", None, 0o1777);
    w.plant_tree(&sticky.join(&w.stem));
    w.assert_safe(&w.run_in(None, &sticky));
    w.assert_safe(&w.run_in(Some(w.victim), &sticky));
}

/// Attack 4: Root with HOME or XDG_CACHE_HOME in the attacker's home (sudo -E keeps them, and
/// TMPDIR too) uses neither, nor a fallback under that TMPDIR.
#[test]
fn a_shared_home_is_not_used_by_root() {
    let w = world!();
    let home = w.dir("attacker-home", Some(w.attacker), 0o755);
    w.plant_tree(&home.join(".cache/rshiv").join(&w.stem));
    w.plant_tree(&home.join("xdg/rshiv").join(&w.stem));
    for (key, value) in [("HOME", home.clone()), ("XDG_CACHE_HOME", home.join("xdg"))] {
        let out = w
            .pyz(None, "022")
            .env_remove("RSHIV_ROOT")
            .env_remove("XDG_CACHE_HOME")
            .env(key, &value)
            .env("TMPDIR", &home)
            .run();
        w.assert_safe(&out);
        out.stderr_line_with(&["warning", "another user"]);
        let left = listing(&home);
        assert!(
            left.iter().all(|e| e == ".cache" || e == "xdg"),
            "{:?}",
            tree(&home)
        );
    }
}

/// Attack 5: A baked `--root` that does not exist yet, made first by the attacker (in a directory
/// its group may write), is not used.
#[test]
fn a_pre_created_root_is_not_used() {
    let w = world!();
    let root = w.group_writable("gw").join("app-cache");
    let baked = root.to_string_lossy().into_owned();
    build_greet(&w.t, &["-e", "greet:main", "--root", &baked], "app.pyz");
    w.attack(&format!("mkdir -p '{}'", root.display()));
    w.plant_tree(&root.join(&w.stem));
    w.assert_safe(&w.pyz(None, "022").env_remove("RSHIV_ROOT").run());
    w.assert_safe(&w.pyz(Some(w.victim), "022").env_remove("RSHIV_ROOT").run());
}

/// Attack 6: A victim who cannot write the root falls back to its private root; what the attacker
/// plants in the root afterwards is not taken by later starts.
#[test]
fn the_fallback_is_not_shadowed() {
    let w = world!();
    let owned = w.dir("attacker-root", Some(w.attacker), 0o755);
    w.assert_safe(&w.run_in(Some(w.victim), &owned));
    w.plant_tree(&owned.join(&w.stem));
    w.assert_safe(&w.run_in(Some(w.victim), &owned));
    w.assert_safe(&w.run_in(Some(w.victim), &owned));
}

/// Attack 7: Extracting with umask 000 leaves nothing others may write, `__pycache__` included:
/// the attacker can neither edit a `.py` nor plant bytecode, before or after Python
/// writes its own.
#[test]
fn umask_000_leaves_nothing_writable() {
    let w = world!("--compile-pyc");
    let root = w.dir("victim-root", Some(w.victim), 0o755);
    w.assert_safe(&w.pyz(Some(w.victim), "000").env("RSHIV_ROOT", &root).run());
    let extraction = root.join(&w.stem);
    for entry in walkdir::WalkDir::new(&extraction) {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        assert_eq!(
            meta.mode() & 0o022,
            0,
            "{} is writable by others",
            entry.path().display()
        );
        let pycache = entry.path().join("__pycache__");
        if entry.file_type().is_dir() && entry.path().join("__init__.py").exists() {
            assert!(
                pycache.is_dir(),
                "no {} made at extraction",
                pycache.display()
            );
        }
    }
    let package = extraction.join("site-packages/greet");
    let attempt = Command::new("setpriv")
        .args(w.ids(w.attacker))
        .args(["--", "sh", "-c"])
        .arg(format!(
            "echo 'x' >> '{p}/__init__.py' || touch '{p}/__pycache__/__init__.cpython-311.pyc' || exit 3",
            p = package.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        attempt.status.code(),
        Some(3),
        "the attacker could write into the extraction"
    );
    w.assert_safe(&w.pyz(Some(w.victim), "000").env("RSHIV_ROOT", &root).run());
}

/// Attack 8: A lock planted as a symlink to a missing path is not created through by root, even
/// with umask 000.
#[test]
fn a_lock_symlink_is_not_followed() {
    let w = world!();
    let sticky = w.dir("sticky-root", None, 0o1777);
    let target = w.t.path("ld.so.preload");
    let lock = sticky.join(format!(".{}.lock", w.stem));
    w.attack(&format!(
        "ln -s '{}' '{}'",
        target.display(),
        lock.display()
    ));
    let out = w.pyz(None, "000").env("RSHIV_ROOT", &sticky).run();
    w.assert_safe(&out);
    assert!(
        !target.exists(),
        "root created {} through the link",
        target.display()
    );
}

/// Attack 9: A root whose path runs through the attacker's symlink is not written through.
#[test]
fn a_root_through_the_attackers_symlink_is_not_used() {
    let w = world!();
    let owned = w.dir("attacker-dir", Some(w.attacker), 0o755);
    let target = w.dir("target", None, 0o755);
    w.attack(&format!(
        "ln -s '{}' '{}/link'",
        target.display(),
        owned.display()
    ));
    let out = w.run_in(None, &owned.join("link/cache"));
    w.assert_safe(&out);
    assert!(listing(&target).is_empty(), "{:?}", tree(&target));
}

/// Attack 10: `rshiv cache clean` run by root creates nothing through a planted lock symlink and
/// removes nothing of the attacker's.
#[test]
fn cache_clean_does_not_follow_a_planted_lock() {
    let w = world!();
    let sticky = w.dir("sticky-root", None, 0o1777);
    let target = w.t.path("created-by-clean");
    w.attack(&format!(
        "cd '{s}'\nmkdir -p app_1/site-packages .app_2.tmp-1-a\nprintf 'rshiv-1\\nname=app\\nbuild_id=1\\n' > app_1/.rshiv-ready\n\
         ln -s '{t}' .app_1.lock\nln -s '{t}' .app_2.lock",
        s = sticky.display(),
        t = target.display()
    ));
    let out =
        w.t.command("timeout")
            .args(["60"])
            .arg(env!("CARGO_BIN_EXE_rshiv"))
            .args(["cache", "clean", "--root"])
            .arg(&sticky)
            .run();
    out.success().stdout_contains("skipped");
    assert!(!target.exists(), "clean created {}", target.display());
    assert!(
        sticky.join("app_1/.rshiv-ready").exists(),
        "clean removed the attacker's tree"
    );
}

/// Plant FIFOs (paths relative to a fresh sticky root) as the attacker; return the root.
fn plant_fifos(w: &World, dirs: &[&str], fifos: &[&str]) -> PathBuf {
    let sticky = w.dir("sticky-root", None, 0o1777);
    let quoted = |names: &[&str]| -> String { names.iter().map(|n| format!("'{n}' ")).collect() };
    let mkdir = if dirs.is_empty() {
        String::new()
    } else {
        format!("mkdir {}\n", quoted(dirs))
    };
    w.attack(&format!(
        "cd '{}'\n{mkdir}mkfifo {}",
        sticky.display(),
        quoted(fifos)
    ));
    sticky
}

/// Attack 11: a FIFO planted as the extraction lock (a user may not open it read-write,
/// and a read-only open of a FIFO waits for a writer).
#[test]
fn a_fifo_lock_makes_no_one_wait() {
    let w = world!();
    let lock = format!(".{}.lock", w.stem);
    let sticky = plant_fifos(&w, &[], &[&lock]);
    w.assert_safe(&w.run_in(Some(w.victim), &sticky));
    w.assert_safe(&w.run_in(None, &sticky));
}

/// Attack 12: a FIFO planted as the ready marker.
#[test]
fn a_fifo_marker_makes_no_one_wait() {
    let w = world!();
    let marker = format!("{}/.rshiv-ready", w.stem);
    let sticky = plant_fifos(&w, &[&w.stem], &[&marker]);
    w.assert_safe(&w.run_in(None, &sticky));
    w.assert_safe(&w.run_in(Some(w.victim), &sticky));
}

/// Attack 13: a FIFO planted as the marker of a trash dir of this build, which a first run
/// holding the lock clears away.
#[test]
fn a_fifo_in_the_trash_makes_no_one_wait() {
    let w = world!();
    let trash = format!(".trash-{}-1-a", w.stem);
    let marker = format!("{trash}/.rshiv-ready");
    let sticky = plant_fifos(&w, &[&trash], &[&marker]);
    w.assert_safe(&w.run_in(None, &sticky));
    assert!(
        sticky.join(&marker).exists(),
        "the attacker's trash was removed"
    );
}

/// Attack 14: a FIFO planted as an old build's marker, read under `--prune-old-builds`.
#[test]
fn a_fifo_seen_by_prune_old_builds_makes_no_one_wait() {
    let w = world!("--prune-old-builds");
    let sticky = plant_fifos(&w, &["app_old"], &["app_old/.rshiv-ready"]);
    w.assert_safe(&w.run_in(None, &sticky));
    let own = w.dir("own-root", None, 0o755);
    w.assert_safe(&w.run_in(None, &own));
    assert!(
        sticky.join("app_old").exists(),
        "the attacker's tree was removed"
    );
}

/// Attack 15: FIFOs planted as the markers `rshiv cache list` and `clean` read.
#[test]
fn fifos_seen_by_cache_commands_make_no_one_wait() {
    let w = world!();
    let sticky = plant_fifos(
        &w,
        &["app_1", ".trash-app_2-1-a"],
        &[
            "app_1/.rshiv-ready",
            ".trash-app_2-1-a/.rshiv-ready",
            ".app_3.lock",
        ],
    );
    std::fs::create_dir(sticky.join(".app_3.tmp-1-a")).unwrap();
    for command in [
        &["cache", "list"][..],
        &["cache", "clean"],
        &["cache", "list", "--json"],
    ] {
        w.t.command("timeout")
            .args(["60"])
            .arg(env!("CARGO_BIN_EXE_rshiv"))
            .args(command)
            .arg("--root")
            .arg(&sticky)
            .run()
            .success();
    }
}

/// The README's recipe: a root-owned cache pre-warmed by root serves another user a warm,
/// silent start, read-only, without a fallback.
#[test]
fn a_pre_warmed_root_owned_cache_serves_other_users() {
    let w = world!();
    let shared = w.dir("opt-cache", None, 0o755);
    w.assert_safe(&w.run_in(None, &shared));
    let marker = shared.join(&w.stem).join(".rshiv-ready");
    let before = std::fs::metadata(&marker).unwrap().ino();
    let out = w.run_in(Some(w.victim), &shared);
    w.assert_safe(&out);
    assert_eq!(out.stderr, "", "a warm start says nothing");
    assert_eq!(std::fs::metadata(&marker).unwrap().ino(), before);
    assert!(
        listing(&w.victim_tmp()).is_empty(),
        "the user unpacked into its fallback: {:?}",
        tree(&w.victim_tmp())
    );
}

/// A root its user made under umask 002 (0775, group the user's own private group, as
/// `useradd --user-group` makes it) is the user's alone: used, without a warning.
#[test]
fn a_user_private_group_may_write_the_root() {
    let w = world!();
    let upg = w.dir("upg-root", Some(w.victim), 0o775);
    let out = w.run_in(Some(w.victim), &upg);
    w.assert_safe(&out);
    assert_eq!(out.stderr, "");
    assert!(
        upg.join(&w.stem).join(".rshiv-ready").is_file(),
        "{:?}",
        tree(&upg)
    );
}

/// `rshiv cache clean` by root does not sweep a root the attacker owns: one warning naming
/// it, nothing removed.
#[test]
fn cache_clean_refuses_a_root_another_user_owns() {
    let w = world!();
    let owned = w.dir("attacker-root", Some(w.attacker), 0o755);
    w.plant_tree(&owned.join("app_1"));
    let out =
        w.t.rshiv()
            .args(["cache", "clean", "--root"])
            .arg(&owned)
            .run();
    out.success()
        .stderr_line_with(&["warning", &owned.to_string_lossy(), "another user"]);
    assert!(
        owned.join("app_1/.rshiv-ready").exists(),
        "{:?}",
        tree(&owned)
    );
}
