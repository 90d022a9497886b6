//! Bytecode of the pyz's start-up files (`__main__.py`, the rendered stub) for the build
//! interpreter, so that a warm start run by that version compiles nothing.
//!
//! Each is a PEP 552 unchecked-hash `.pyc` (`py_compile`'s `UNCHECKED_HASH`), compiled
//! without docstrings (`optimize=2`: the two files have no asserts, and a smaller pyz reads
//! faster). It holds the source's hash but is used without reading the source, as pip's
//! installs can be: the pyz is written once and never changed in place, so the two cannot
//! drift apart. An interpreter whose magic number differs ignores it and compiles the
//! source (zipimport and `bootstrap/__main__.py` both check).

use std::process::Command;

use anyhow::{bail, Context, Result};

use super::Interpreter;

/// Compiles `sys.argv[1]` (a directory of `<i>.py`, named `sys.argv[2 + i]` in the code)
/// into `<i>.pyc`.
const COMPILE: &str = "import os, py_compile, sys
folder, names = sys.argv[1], sys.argv[2:]
for i, name in enumerate(names):
    source = os.path.join(folder, '%d.py' % i)
    py_compile.compile(source, source + 'c', name, doraise=True, optimize=2,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
";

/// The bytecode of each `(name, source)` for `python`, in order; `name` is the code's
/// file name (as tracebacks show it until the bootstrap fixes it to the pyz's path).
pub fn compile(python: &Interpreter, sources: &[(&str, &str)]) -> Result<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir().context("could not create a temporary directory")?;
    for (i, (_, source)) in sources.iter().enumerate() {
        fs_err::write(dir.path().join(format!("{i}.py")), source)?;
    }
    let output = Command::new(&python.executable)
        .args(["-I", "-S", "-c", COMPILE])
        .arg(dir.path())
        .args(sources.iter().map(|(name, _)| name))
        .output()
        .with_context(|| format!("could not run {}", python.executable.display()))?;
    if !output.status.success() {
        bail!(
            "{} could not compile the bootstrap: {}",
            python.executable.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    (0..sources.len())
        .map(|i| Ok(fs_err::read(dir.path().join(format!("{i}.pyc")))?))
        .collect()
}
