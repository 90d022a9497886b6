//! The pyz file: a shebang line followed by a PEP 441 zip application.
//!
//! # Layout (format `rshiv-1`)
//!
//! ```text
//! #!/usr/bin/env python3\n       the shebang line (`-p`); nothing else precedes the zip
//! outer zip, entries in this order, all STORED:
//!   _rshiv/payload.zip           the payload: an inner zip of the site-packages tree
//!   _rshiv/__init__.py           empty
//!   _rshiv/runtime.py            cold path and rare features (bootstrap/runtime.py)
//!   __main__.py                  warm path, with the build's constants baked in
//!   environment.json             shiv's fields plus rshiv's (see `environment`)
//!   central directory
//! ```
//!
//! Why an inner archive: CPython's `zipimport` reads the whole central directory of the
//! outer zip at every start (about 50 ms per 6,000 entries). Five outer entries keep that
//! cost flat whatever the payload holds, and since only `zipfile` (which has ZIP64) ever
//! reads the inner archive, payloads over 65,535 files or 4 GiB run on CPython 3.8.
//! The payload is the first member, so its data starts at a fixed offset:
//! `len(shebang line) + 30 + len("_rshiv/payload.zip")`.
//!
//! # The inner zip (the payload)
//!
//! * One entry per file, named by its path relative to site-packages with `/`
//!   separators (`numpy/__init__.py`, `bin/simple_api`); no directory entries, no `.pyc`,
//!   no `__pycache__`.
//! * Entries sorted bytewise by name; each entry's data is compressed with the chosen
//!   method, falling back to STORED when compression does not make it smaller.
//! * Every timestamp is the build time: `SOURCE_DATE_EPOCH` (UTC), else 1980-01-01 00:00.
//! * `version made by` = 3 (Unix) << 8 | 20; external attributes = mode << 16 where mode
//!   is 0o100755 for a file with any execute bit at build time, else 0o100644.
//! * ZIP64 records are written when an archive needs them (over 65,535 entries, a size or
//!   an offset over 4 GiB - 1), and only then.
//!
//! # Build id
//!
//! sha256, as lowercase hex, over the payload in entry order: for each file,
//! `path bytes, 0x00, "100644" or "100755", 0x00, sha256(contents) (32 raw bytes)`.
//! It does not depend on compression, timestamps or the shebang, so two builds of the same
//! tree extract to the same cache directory. `--build-id` replaces it.

pub mod bootstrap;
pub mod compress;
pub mod environment;
pub mod pack;
mod parallel;
#[cfg(test)]
mod tests;
pub mod time;
pub mod writer;

pub use compress::{Compression, InvalidCompression};
pub use pack::{write_pyz, PackOptions, PayloadFile, PayloadSummary, TailMember};
pub use time::{build_timestamp, format_utc};
