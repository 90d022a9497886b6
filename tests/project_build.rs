//! Local projects built by rshiv itself: the reused build environment, build requirements
//! from the user's indexes, backend errors, and the cases left to the installer.

use std::path::{Path, PathBuf};

use crate::support::{proj, Installer, Output, Project, Pyz, Test, Wheel};
use crate::{python, uv};

/// A PEP 517 backend that needs the `buildhelper` distribution to build: it ships `app.py`,
/// whose `main` prints what `buildhelper.MARK` was at build time. With `dynamic`, the
/// requirement comes from `get_requires_for_build_wheel` rather than `[build-system]`.
fn helper_project(t: &Test, dir: &str, dynamic: bool) -> PathBuf {
    let (static_requires, dynamic_requires) = if dynamic {
        ("[]", "['buildhelper', 'absent; python_version < \"3\"']")
    } else {
        ("['buildhelper']", "[]")
    };
    t.write(
        format!("{dir}/pyproject.toml"),
        format!(
            "[build-system]\nrequires = {static_requires}\nbuild-backend = 'backend'\n\
             backend-path = ['_backend']\n"
        ),
    );
    t.write(
        format!("{dir}/_backend/backend.py"),
        format!(
            r#"import os, sys, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return {dynamic_requires}

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import buildhelper
    print("backend says hello")
    name = "app-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        wheel.writestr("app.py", "def main():\n    print(%r)\n" % buildhelper.MARK)
        wheel.writestr("app-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: app\nVersion: 1.0\n")
        wheel.writestr("app-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("app-1.0.dist-info/RECORD", "")
    return name
"#
        ),
    );
    t.path(dir)
}

fn helper_wheel() -> Wheel {
    Wheel::new("buildhelper", "1.0").file("buildhelper.py", "MARK = 'built with the helper'\n")
}

/// The build environments under the test's build cache.
fn environments(t: &Test) -> Vec<PathBuf> {
    let envs = t.path("xdg-cache/rshiv-build/envs");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&envs)
        .map(|entries| {
            entries
                .map(|e| e.expect("read an entry").path())
                .filter(|p| p.is_dir() && !is_hidden(p))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

#[test]
fn build_requirements_come_from_the_users_find_links_with_uv() {
    let _ = uv!();
    build_requirements_come_from_the_users_find_links(Installer::Uv, false);
}

#[test]
fn build_requirements_come_from_the_users_find_links_with_pip() {
    build_requirements_come_from_the_users_find_links(Installer::Pip, false);
}

/// `get_requires_for_build_wheel` asking for more than `[build-system]` lists: rshiv makes
/// an environment that has it too (and builds although a requirement whose marker excludes
/// this interpreter is still not there).
#[test]
fn dynamic_build_requirements_are_installed() {
    build_requirements_come_from_the_users_find_links(Installer::preferred(), true);
}

/// `[build-system] requires` is installed from the user's `--find-links` with `--no-index`
/// (the index options are the user's for the build environment too), once: the second build
/// reuses the environment, and the backend's output stays out of a quiet build.
fn build_requirements_come_from_the_users_find_links(installer: Installer, dynamic: bool) {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[helper_wheel()]);
    helper_project(&t, "app", dynamic);
    let build = || {
        t.rshiv()
            .installer(installer)
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .args(["./app", "-e", "app:main", "-o", "app.pyz"])
            .run()
            .success()
            .stderr_line_with(&["building", "app", "backend"])
            .stderr_lacks("backend says hello");
    };
    build();
    let first = environments(&t);
    assert_eq!(first.len(), if dynamic { 2 } else { 1 }, "{first:?}");
    let made = std::fs::metadata(first[0].join(".rshiv-build-env"))
        .and_then(|m| m.modified())
        .expect("the environment's marker");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("built with the helper\n");
    let payload = Pyz::open(t.path("app.pyz")).payload_names();
    assert!(
        !payload.iter().any(|name| name.starts_with("buildhelper")),
        "a build requirement is not part of the payload: {payload:?}"
    );

    assert!(
        !t.path("app/_backend/__pycache__").exists(),
        "PYTHONDONTWRITEBYTECODE is honoured in the project's tree"
    );

    build();
    assert_eq!(environments(&t), first, "the environment is reused");
    let again = std::fs::metadata(first[0].join(".rshiv-build-env"))
        .and_then(|m| m.modified())
        .expect("the environment's marker");
    assert_eq!(made, again, "the environment is not made again");
}

/// A backend that fails: its output is shown, then one line names the project and the
/// backend; nothing is written.
#[test]
fn a_failing_backend_is_reported_with_its_output() {
    let t = Test::new();
    t.write(
        "app/pyproject.toml",
        "[build-system]\nrequires = []\nbuild-backend = 'backend'\nbackend-path = ['.']\n\
         [project]\nname = 'app'\nversion = '1.0'\ndependencies = ['dep']\n",
    );
    t.write(
        "app/backend.py",
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    \
         raise RuntimeError('no compiler for the frobnicator')\n",
    );
    let wheels = PathBuf::from(t.mkdir("wheels"));
    t.build(&["./app", "-e", "app:main", "-o", "app.pyz"], &wheels)
        .failure()
        .stderr_contains("  | RuntimeError: no compiler for the frobnicator")
        .stderr_line_with(&[
            "error: building ./app with backend failed",
            "RuntimeError: no compiler for the frobnicator",
        ]);
    assert!(!t.path("app.pyz").exists());
}

/// An unreadable `pyproject.toml` is named in one line.
#[test]
fn invalid_pyproject_is_named() {
    let t = Test::new();
    t.write("app/pyproject.toml", "[build-system\nrequires = []\n");
    let wheels = PathBuf::from(t.mkdir("wheels"));
    t.build(&["./app", "-e", "app:main", "-o", "app.pyz"], &wheels)
        .failure()
        .stderr_line_with(&["app/pyproject.toml", "is not valid TOML"]);
}

/// The payload is the same whether rshiv or the installer builds the project
/// (`--no-reuse-build-env`), which then makes no build environment.
#[test]
fn the_installer_builds_the_same_payload() {
    let t = Test::new();
    let wheels = PathBuf::from(t.mkdir("wheels"));
    proj().write(&t.path("proj"));
    t.build(&["./proj", "-c", "proj", "-o", "ours.pyz"], &wheels)
        .success()
        .stderr_line_with(&["building", "proj"]);
    std::fs::remove_dir_all(t.path("xdg-cache/rshiv-build")).expect("remove the build cache");
    the_installer_builds_ours(&t, &wheels).stderr_lacks("building");
    assert!(environments(&t).is_empty());
}

/// Build `./proj` with `--no-reuse-build-env` (the installer builds it) into `theirs.pyz`,
/// and check that its payload is the one of `ours.pyz`.
#[track_caller]
fn the_installer_builds_ours(t: &Test, wheels: &Path) -> Output {
    let output = t.build(
        &[
            "--no-reuse-build-env",
            "./proj",
            "-c",
            "proj",
            "-o",
            "theirs.pyz",
        ],
        wheels,
    );
    output.success();
    assert_eq!(
        Pyz::open(t.path("ours.pyz")).environment()["build_id"],
        Pyz::open(t.path("theirs.pyz")).environment()["build_id"]
    );
    output
}

/// Options for the installer's own builds (`--config-settings` here) leave the project to
/// the installer, which receives them.
#[test]
fn build_options_leave_the_project_to_the_installer() {
    let python = python!(11);
    let t = Test::new();
    let wheels = PathBuf::from(t.mkdir("wheels"));
    proj().write(&t.path("proj"));
    t.build(
        &[
            "--config-settings",
            "mode=fast",
            "./proj",
            "-c",
            "proj",
            "-o",
            "app.pyz",
        ],
        &wheels,
    )
    .success()
    .stderr_lacks("building");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
}

/// `./proj[extra]`: the wheel is installed with the extra, which pulls its dependency.
#[test]
fn extras_of_a_local_project_are_installed() {
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("other", "2.0").file("other.py", "")]);
    let dir = t.path("proj");
    proj().write(&dir);
    let metadata = dir.join("_backend/project.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metadata).expect("read")).expect("json");
    // The backend writes one `Requires-Dist:` line per dependency: this one adds the
    // `Provides-Extra:` line that declares the extra.
    spec["dependencies"] = serde_json::json!(["other; extra == 'more'\nProvides-Extra: more"]);
    std::fs::write(&metadata, spec.to_string()).expect("write");
    t.build(&["./proj[more]", "-c", "proj", "-o", "app.pyz"], &wheels)
        .success()
        .stderr_line_with(&["building", "proj"]);
    let payload = Pyz::open(t.path("app.pyz")).payload_names();
    assert!(payload.contains(&"other.py".to_owned()), "{payload:?}");
}

/// A build requirement that cannot be found: one line names it, and no half-made
/// environment is left in the build cache.
#[test]
fn a_missing_build_requirement_is_named() {
    let t = Test::new();
    helper_project(&t, "app", false);
    let wheels = PathBuf::from(t.mkdir("wheels"));
    t.build(&["./app", "-e", "app:main", "-o", "app.pyz"], &wheels)
        .failure()
        .stderr_line_with(&["could not install the build requirements buildhelper"]);
    let envs = t.path("xdg-cache/rshiv-build/envs");
    let left: Vec<_> = std::fs::read_dir(&envs)
        .expect("the environments' directory")
        .map(|e| e.expect("an entry").file_name())
        .filter(|name| !name.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!t.path("app.pyz").exists());
}

/// Four builds at once, with an empty build cache, of one project into four files: one
/// environment is made and shared, the builds of the tree take turns, and all succeed.
#[test]
fn concurrent_builds_share_one_environment() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[helper_wheel()]);
    helper_project(&t, "app", false);
    let children: Vec<_> = (0..4)
        .map(|i| {
            t.rshiv()
                .installer(Installer::preferred())
                .args(["--no-index", "--find-links"])
                .arg(&wheels)
                .args(["./app", "-e", "app:main", "-o", &format!("app{i}.pyz")])
                .spawn(&t.path(format!("build{i}.log")))
        })
        .collect();
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().expect("wait for a build");
        let log = String::from_utf8_lossy(&t.read(format!("build{i}.log"))).into_owned();
        assert!(status.success(), "build {i} failed:\n{log}");
    }
    assert_eq!(environments(&t).len(), 1);
    for i in 0..4 {
        t.pyz(&python, format!("app{i}.pyz"))
            .run()
            .success()
            .stdout_is("built with the helper\n");
    }
}

/// A build cache that cannot be made (here its parent is a file) costs only the reuse: one
/// warning, and the installer builds the project.
#[test]
fn an_unusable_build_cache_leaves_the_build_to_the_installer() {
    let python = python!(11);
    let t = Test::new();
    let wheels = PathBuf::from(t.mkdir("wheels"));
    proj().write(&t.path("proj"));
    t.write("not-a-dir", "");
    t.rshiv()
        .installer(Installer::preferred())
        .env("RSHIV_BUILD_CACHE", t.path("not-a-dir/cache"))
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .args(["./proj", "-c", "proj", "-o", "app.pyz"])
        .run()
        .success()
        .stderr_line_with(&["warning", "cannot use the build cache", "not-a-dir"])
        .stderr_lacks("building ./proj");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
}

/// With uv, the dependencies that `[project]` declares are installed while the project
/// builds; the payload is the one of a build without the overlap, and the pyz runs.
#[test]
fn declared_dependencies_install_while_the_project_builds() {
    let python = python!(11);
    let _ = uv!();
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("dep", "1.0").file("dep.py", "WORD = 'from dep'\n")]);
    proj_using_dep().write(&t.path("proj"));
    t.build(&["-v", "./proj", "-c", "proj", "-o", "ours.pyz"], &wheels)
        .success()
        .stderr_line_with(&["meanwhile installing the declared dependencies"])
        .stderr_lacks("did not work out");
    t.pyz(&python, "ours.pyz")
        .run()
        .success()
        .stdout_is("proj from dep\n");
    the_installer_builds_ours(&t, &wheels);
}

/// A backend whose wheel requires something other than `[project]` declares (against
/// PEP 621): the early install fails on the declared name, and the build falls back to one
/// install of the wheel, which holds what the wheel requires; `-v` says which step failed.
#[test]
fn dependencies_declared_wrongly_fall_back_to_one_install() {
    let _ = uv!();
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("dep", "1.0").file("dep.py", "WORD = 'from dep'\n")]);
    let dir = proj_using_dep().write(&t.path("proj"));
    let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).expect("read");
    let wrong = pyproject.replace(r#"["dep"]"#, r#"["not-on-any-index"]"#);
    assert_ne!(wrong, pyproject);
    std::fs::write(dir.join("pyproject.toml"), wrong).expect("write");
    t.build(&["-v", "./proj", "-c", "proj", "-o", "app.pyz"], &wheels)
        .success()
        .stderr_line_with(&[
            "installing the dependencies first did not work out",
            "on the dependencies alone failed (exit code",
        ]);
    let payload = Pyz::open(t.path("app.pyz")).payload_names();
    assert!(payload.contains(&"dep.py".to_owned()), "{payload:?}");
}

/// `proj`, whose `main` prints a word of its dependency `dep`.
fn proj_using_dep() -> Project {
    Project::new("proj", "0.1")
        .file(
            "proj/__init__.py",
            "def main():\n    import dep\n    print('proj', dep.WORD)\n",
        )
        .console_script("proj", "proj:main")
        .dependency("dep")
}
