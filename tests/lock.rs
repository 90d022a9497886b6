//! Locked builds: a uv project's `uv.lock` (made by a real `uv lock` against a local
//! PEP 503 index served on 127.0.0.1) pins what goes into the pyz, hashes enforced.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{has_uv, uv, Installer, Project, Pyz, Test, Wheel};

/// A PEP 503 tree of generated wheels under `<test>/index`, served by `python -m
/// http.server` on 127.0.0.1 until dropped; each link carries a `#sha256=` fragment.
struct Index {
    dir: PathBuf,
    port: u16,
    server: std::process::Child,
}

impl Index {
    #[track_caller]
    fn start(t: &Test) -> Index {
        let dir = t.path("index");
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let python = crate::support::any_python().expect("a python for the index server");
        let server = t
            .command(python)
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(&dir)
            .spawn(&t.path("index.log"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the index did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Index { dir, port, server }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Publish `wheel` (replacing a file of the same name) and rewrite its project's page.
    fn publish(&self, wheel: &Wheel) -> String {
        let name = wheel.file_name();
        let project = self
            .dir
            .join(name.split('-').next().unwrap().replace('_', "-"));
        std::fs::create_dir_all(&project).unwrap();
        let path = wheel.write(&project);
        let mut page = String::new();
        let mut files: Vec<_> = std::fs::read_dir(&project)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".whl"))
            .collect();
        files.sort();
        for file in files {
            let hash = sha256(&project.join(&file));
            page.push_str(&format!("<a href=\"{file}#sha256={hash}\">{file}</a>\n"));
        }
        std::fs::write(project.join("index.html"), page).unwrap();
        sha256(&path)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn dep(version: &str) -> Wheel {
    Wheel::new("dep", version).file("dep/__init__.py", format!("VERSION = {version:?}\n"))
}

/// A uv project `app` in `<test>/app` depending on `dep>=1.0`, with a `dev` group
/// (`devtool`), locked by `uv lock` against `index`.
#[track_caller]
fn locked_project(t: &Test, index: &Index) -> PathBuf {
    index.publish(&dep("1.0"));
    index.publish(&Wheel::new("devtool", "1.0").file("devtool/__init__.py", ""));
    let dir = Project::new("app", "0.1.0")
        .file(
            "app/__init__.py",
            "import dep\ndef main():\n    print(dep.VERSION)\n",
        )
        .console_script("app", "app:main")
        .dependency("dep>=1.0")
        .write(&t.path("app"));
    let pyproject = dir.join("pyproject.toml");
    let mut text = std::fs::read_to_string(&pyproject).unwrap();
    text.push_str(&format!(
        "\n[dependency-groups]\ndev = [\"devtool\"]\n\n[[tool.uv.index]]\nurl = {:?}\ndefault = true\n",
        index.url()
    ));
    std::fs::write(&pyproject, text).unwrap();
    t.command(uv().unwrap())
        .args(["lock", "--python"])
        .arg(crate::support::any_python().unwrap())
        .current_dir(&dir)
        .run()
        .success();
    dir
}

/// A test, its index and its locked project; `None` (the test skips, with a reason)
/// without uv, which CI must have.
fn locked_world() -> Option<(Test, Index, PathBuf)> {
    if !has_uv() {
        eprintln!("skipped: uv is needed to make a uv.lock");
        return None;
    }
    let t = Test::new();
    let index = Index::start(&t);
    let dir = locked_project(&t, &index);
    Some((t, index, dir))
}

/// `rshiv -c app -o OUT .` in the project, with `installer`.
fn build(
    t: &Test,
    dir: &Path,
    installer: Installer,
    extra: &[&str],
    out: &str,
) -> crate::support::Output {
    t.rshiv()
        .installer(installer)
        .args(extra)
        .args(["-c", "app", "-o"])
        .arg(t.path(out))
        .arg(".")
        .current_dir(dir)
        .run()
}

fn payload_has(pyz: &Path, prefix: &str) -> bool {
    Pyz::open(pyz)
        .payload_names()
        .iter()
        .any(|n| n.contains(prefix))
}

#[test]
fn the_lock_pins_the_build_and_leaves_dev_out() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    index.publish(&dep("1.1"));
    for installer in [Installer::Uv, Installer::Pip] {
        let out = format!("{}.pyz", installer.name());
        build(&t, &dir, installer, &[], &out)
            .success()
            .stderr_contains("using ./uv.lock");
        let pyz = t.path(&out);
        assert!(payload_has(&pyz, "dep-1.0.dist-info"), "{installer:?}");
        assert!(
            !payload_has(&pyz, "devtool"),
            "{installer:?}: the dev group is left out"
        );
        t.pyz(&crate::support::any_python().unwrap(), &out)
            .run()
            .success()
            .stdout_is("1.0\n");
    }
    // Another directory, empty caches: byte-identical.
    let again = Test::new();
    build(&again, &dir, Installer::Uv, &[], "uv.pyz").success();
    assert!(
        t.read("uv.pyz") == again.read("uv.pyz"),
        "a locked rebuild is identical"
    );
    // Unlocked (and with caches that never saw the index before), the newer version wins.
    let url = index.url();
    build(
        &again,
        &dir,
        Installer::Uv,
        &["--no-lock", "--index-url", &url],
        "fresh.pyz",
    )
    .success();
    assert!(payload_has(&again.path("fresh.pyz"), "dep-1.1.dist-info"));
    // --group adds the dev group.
    build(&t, &dir, Installer::Uv, &["--group", "dev"], "dev.pyz").success();
    assert!(payload_has(&t.path("dev.pyz"), "devtool-1.0.dist-info"));
}

#[test]
fn the_artifact_records_its_lock() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    let lock_sha = sha256(&dir.join("uv.lock"));
    let dep_sha = sha256(&index.dir.join("dep/dep-1.0-py3-none-any.whl"));
    let secret_url = index.url().replace("127.0.0.1", "user:token@127.0.0.1");
    build(
        &t,
        &dir,
        Installer::Pip,
        &["--index-url", &secret_url],
        "app.pyz",
    )
    .success();
    let environment = Pyz::open(t.path("app.pyz")).environment();
    let provenance = &environment["provenance"];
    assert_eq!(provenance["lock"], "uv.lock");
    assert_eq!(provenance["lock_kind"], "uv.lock");
    assert_eq!(provenance["lock_sha256"], lock_sha.as_str());
    assert_eq!(provenance["installer"], "pip");
    assert_eq!(provenance["index_urls"], serde_json::json!([index.url()]));
    assert!(
        !environment.to_string().contains("token"),
        "credentials are not recorded"
    );
    t.rshiv()
        .args(["info"])
        .arg(t.path("app.pyz"))
        .run()
        .success()
        .stdout_contains(&format!("uv.lock (uv.lock, sha256 {lock_sha})"));
    let output = t
        .rshiv()
        .args(["info", "--sbom", "-"])
        .arg(t.path("app.pyz"))
        .run();
    output.success();
    let bom: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let dep = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dep")
        .expect("dep is a component");
    assert_eq!(dep["purl"], "pkg:pypi/dep@1.0");
    assert_eq!(
        dep["hashes"][0]["content"],
        dep_sha.as_str(),
        "the lock's hash of the wheel"
    );
    let lock_text = std::fs::read_to_string(dir.join("uv.lock")).unwrap();
    assert!(
        lock_text.contains(&format!("sha256:{dep_sha}")),
        "the lock's own hash"
    );
}

#[test]
fn a_swapped_wheel_is_refused_and_nothing_is_written() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    export_pylock(&t, &dir);
    // Same name and version, other bytes; the index's page says the new hash.
    index.publish(&dep("1.0").file("dep/evil.py", "raise SystemExit('owned')\n"));
    for installer in [Installer::Uv, Installer::Pip] {
        for lock in [&[][..], &["--lock", "pylock.toml"]] {
            std::fs::write(t.path("out.pyz"), "old").unwrap();
            build(&t, &dir, installer, lock, "out.pyz")
                .failure()
                .stderr_line_with(&[
                    "hash mismatch for dep==1.0",
                    "the lock has sha256:",
                    "the file is sha256:",
                ]);
            assert_eq!(
                t.read("out.pyz"),
                b"old",
                "{installer:?} {lock:?}: output untouched"
            );
        }
    }
}

/// `uv export --format pylock.toml --no-dev -o pylock.toml` in the project.
#[track_caller]
fn export_pylock(t: &Test, dir: &Path) {
    t.command(uv().unwrap())
        .args([
            "export",
            "--format",
            "pylock.toml",
            "--no-dev",
            "-o",
            "pylock.toml",
        ])
        .current_dir(dir)
        .run()
        .success();
}

#[test]
fn a_pylock_toml_pins_the_build() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    export_pylock(&t, &dir);
    index.publish(&dep("1.1"));
    build(
        &t,
        &dir,
        Installer::Pip,
        &["--lock", "pylock.toml"],
        "app.pyz",
    )
    .success()
    .stderr_contains("using pylock.toml");
    assert!(payload_has(&t.path("app.pyz"), "dep-1.0.dist-info"));
    assert!(!payload_has(&t.path("app.pyz"), "devtool"));
}

#[test]
fn a_stale_lock_is_an_error_naming_uv_lock() {
    let Some((t, _index, dir)) = locked_world() else {
        return;
    };
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(
        &pyproject,
        text.replace("\"dep>=1.0\"", "\"dep>=1.0\", \"devtool\""),
    )
    .unwrap();
    let before = std::fs::read(dir.join("uv.lock")).unwrap();
    build(&t, &dir, Installer::preferred(), &[], "out.pyz")
        .failure()
        .stderr_line_with(&["uv.lock does not match", "run `uv lock`", "--no-lock"]);
    assert_eq!(
        std::fs::read(dir.join("uv.lock")).unwrap(),
        before,
        "the lock is never rewritten"
    );
    assert!(!t.path("out.pyz").exists());
}

#[test]
fn an_offline_rebuild_from_warm_caches_is_identical() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    build(&t, &dir, Installer::Uv, &[], "online.pyz").success();
    drop(index);
    // The same output name (it is baked into the pyz), the first build moved aside.
    std::fs::rename(t.path("online.pyz"), t.path("first.pyz")).unwrap();
    build(&t, &dir, Installer::Uv, &["--offline"], "online.pyz").success();
    assert!(
        t.read("first.pyz") == t.read("online.pyz"),
        "offline rebuild is identical"
    );
    // Empty caches, no index: the installer's error names what is missing.
    let cold = Test::new();
    build(&cold, &dir, Installer::Uv, &["--offline"], "online.pyz")
        .failure()
        .stderr_contains("dep");
    build(&cold, &dir, Installer::Pip, &["--offline"], "online.pyz")
        .failure()
        .stderr_contains("pip has no offline mode");
}

#[test]
fn pylock_markers_select_per_target() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    let url = index.url();
    let mut text = String::from(
        "lock-version = \"1.0\"\ncreated-by = \"rshiv-tests\"\n\n[[packages]]\nname = \"app\"\n\
         directory = { path = \".\", editable = true }\n",
    );
    for (name, marker) in [
        ("dep", None),
        ("old", Some("python_version < '3.9'")),
        ("winonly", Some("sys_platform == 'win32'")),
    ] {
        let wheel = if name == "dep" {
            dep("1.0")
        } else {
            Wheel::new(name, "1.0").file(&format!("{name}/__init__.py"), "")
        };
        let hash = index.publish(&wheel);
        let file = wheel.file_name();
        text.push_str(&format!(
            "\n[[packages]]\nname = {name:?}\nversion = \"1.0\"\n"
        ));
        if let Some(marker) = marker {
            text.push_str(&format!("marker = {marker:?}\n"));
        }
        text.push_str(&format!(
            "index = {url:?}\nwheels = [{{ url = \"{url}{name}/{file}\", hashes = {{ sha256 = {hash:?} }} }}]\n"
        ));
    }
    std::fs::write(dir.join("pylock.fleet.toml"), text).unwrap();
    let selected = |target: &[&str], out: &str| -> Vec<String> {
        let mut args = vec!["--lock", "pylock.fleet.toml"];
        args.extend(target);
        build(&t, &dir, Installer::Uv, &args, out).success();
        let output = t.rshiv().args(["info", "--json"]).arg(t.path(out)).run();
        output.success();
        let info: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
        let mut names: Vec<String> = info["distributions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        selected(&["--python-version", "3.11"], "host.pyz"),
        ["app", "dep"]
    );
    assert_eq!(
        selected(&["--python-version", "3.8"], "py38.pyz"),
        ["app", "dep", "old"]
    );
    assert_eq!(
        selected(
            &["--python-version", "3.11", "--platform", "win_amd64"],
            "win.pyz"
        ),
        ["app", "dep", "winonly"]
    );
    // One pyz for 3.8 and 3.11: the lock's markers are evaluated for each target.
    let args = [
        "--lock",
        "pylock.fleet.toml",
        "--python-version",
        "3.8",
        "--python-version",
        "3.11",
    ];
    build(&t, &dir, Installer::Uv, &args, "fleet.pyz").success();
    let output = t
        .rshiv()
        .args(["info", "--json"])
        .arg(t.path("fleet.pyz"))
        .run();
    output.success();
    let info: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let per_target: Vec<Vec<&str>> = info["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            let mut names: Vec<&str> = target["distributions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap())
                .collect();
            names.sort();
            names
        })
        .collect();
    assert_eq!(per_target, [vec!["app", "dep", "old"], vec!["app", "dep"]]);
    assert!(info["provenance"]["lock"].is_string(), "{info}");
}
