//! Reading a built pyz back, as the format in `src/archive/mod.rs` describes it: a shebang
//! line, an outer zip whose first member `_rshiv/payload.zip` is the payload (an inner zip
//! of site-packages), `__main__.py` and `environment.json`.

use std::io::{Cursor, Read};
use std::path::Path;

use zip::ZipArchive;

/// The payload's member name in the outer zip.
pub const PAYLOAD: &str = "_rshiv/payload.zip";

/// One member of a zip, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// `external attributes >> 16`: the Unix mode, file type bits included.
    pub mode: Option<u32>,
    /// (year, month, day, hour, minute, second) of the DOS timestamp.
    pub modified: (u16, u8, u8, u8, u8, u8),
    pub compression: zip::CompressionMethod,
    pub data: Vec<u8>,
}

/// A pyz file read into memory.
pub struct Pyz {
    pub bytes: Vec<u8>,
    /// The outer zip's members, in archive order.
    pub outer: Vec<Member>,
}

impl Pyz {
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let outer =
            members(&bytes).unwrap_or_else(|e| panic!("{} is not a zip: {e}", path.display()));
        Pyz { bytes, outer }
    }

    /// The first line, without its newline (`#!/usr/bin/env python3`).
    pub fn shebang(&self) -> String {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.bytes.len());
        String::from_utf8_lossy(&self.bytes[..end]).into_owned()
    }

    /// Names of the outer zip's members, in order.
    pub fn outer_names(&self) -> Vec<&str> {
        self.outer.iter().map(|m| m.name.as_str()).collect()
    }

    #[track_caller]
    pub fn outer_member(&self, name: &str) -> &Member {
        self.outer
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in the pyz; it has {:?}", self.outer_names()))
    }

    /// `environment.json`, parsed.
    #[track_caller]
    pub fn environment(&self) -> serde_json::Value {
        serde_json::from_slice(&self.outer_member("environment.json").data)
            .expect("environment.json is JSON")
    }

    /// The payload's members, in archive order.
    #[track_caller]
    pub fn payload(&self) -> Vec<Member> {
        members(&self.outer_member(PAYLOAD).data).expect("the payload is a zip")
    }

    /// The payload's file names, in archive order.
    #[track_caller]
    pub fn payload_names(&self) -> Vec<String> {
        self.payload().into_iter().map(|m| m.name).collect()
    }

    /// One payload file by its site-packages path.
    #[track_caller]
    pub fn payload_file(&self, name: &str) -> Member {
        let payload = self.payload();
        let names: Vec<String> = payload.iter().map(|m| m.name.clone()).collect();
        payload
            .into_iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in the payload; it has {names:?}"))
    }
}

/// Every member of the zip in `bytes` (which may start with a shebang line).
pub fn members(bytes: &[u8]) -> zip::result::ZipResult<Vec<Member>> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))?;
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let t = file.last_modified().unwrap_or_default();
        out.push(Member {
            name: file.name().to_owned(),
            mode: file.unix_mode(),
            modified: (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            ),
            compression: file.compression(),
            data,
        });
    }
    Ok(out)
}
