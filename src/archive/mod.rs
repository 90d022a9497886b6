//! The pyz file: a shebang line followed by a PEP 441 zip application.
//!
//! # Layout (format `rshiv-1`)
//!
//! ```text
//! #!/usr/bin/env python3\n       the shebang line (`-p`); nothing else precedes the zip
//! outer zip, entries in this order:
//!   _rshiv/payload.zip           STORED: the payload, an inner zip of the site-packages tree
//!   _rshiv/__init__.py           STORED, empty
//!   _rshiv/bytecode.py           DEFLATED: the extraction's bytecode loader (copied out)
//!   _rshiv/extract.py            DEFLATED: the extraction protocol (first runs only)
//!   _rshiv/runtime.py            DEFLATED: everything after the stub (bootstrap/runtime.py)
//!   _rshiv/stub.py               DEFLATED: the stub, with the build's constants baked in *
//!   _rshiv/stub.pyc              DEFLATED: the stub compiled by the build interpreter (PEP 552)
//!   _rshiv/target.py             STORED: the native check, a multi-target pyz's choice of target
//!   _rshiv/unpack.py             DEFLATED: the payload reader and unpacker (first runs only)
//!   _rshiv/targets.txt           DEFLATED: each target's files (a multi-target pyz only)
//!   __main__.py                  DEFLATED: the PEP 441 entry, a few lines that run the stub *
//!   __main__.pyc                 STORED: `__main__.py` compiled by the build interpreter
//!   environment.json             DEFLATED: shiv's fields plus rshiv's (see `environment`)
//!   central directory
//! ```
//!
//! The two `.pyc` members are there when the build interpreter could compile them
//! (`install::precompile`); the warm path of that Python version reads them, any other
//! reads the sources. Without them, the sources marked * are the warm path and STORED.
//!
//! Why an inner archive: CPython's `zipimport` reads the whole central directory of the
//! outer zip at every start (about 50 ms per 6,000 entries). A dozen outer entries keep that
//! cost flat whatever the payload holds, and since only `zipfile` (which has ZIP64) ever
//! reads the inner archive, payloads over 65,535 files or 4 GiB run on CPython 3.8.
//! The payload is the first member, so its data starts at a fixed offset:
//! `len(shebang line) + 30 + len("_rshiv/payload.zip")`, plus 20 (a ZIP64 extra field in
//! its local header) when the payload could reach 4 GiB; a reader that wants to be sure
//! adds the local header's extra-field length (at offset 28) instead.
//! Offsets in the outer zip count from the start of the file, shebang included, as
//! `zipapp` writes them (so `unzip` reports no "extra bytes"); the inner zip's count from
//! its own start.
//!
//! # The inner zip (the payload)
//!
//! * One entry per file, named by its path relative to site-packages with `/`
//!   separators (`numpy/__init__.py`, `bin/simple_api`); no directory entries, no `.pyc`,
//!   no `__pycache__`.
//! * Entries sorted bytewise by name; each entry's data is compressed with the chosen
//!   method, falling back to STORED when compression does not make it smaller.
//! * Every timestamp is the build time: `SOURCE_DATE_EPOCH` (UTC), else 1980-01-01 00:00.
//! * `version made by` = 3 (Unix) << 8 | `version needed` (20; 46 for bzip2, 63 for
//!   LZMA, 45 at least with ZIP64, as CPython's `zipfile` writes them); external
//!   attributes = mode << 16 where mode is 0o100755 for a file with any execute bit at
//!   build time, else 0o100644. Names are UTF-8, flagged (bit 11) when not ASCII.
//! * Methods: STORED, deflate (8), bzip2 (12), LZMA (14, with the end-of-stream marker,
//!   flag bit 1), as `compress` describes; all extractable by CPython's `zipfile`.
//! * ZIP64 records are written when an archive needs them (65,535 entries or more, a size
//!   or an offset of 4 GiB - 1 or more), and only then.
//!
//! # Build id
//!
//! sha256, as lowercase hex, over the payload in entry order: for each file,
//! `path bytes, 0x00, "100644" or "100755", 0x00, sha256(contents) (32 raw bytes)`.
//! It does not depend on compression, timestamps or the shebang, so two builds of the same
//! tree extract to the same cache directory. `--build-id` replaces it.
//!
//! # Several targets
//!
//! A payload built for several Python versions or platforms (issue 14) adds
//! `_rshiv/targets.txt` (DEFLATED, right before `__main__.py`) and stores the targets'
//! differing files under `_rshiv/<i>/` in the inner zip, as `fleet` describes; a
//! single-target pyz has neither.

pub mod bootstrap;
pub mod compress;
pub mod environment;
pub mod fleet;
pub mod pack;
mod parallel;
#[cfg(test)]
mod tests;
pub mod time;
pub mod writer;

pub use compress::{Compression, InvalidCompression};
pub use pack::{file_sha256, hex, write_pyz, PackOptions, PayloadFile, PayloadSummary, TailMember};
pub use time::{build_timestamp, format_utc};
