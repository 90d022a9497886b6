//! The Python runtime that goes into every pyz, embedded at compile time.
//!
//! `bootstrap/stub.py` holds one line `_BAKED = None  # rshiv:baked`; the build replaces it
//! with `_BAKED = {...}`, a Python literal of the build's constants (see `environment::Baked`),
//! so that a warm start reads nothing else from the archive. `bootstrap/__main__.py`, the
//! PEP 441 entry, runs it.

use anyhow::{bail, Result};
use serde_json::Value;

use super::environment::{Baked, Environment};
use super::fleet::Manifest;
use super::pack::TailMember;

/// The PEP 441 `__main__.py`: a few lines that run the stub, from its bytecode when the pyz
/// has the running interpreter's (else Python compiles this file twice per start, the stub
/// once).
pub const MAIN: &str = include_str!("../../bootstrap/__main__.py");
/// Source of the warm path, `_rshiv/stub.py`, with the baked line still a placeholder.
pub const STUB_TEMPLATE: &str = include_str!("../../bootstrap/stub.py");
/// Everything after the stub (settings, dispatch, rare features): `_rshiv/runtime.py`.
pub const RUNTIME: &str = include_str!("../../bootstrap/runtime.py");
/// The extraction's bytecode loader, cached in the extraction and imported by every run:
/// `_rshiv/bytecode.py`.
pub const BYTECODE: &str = include_str!("../../bootstrap/bytecode.py");
/// Whether the interpreter can load the payload's extensions, and the choice of a
/// multi-target pyz's target (imported from the pyz by the stub of such a pyz only, from the
/// extraction's compiled copy otherwise): `_rshiv/target.py`.
pub const TARGET: &str = include_str!("../../bootstrap/target.py");
/// The extraction protocol, imported by first runs only: `_rshiv/extract.py`.
pub const EXTRACT: &str = include_str!("../../bootstrap/extract.py");
/// The payload reader and parallel unpacker, imported by first runs only: `_rshiv/unpack.py`.
pub const UNPACK: &str = include_str!("../../bootstrap/unpack.py");
/// The placeholder line in `STUB_TEMPLATE`.
pub const BAKED_PLACEHOLDER: &str = "_BAKED = None  # rshiv:baked";

/// The names of the outer zip's members that the bootstrap and Rust share (the payload's
/// is [`super::pack::PAYLOAD_NAME`]). The bootstrap spells them too; the drift test in
/// `cache::layout` runs it and compares.
pub mod member {
    /// The PEP 441 entry, which runs the stub.
    pub const MAIN: &str = "__main__.py";
    /// The stub, with the build's constants baked in.
    pub const STUB: &str = "_rshiv/stub.py";
    /// `__main__.py` and the stub compiled by the build interpreter (see
    /// `install::precompile`), when it could.
    pub const MAIN_PYC: &str = "__main__.pyc";
    pub const STUB_PYC: &str = "_rshiv/stub.pyc";
    /// The `_rshiv` package's `__init__.py`.
    pub const PACKAGE: &str = "_rshiv/__init__.py";
    pub const BYTECODE: &str = "_rshiv/bytecode.py";
    pub const EXTRACT: &str = "_rshiv/extract.py";
    pub const RUNTIME: &str = "_rshiv/runtime.py";
    pub const TARGET: &str = "_rshiv/target.py";
    pub const UNPACK: &str = "_rshiv/unpack.py";
    /// The build's record (see `environment::Environment`).
    pub const ENVIRONMENT: &str = "environment.json";
    /// Which payload files make each target of a multi-target pyz (see `archive::fleet`);
    /// only in a pyz built for several targets, read by its first runs (`bootstrap/unpack.py`).
    pub const TARGETS: &str = "_rshiv/targets.txt";
}

/// `_rshiv/stub.py` with the placeholder line replaced by `_BAKED = <baked as a literal>`.
pub fn render_stub(baked: &Baked) -> Result<String> {
    render(STUB_TEMPLATE, baked)
}

/// The outer zip's members after the payload, in the order the format fixes (see
/// `archive`): the `_rshiv` package (its stub and runtime), `targets.txt` for several
/// targets, `__main__.py`, `environment.json`. `compile` gives the bytecode of
/// `(member name, source)` pairs for the build interpreter, or None: then the pyz carries
/// no `__main__.pyc` and `_rshiv/stub.pyc`, and every interpreter compiles those sources.
pub fn tail_members(
    baked: &Baked,
    env: &Environment,
    targets: Option<&Manifest>,
    compile: impl FnOnce(&[(&str, &str)]) -> Option<Vec<Vec<u8>>>,
) -> Result<Vec<TailMember>> {
    // The warm path reads `__main__.pyc` (stored: zipimport reads it before anything can
    // import zlib) and the stub's bytecode (deflated: zlib's import costs nothing
    // measurable, and the pyz stays as small as shiv's); the sources (for other
    // interpreters), the runtime and environment.json are read on first runs, by other
    // versions and by tools, so they shrink. Without the bytecode, the sources are the
    // warm path and stay stored.
    let tail = |name: &str, data: Vec<u8>, deflate: bool| TailMember {
        name: name.to_string(),
        data,
        deflate,
    };
    let stub = render_stub(baked)?;
    let compiled: Option<[Vec<u8>; 2]> = compile(&[(member::MAIN, MAIN), (member::STUB, &stub)])
        .and_then(|pycs| pycs.try_into().ok());
    let (main_pyc, stub_pyc) = match compiled {
        Some([main, stub]) => (Some(main), Some(stub)),
        None => (None, None),
    };
    let mut members = vec![
        tail(member::PACKAGE, Vec::new(), false),
        tail(member::BYTECODE, BYTECODE.as_bytes().to_vec(), true),
        tail(member::EXTRACT, EXTRACT.as_bytes().to_vec(), true),
        tail(member::RUNTIME, RUNTIME.as_bytes().to_vec(), true),
        tail(member::STUB, stub.into_bytes(), stub_pyc.is_some()),
    ];
    members.extend(stub_pyc.map(|data| tail(member::STUB_PYC, data, true)));
    members.extend([
        // Read by the warm path of a multi-target pyz: stored, like the stub.
        tail(member::TARGET, TARGET.as_bytes().to_vec(), false),
        tail(member::UNPACK, UNPACK.as_bytes().to_vec(), true),
    ]);
    if let Some(targets) = targets {
        members.push(tail(member::TARGETS, targets.to_text(), true));
    }
    members.push(tail(
        member::MAIN,
        MAIN.as_bytes().to_vec(),
        main_pyc.is_some(),
    ));
    members.extend(main_pyc.map(|data| tail(member::MAIN_PYC, data, false)));
    members.push(tail(member::ENVIRONMENT, env.to_json()?, true));
    Ok(members)
}

fn render(template: &str, baked: &Baked) -> Result<String> {
    let is_placeholder = |line: &str| line.trim_end_matches(['\n', '\r']) == BAKED_PLACEHOLDER;
    let found = template
        .split_inclusive('\n')
        .filter(|line| is_placeholder(line))
        .count();
    if found != 1 {
        bail!("bootstrap/stub.py must hold the line `{BAKED_PLACEHOLDER}` exactly once, found it {found} times");
    }
    let mut literal = String::new();
    python_literal(&serde_json::to_value(baked)?, &mut literal);
    Ok(template
        .split_inclusive('\n')
        .map(|line| {
            if is_placeholder(line) {
                let ending = &line[BAKED_PLACEHOLDER.len()..];
                format!("_BAKED = {literal}{ending}")
            } else {
                line.to_string()
            }
        })
        .collect())
}

/// A JSON value as a Python expression that evaluates to the same data (`json.loads`'s
/// mapping: null/true/false become None/True/False). Object keys are sorted, and strings
/// are pure ASCII, so the same value always gives the same text.
fn python_literal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        // JSON's number syntax is a subset of Python's (and JSON has no NaN or infinity).
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => python_str(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_literal(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_str(key, out);
                out.push_str(": ");
                python_literal(item, out);
            }
            out.push('}');
        }
    }
}

/// A double-quoted Python string literal (Python reference, "String and Bytes literals"):
/// printable ASCII as is, everything else escaped.
fn python_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFF => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
}

/// Lay the bootstrap out in `dir` as a pyz holds it (`_rshiv/*.py`), its stub as
/// `stub.py` (the baked line still a placeholder), for tests that run its code.
#[cfg(test)]
pub(crate) fn write_package(dir: &std::path::Path) {
    let package = dir.join("_rshiv");
    std::fs::create_dir(&package).unwrap();
    std::fs::write(package.join("__init__.py"), "").unwrap();
    for (name, source) in [
        ("bytecode.py", BYTECODE),
        ("runtime.py", RUNTIME),
        ("target.py", TARGET),
        ("extract.py", EXTRACT),
        ("unpack.py", UNPACK),
    ] {
        std::fs::write(package.join(name), source).unwrap();
    }
    std::fs::write(package.join("stub.py"), STUB_TEMPLATE).unwrap();
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::archive::environment::Native;

    fn awkward_baked() -> Baked {
        Baked {
            format: 1,
            name: "api \"quoted\" 'single' \\back\\slash".into(),
            build_id: "line\nbreak\r\ttab \u{0}nul \u{7f}del".into(),
            entry_point: Some("caf\u{e9}.na\u{ef}ve:m\u{e4}in \u{2028} \u{1f40d}".into()),
            console_scripts: [
                ("z".to_string(), "z:main".to_string()),
                ("a b".to_string(), "a:\u{fffd}".to_string()),
            ]
            .into(),
            root: Some("$HOME/.cache".into()),
            pth: vec!["distutils-precedence.pth".into()],
            files: u64::MAX,
            native: Some(Native {
                python: Some([3, 11]),
                machines: vec!["x86_64".into()],
                ..Native::default()
            }),
            ..Baked::default()
        }
    }

    #[test]
    fn the_literal_is_what_python_reads() {
        let baked = awkward_baked();
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.py");
        let source = render("import json, sys\n_BAKED = None  # rshiv:baked\nsys.stdout.write(json.dumps(_BAKED))\n", &baked).unwrap();
        assert!(source.is_ascii());
        std::fs::write(&main, &source).unwrap();
        let output = Command::new("python3").arg(&main).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Baked = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(printed, baked);
    }

    #[test]
    fn the_template_renders_and_the_placeholder_is_required() {
        let stub = render_stub(&Baked::default()).unwrap();
        assert!(!stub.contains(BAKED_PLACEHOLDER));
        assert!(stub.contains("\n_BAKED = {\"build_id\": \"\", "), "{stub}");
        let err = render("print(1)\n", &Baked::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("found it 0 times"), "{err}");
        let twice = format!("{BAKED_PLACEHOLDER}\n{BAKED_PLACEHOLDER}\n");
        assert!(render(&twice, &Baked::default()).is_err());
    }

    /// A deflated entry that inflates to 64 MiB while declaring 100 bytes (or 2 MiB,
    /// streamed) stops with one error after the declared size, without the memory.
    #[test]
    fn an_entry_inflating_past_its_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_package(dir.path());
        let script = r#"
import os, resource, sys, tempfile, zlib
sys.path.insert(0, sys.argv[1])
from _rshiv import runtime, unpack
bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
data = b"".join(bomb.compress(bytes(1 << 20)) for _ in range(64)) + bomb.flush()
out = os.open(os.devnull, os.O_WRONLY)
try:
    unpack.write_whole(out, unpack.DEFLATED, data, 100, "bomb.py")
except runtime.Fatal as error:
    print(error)
fd, _ = tempfile.mkstemp()
os.write(fd, data)
try:
    unpacker = unpack.Unpacker(fd, 0, "unused")
    unpacker.pieces(out, unpack.Inflater(unpack.DEFLATED, "big.bin"), 0, len(data), 2 << 20)
except runtime.Fatal as error:
    print(error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"#;
        let output = Command::new("python3")
            .args(["-I", "-c", script])
            .arg(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "the payload is damaged: bomb.py inflates beyond its declared 100 bytes",
                "the payload is damaged: big.bin inflates beyond its declared 2097152 bytes",
            ]
        );
        let peak_mb: u64 = lines[2].parse().unwrap();
        assert!(peak_mb < 48, "peak {peak_mb} MB");
    }

    #[test]
    fn tail_members_come_in_the_documented_order() {
        let names = |targets| -> Vec<String> {
            tail_members(&Baked::default(), &Environment::default(), targets, |_| {
                None
            })
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect()
        };
        let manifest = Manifest::default();
        let several = names(Some(&manifest));
        assert_eq!(
            several[7..],
            ["_rshiv/targets.txt", "__main__.py", "environment.json"]
        );
        let names = names(None);
        assert_eq!(
            names,
            [
                "_rshiv/__init__.py",
                "_rshiv/bytecode.py",
                "_rshiv/extract.py",
                "_rshiv/runtime.py",
                "_rshiv/stub.py",
                "_rshiv/target.py",
                "_rshiv/unpack.py",
                "__main__.py",
                "environment.json"
            ]
        );
    }
}
