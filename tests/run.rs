//! The world a pyz's app runs in: `sys.path`, `.pth` files, its files byte for byte, its
//! distributions' metadata, and the interpreter's own flags, under every CPython.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::{build_greet, greet, Test, Wheel};
use crate::{every_cpython, python};

/// `sys.path`: the standard library, then the extracted payload, then the interpreter's
/// own site-packages.
fn sys_path_order(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:path"], "path.pyz");
    let out = t.pyz(&python, "path.pyz").run();
    out.success();
    let paths = t
        .command(&python)
        .args([
            "-c",
            "import sysconfig; p = sysconfig.get_paths(); print(p['stdlib']); print(p['purelib'])",
        ])
        .run();
    let wanted = paths.lines();
    let payload = t.extraction("path.pyz").join("site-packages");
    let position = |entry: &Path| {
        out.lines()
            .iter()
            .position(|line| Path::new(line) == entry)
            .unwrap_or_else(|| panic!("{} is not on sys.path:\n{}", entry.display(), out.stdout))
    };
    let stdlib = position(Path::new(wanted[0]));
    let ours = position(&payload);
    let system = position(Path::new(wanted[1]));
    assert!(
        stdlib < ours && ours < system,
        "expected stdlib < payload < site-packages, got {stdlib}, {ours}, {system}:\n{}",
        out.stdout
    );
}
every_cpython!(sys_path_order);

/// `.pth` files at the top of the payload are processed: path lines and `import` lines.
fn pth_files(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("pthdemo", "1.0")
        .file("pthdemo.pth", "extra_dir\nimport os; os.environ['PTH_RAN'] = 'yes'\n")
        .file("extra_dir/hidden.py", "VALUE = 'found'\n")
        .file(
            "pthdemo_main.py",
            "def main():\n    import os, hidden\n    print(hidden.VALUE, os.environ.get('PTH_RAN'))\n",
        )]);
    t.build(
        &["pthdemo", "-e", "pthdemo_main:main", "-o", "pth.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "pth.pyz")
        .run()
        .success()
        .stdout_is("found yes\n");
}
every_cpython!(pth_files);

/// Odd payload files come out byte for byte: non-ASCII names, empty files, binary and
/// incompressible data, deep paths; execute bits survive extraction.
fn payload_fidelity(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut noise = Vec::with_capacity(1 << 20);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    while noise.len() < 1 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.extend_from_slice(&state.to_le_bytes());
    }
    let deep = "greet/a/b/c/d/e/f/g/h/deep.txt";
    let wheels = t.wheels(&[greet()
        .file("greet/données.py", "VALUE = 'é'\n")
        .file("greet/empty.txt", "")
        .file("greet/binary.bin", &binary)
        .file("greet/noise.bin", &noise)
        .file(deep, "deep\n")
        .executable("greet/tool.sh", "#!/bin/sh\necho tool\n")]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    t.pyz(&python, "app.pyz").run().success();
    let site = t.extraction("app.pyz").join("site-packages");
    let read = |name: &str| {
        std::fs::read(site.join(name)).unwrap_or_else(|e| panic!("read extracted {name}: {e}"))
    };
    assert_eq!(read("greet/données.py"), "VALUE = 'é'\n".as_bytes());
    assert_eq!(read("greet/empty.txt"), b"");
    assert!(read("greet/binary.bin") == binary);
    assert!(read("greet/noise.bin") == noise);
    assert_eq!(read(deep), b"deep\n");
    let mode = std::fs::metadata(site.join("greet/tool.sh"))
        .expect("stat tool.sh")
        .mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
    t.command(site.join("greet/tool.sh"))
        .run()
        .success()
        .stdout_is("tool\n");
}
every_cpython!(payload_fidelity);

/// The payload's distributions are visible to `importlib.metadata`: versions and entry
/// points (what `--version` options and plugin systems read).
fn distribution_metadata(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/meta.py",
        r#"import importlib.metadata as md


def main():
    eps = md.entry_points()
    scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else eps["console_scripts"]
    names = sorted(ep.name for ep in scripts if ep.value.startswith("greet:"))
    print(md.version("greet"), names)
"#,
    )]);
    t.build(
        &["greet", "-e", "greet.meta:main", "-o", "meta.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "meta.pyz")
        .run()
        .success()
        .stdout_is("1.0 ['greet', 'greet-seven']\n");
}
every_cpython!(distribution_metadata);

/// The interpreter's own flags do not get in the way: `-I` (isolated), `-S` (no site),
/// `-B`, and a relative path from another directory.
#[test]
fn interpreter_flags_and_relative_paths() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    for flag in ["-I", "-S", "-B", "-E"] {
        t.command(&python)
            .arg(flag)
            .arg(t.path("app.pyz"))
            .run()
            .success()
            .stdout_is("hello from greet\n");
    }
    t.mkdir("elsewhere");
    t.command(&python)
        .arg("../app.pyz")
        .current_dir("elsewhere")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}
