//! The bundled interpreter's section of `rshiv info`.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::trailer::Trailer;
use crate::progress::human_bytes;

/// The trailer of `path` if it is a native executable.
pub fn read(path: &Path) -> Result<Option<Trailer>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    Trailer::read(&file, len)
        .with_context(|| format!("{} has a damaged native trailer", path.display()))
}

/// Rows for the human view, in its `  key  value` shape.
pub fn human(trailer: &Trailer) -> String {
    let rows = [
        (
            "launcher",
            format!("rshiv-launcher {}", trailer.launcher_version),
        ),
        (
            "python",
            format!(
                "CPython {} for {}",
                trailer.python_version, trailer.python_platform
            ),
        ),
        (
            "archive",
            format!(
                "{} {} (sha256 {})",
                human_bytes(trailer.archive_size),
                trailer.compression,
                trailer.archive_sha256
            ),
        ),
        (
            "unpacked",
            format!(
                "{} in {} files",
                human_bytes(trailer.unpacked_bytes),
                trailer.files
            ),
        ),
    ];
    rows.iter()
        .map(|(key, value)| format!("  {key:<11}  {value}\n"))
        .collect()
}

/// The `bundled_python` object of `rshiv info --json`.
pub fn json(trailer: &Trailer) -> Value {
    json!({
        "version": trailer.python_version,
        "platform": trailer.python_platform,
        "executable": trailer.python_executable,
        "archive_sha256": trailer.archive_sha256,
        "archive_size": trailer.archive_size,
        "compression": trailer.compression,
        "unpacked_bytes": trailer.unpacked_bytes,
        "files": trailer.files,
        "launcher_version": trailer.launcher_version,
    })
}
