//! The harness's own fixtures, checked with the installers alone (no rshiv): when these
//! pass, a failing build elsewhere is rshiv's fault, not the fixtures'.

use crate::support::{greet, listing, Project, Test, Wheel};
use crate::{python, uv};

/// `pip install --target` of a fixture wheel gives the package, its dist-info and scripts.
#[test]
fn fixture_wheels_install_with_pip() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[
        greet().script("hello", "#!python\nprint('hi')\n"),
        Wheel::new("other", "2.0").file("other.py", "X = 1\n"),
    ]);
    t.command(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-compile",
            "--no-index",
            "--find-links",
        ])
        .arg(&wheels)
        .args(["--target", "site", "greet", "other"])
        .run()
        .success();
    assert_eq!(
        listing(&t.path("site")),
        [
            "bin",
            "greet",
            "greet-1.0.dist-info",
            "other-2.0.dist-info",
            "other.py"
        ]
    );
    assert!(listing(&t.path("site/bin")).contains(&"hello".to_owned()));
}

/// uv installs a fixture project from its directory with the in-tree backend, offline.
#[test]
fn fixture_projects_build_with_uv() {
    let python = python!(11);
    let uv = uv!();
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("other", "2.0").file("other.py", "X = 1\n")]);
    Project::new("proj", "0.1")
        .file("proj/__init__.py", "def main():\n    print('proj')\n")
        .console_script("proj", "proj:main")
        .dependency("other")
        .write(&t.path("proj"));
    t.command(&uv)
        .args([
            "pip",
            "install",
            "--no-compile",
            "--no-index",
            "--find-links",
        ])
        .arg(&wheels)
        .arg("--python")
        .arg(&python)
        .args(["--target", "site", "./proj"])
        .run()
        .success();
    let site = listing(&t.path("site"));
    assert!(site.contains(&"proj".to_owned()), "{site:?}");
    assert!(site.contains(&"other.py".to_owned()), "{site:?}");
}

/// pip builds a fixture project with build isolation and no index.
#[test]
fn fixture_projects_build_with_pip() {
    let python = python!(11);
    let t = Test::new();
    Project::new("proj", "0.1")
        .file("proj/__init__.py", "")
        .write(&t.path("proj"));
    t.command(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--target",
            "site",
            "./proj",
        ])
        .run()
        .success();
    assert!(listing(&t.path("site")).contains(&"proj-0.1.dist-info".to_owned()));
}
