//! Locked builds: a uv project's `uv.lock` (made by a real `uv lock` against a local
//! PEP 503 index served on 127.0.0.1) pins what goes into the pyz, hashes enforced.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{has_uv, uv, Installer, Project, Pyz, Test, Wheel};

/// A PEP 503 tree of generated wheels under `<test>/index`, served by Python's
/// `http.server` on 127.0.0.1 until dropped; each link carries a `#sha256=` fragment. Every
/// response says `Cache-Control: max-age=0`, so that an installer revalidates what it
/// cached (a real index's pages go stale within minutes); each request is logged to
/// `<test>/index.log`.
struct Index {
    dir: PathBuf,
    port: u16,
    server: std::process::Child,
}

/// `http.server`'s directory handler, its responses marked stale at once.
const SERVER: &str = "import http.server, sys
class Stale(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header('Cache-Control', 'max-age=0, must-revalidate')
        super().end_headers()
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Stale).serve_forever()
";

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
            .args(["-c", SERVER])
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
    app_project(t, index, "[dependency-groups]\ndev = [\"devtool\"]\n")
}

/// The project `app` (`dep>=1.0` and `requires-python = ">=3.8"`) in `<test>/app`, with
/// `tables` added to its pyproject.toml and `index` as uv's default index, locked.
#[track_caller]
fn app_project(t: &Test, index: &Index, tables: &str) -> PathBuf {
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
    let text = std::fs::read_to_string(&pyproject)
        .unwrap()
        .replace("[project]\n", "[project]\nrequires-python = \">=3.8\"\n");
    let text = format!(
        "{text}\n{tables}\n[[tool.uv.index]]\nurl = {:?}\ndefault = true\n",
        index.url()
    );
    std::fs::write(&pyproject, text).unwrap();
    uv_lock(t, &dir);
    dir
}

/// `uv lock` in `dir`.
#[track_caller]
fn uv_lock(t: &Test, dir: &Path) {
    t.command(uv().unwrap())
        .args(["lock", "--python"])
        .arg(crate::support::any_python().unwrap())
        .current_dir(dir)
        .run()
        .success();
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

/// `rshiv info --json PYZ`'s distributions.
#[track_caller]
fn distributions(t: &Test, pyz: &str) -> Vec<serde_json::Value> {
    let output = t.rshiv().args(["info", "--json"]).arg(t.path(pyz)).run();
    output.success();
    let info: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    info["distributions"].as_array().unwrap().clone()
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
    let installer = provenance["installer"].as_str().unwrap();
    assert!(
        installer.starts_with("pip ") && installer[4..].starts_with(|c: char| c.is_ascii_digit()),
        "pip's version is recorded: {installer}"
    );
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
    // The lock alone, outside the project: its entries, the project's directory too.
    for installer in [Installer::Uv, Installer::Pip] {
        t.rshiv()
            .installer(installer)
            .args(["--lock", "app/pylock.toml", "-c", "app", "-o", "alone.pyz"])
            .run()
            .success();
        t.pyz(&crate::support::any_python().unwrap(), "alone.pyz")
            .run()
            .success()
            .stdout_is("1.0\n");
    }
}

#[test]
fn a_stale_lock_is_an_error_naming_uv_lock() {
    let Some((t, _index, dir)) = locked_world() else {
        return;
    };
    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    let before = std::fs::read(dir.join("uv.lock")).unwrap();
    // A new requirement, a marker, requires-python: each makes the lock stale.
    for (from, to) in [
        ("\"dep>=1.0\"", "\"dep>=1.0\", \"devtool\""),
        ("\"dep>=1.0\"", "\"dep>=1.0; python_version >= '3.9'\""),
        ("requires-python = \">=3.8\"", "requires-python = \">=3.9\""),
    ] {
        assert!(text.contains(from), "{from}");
        std::fs::write(&pyproject, text.replace(from, to)).unwrap();
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
    // The same Pythons, spelled otherwise: still fresh.
    std::fs::write(
        &pyproject,
        text.replace(
            "requires-python = \">=3.8\"",
            "requires-python = \">=3.8.0\"",
        ),
    )
    .unwrap();
    build(&t, &dir, Installer::preferred(), &[], "out.pyz").success();
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
        let mut names: Vec<String> = distributions(&t, out)
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

/// `fast` 1.0's builds, each saying its own tag: what a target gets shows in its payload.
const FAST_TAGS: &[&str] = &[
    "cp38-cp38-manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64",
    "cp38-cp38-manylinux2014_aarch64",
    "cp38-cp38-musllinux_1_1_x86_64",
    "py3-none-any",
];

/// A PEP 751 lock of `app` (the project, a directory entry) and `packages`, each a
/// `[[packages]]` body.
fn pylock(packages: &[String]) -> String {
    let mut text = String::from(
        "lock-version = \"1.0\"\ncreated-by = \"rshiv-tests\"\n\n[[packages]]\nname = \"app\"\n\
         directory = { path = \".\", editable = true }\n",
    );
    for package in packages {
        text.push_str(&format!("\n[[packages]]\n{package}"));
    }
    text
}

/// A `[[packages]]` body for `name` 1.0 with `wheels` published on `index`.
fn published(index: &Index, name: &str, wheels: &[Wheel]) -> String {
    let url = index.url();
    let files: Vec<String> = wheels
        .iter()
        .map(|wheel| {
            let hash = index.publish(wheel);
            let file = wheel.file_name();
            format!("{{ url = \"{url}{name}/{file}\", hashes = {{ sha256 = {hash:?} }} }}")
        })
        .collect();
    format!(
        "name = {name:?}\nversion = \"1.0\"\nindex = {url:?}\nwheels = [\n    {}\n]\n",
        files.join(",\n    ")
    )
}

#[test]
fn pylock_wheels_are_chosen_by_the_targets_tags() {
    let Some((t, index, dir)) = locked_world() else {
        return;
    };
    let wheels: Vec<Wheel> = FAST_TAGS
        .iter()
        .map(|tag| {
            Wheel::new("fast", "1.0")
                .tag(tag)
                .file("fast/__init__.py", format!("TAG = {tag:?}\n"))
        })
        .collect();
    let fast = published(&index, "fast", &wheels);
    std::fs::write(dir.join("pylock.toml"), pylock(&[fast])).unwrap();
    let file = |tag: &str| format!("fast-1.0-{tag}.whl");
    let (uv, pip) = (Installer::Uv, Installer::Pip);
    for (installer, python, platform, tag) in [
        (uv, None, None, "py3-none-any"),
        (uv, Some("3.12"), None, FAST_TAGS[1]),
        (uv, Some("3.8"), Some("manylinux_2_28_x86_64"), FAST_TAGS[0]),
        (
            pip,
            Some("3.8"),
            Some("manylinux_2_28_x86_64"),
            FAST_TAGS[0],
        ),
        (
            pip,
            Some("3.8"),
            Some("manylinux2014_aarch64"),
            FAST_TAGS[2],
        ),
        (uv, Some("3.8"), Some("musllinux_1_2_x86_64"), FAST_TAGS[3]),
        (uv, Some("3.12"), Some("win_amd64"), "py3-none-any"),
    ] {
        let mut target = Vec::new();
        target.extend(
            python
                .map(|p| ["--python-version", p])
                .into_iter()
                .flatten(),
        );
        target.extend(platform.map(|p| ["--platform", p]).into_iter().flatten());
        let mut args = vec!["--lock", "pylock.toml"];
        args.extend(&target);
        build(&t, &dir, installer, &args, "app.pyz").success();
        let pyz = Pyz::open(t.path("app.pyz"));
        let installed = pyz.payload_file("fast/__init__.py");
        assert_eq!(
            String::from_utf8_lossy(&installed.data),
            format!("TAG = {tag:?}\n"),
            "{installer:?} {target:?}"
        );
        let dist = distributions(&t, "app.pyz")
            .into_iter()
            .find(|d| d["name"] == "fast")
            .expect("fast is installed");
        assert_eq!(dist["file"], file(tag).as_str(), "{target:?}");
        t.rshiv()
            .args(["info"])
            .arg(t.path("app.pyz"))
            .run()
            .success()
            .stdout_contains("FILE")
            .stdout_contains(&file(tag));
    }
    // Only CPython 3.12 builds, no sdist: the host's CPython 3.11 gets none.
    let only = published(&index, "fast", &wheels[1..2]);
    std::fs::write(dir.join("pylock.native.toml"), pylock(&[only])).unwrap();
    std::fs::write(t.path("out.pyz"), "old").unwrap();
    build(
        &t,
        &dir,
        Installer::Uv,
        &["--lock", "pylock.native.toml"],
        "out.pyz",
    )
    .failure()
    .stderr_line_with(&["no wheel of fast 1.0 fits the target (cp311", "no sdist"]);
    assert_eq!(t.read("out.pyz"), b"old");
}

/// `git` in `dir` with a fixed identity; its stdout.
#[track_caller]
fn git(t: &Test, dir: &Path, args: &[&str]) -> String {
    let output = t
        .command("git")
        .args(["-c", "user.name=rshiv", "-c", "user.email=rshiv@invalid"])
        .args(args)
        .current_dir(dir)
        .run();
    output.success();
    output.stdout.trim().to_string()
}

/// An sdist (`name-1.0.tar.gz`) of the fixture project `project`, written into `dir`.
fn sdist(project: &Project, name: &str, dir: &Path) -> PathBuf {
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path().join(format!("{name}-1.0"));
    project.write(&root);
    std::fs::write(
        root.join("PKG-INFO"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}-1.0.tar.gz"));
    let file = std::fs::File::create(&path).unwrap();
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    archive
        .append_dir_all(format!("{name}-1.0"), &root)
        .unwrap();
    archive.into_inner().unwrap().finish().unwrap();
    path
}

#[test]
fn pylock_vcs_archive_and_directory_entries_are_built() {
    let Some((t, _index, dir)) = locked_world() else {
        return;
    };
    std::fs::write(
        dir.join("app/__init__.py"),
        "import lib, tool, arc, sdarc\ndef main():\n    print(lib.WHO, tool.WHO, arc.WHO, sdarc.WHO)\n",
    )
    .unwrap();
    Project::new("lib", "1.0")
        .file("lib/__init__.py", "WHO = 'lib'\n")
        .write(&t.path("lib"));
    let repo = t.path("toolrepo");
    let tool = |who: &str| {
        Project::new("tool", "1.0")
            .file("tool/__init__.py", &format!("WHO = {who:?}\n"))
            .write(&repo);
    };
    tool("locked");
    git(&t, &repo, &["init", "-q"]);
    git(&t, &repo, &["add", "."]);
    git(&t, &repo, &["commit", "-q", "-m", "locked"]);
    let commit = git(&t, &repo, &["rev-parse", "HEAD"]);
    tool("later");
    git(&t, &repo, &["commit", "-q", "-am", "later"]);
    let arc = Wheel::new("arc", "1.0").file("arc/__init__.py", "WHO = 'arc'\n");
    let arc_path = arc.write(&t.path("vendor"));
    let sdarc = sdist(
        &Project::new("sdarc", "1.0").file("sdarc/__init__.py", "WHO = 'sdarc'\n"),
        "sdarc",
        &t.path("vendor"),
    );
    let lock = pylock(&[
        "name = \"lib\"\ndirectory = { path = \"../lib\" }\n".to_string(),
        format!(
            "name = \"tool\"\nvcs = {{ type = \"git\", path = \"../toolrepo\", commit-id = {commit:?} }}\n"
        ),
        format!(
            "name = \"arc\"\nversion = \"1.0\"\narchive = {{ path = \"../vendor/{}\", hashes = {{ sha256 = {:?} }} }}\n",
            arc.file_name(),
            sha256(&arc_path)
        ),
        format!(
            "name = \"sdarc\"\nversion = \"1.0\"\narchive = {{ url = \"file://{}\", hashes = {{ sha256 = {:?} }} }}\n",
            sdarc.display(),
            sha256(&sdarc)
        ),
    ]);
    std::fs::write(dir.join("pylock.toml"), lock).unwrap();
    for installer in [Installer::Uv, Installer::Pip] {
        let out = format!("{}.pyz", installer.name());
        build(&t, &dir, installer, &["--lock", "pylock.toml"], &out).success();
        t.pyz(&crate::support::any_python().unwrap(), &out)
            .run()
            .success()
            .stdout_is("lib locked arc sdarc\n");
        let names = Pyz::open(t.path(&out)).payload_names();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".pth") || n.contains("__editable__")),
            "{installer:?}: built, never linked: {names:?}"
        );
    }
    // The archive's bytes changed: refused, by the lock's hash.
    Wheel::new("arc", "1.0")
        .file("arc/__init__.py", "WHO = 'evil'\n")
        .write(&t.path("vendor"));
    build(
        &t,
        &dir,
        Installer::Uv,
        &["--lock", "pylock.toml"],
        "evil.pyz",
    )
    .failure()
    .stderr_line_with(&["hash mismatch for arc", "the lock has sha256:"]);
    assert!(!t.path("evil.pyz").exists());
}

#[test]
fn hash_checked_requirements_are_recorded_as_the_lock() {
    let Some((t, index, _dir)) = locked_world() else {
        return;
    };
    let hash = sha256(&index.dir.join("dep/dep-1.0-py3-none-any.whl"));
    let requirements = t.write(
        "requirements.txt",
        format!("dep==1.0 \\\n    --hash=sha256:{hash}\n"),
    );
    for installer in [Installer::Uv, Installer::Pip] {
        t.rshiv()
            .installer(installer)
            .args(["--index-url", &index.url(), "-r", "requirements.txt"])
            .args(["-e", "dep:VERSION", "-o", "app.pyz"])
            .run()
            .success();
        let environment = Pyz::open(t.path("app.pyz")).environment();
        let provenance = &environment["provenance"];
        assert_eq!(provenance["lock"], "requirements.txt");
        assert_eq!(provenance["lock_kind"], "requirements");
        assert_eq!(provenance["lock_sha256"], sha256(&requirements).as_str());
        assert_eq!(provenance["index_urls"], serde_json::json!([index.url()]));
        let recorded = provenance["installer"].as_str().unwrap();
        let prefix = format!("{} ", installer.name());
        assert!(
            recorded.starts_with(&prefix)
                && recorded[prefix.len()..].starts_with(|c: char| c.is_ascii_digit()),
            "the installer's version: {recorded}"
        );
    }
    // No hashes: nothing pins the build, nothing is recorded.
    t.write("requirements.txt", "dep==1.0\n");
    t.rshiv()
        .installer(Installer::Pip)
        .args(["--index-url", &index.url(), "-r", "requirements.txt"])
        .args(["-e", "dep:VERSION", "-o", "app.pyz"])
        .run()
        .success();
    let environment = Pyz::open(t.path("app.pyz")).environment();
    assert!(environment.get("provenance").is_none_or(|p| p.is_null()));
}

#[test]
fn extras_and_groups_repeat_and_default_groups_are_read() {
    if !has_uv() {
        eprintln!("skipped: uv is needed to make a uv.lock");
        return;
    }
    let t = Test::new();
    let index = Index::start(&t);
    let names = ["exa", "exb", "gone", "gtwo", "lintpkg", "devtool"];
    for name in names {
        index.publish(&Wheel::new(name, "1.0").file(&format!("{name}/__init__.py"), ""));
    }
    let dir = app_project(
        &t,
        &index,
        "[project.optional-dependencies]\na = [\"exa\"]\nb = [\"exb\"]\n\n\
         [dependency-groups]\ndev = [\"devtool\"]\nlint = [\"lintpkg\"]\ng1 = [\"gone\"]\ng2 = [\"gtwo\"]\n\n\
         [tool.uv]\ndefault-groups = [\"dev\", \"lint\"]\n",
    );
    let installed = |args: &[&str]| -> Vec<&str> {
        build(&t, &dir, Installer::Uv, args, "app.pyz").success();
        let pyz = t.path("app.pyz");
        names
            .into_iter()
            .filter(|name| payload_has(&pyz, &format!("{name}-1.0.dist-info")))
            .collect()
    };
    assert_eq!(installed(&[]), ["lintpkg"], "default groups, less dev");
    assert_eq!(
        installed(&["--extra", "a", "--extra", "b", "--group", "g1", "--group", "g2"]),
        ["exa", "exb", "gone", "gtwo", "lintpkg"]
    );
    assert_eq!(installed(&["--group", "dev"]), ["lintpkg", "devtool"]);
}

#[test]
fn a_warm_locked_build_sends_the_index_no_request() {
    let Some((t, _index, dir)) = locked_world() else {
        return;
    };
    build(&t, &dir, Installer::Uv, &[], "first.pyz").success();
    let requests = || {
        let log = std::fs::read_to_string(t.path("index.log")).unwrap();
        log.lines().filter(|l| l.contains("\"GET ")).count()
    };
    let before = requests();
    build(&t, &dir, Installer::Uv, &[], "second.pyz").success();
    assert_eq!(requests(), before, "no request for what the cache holds");
}
