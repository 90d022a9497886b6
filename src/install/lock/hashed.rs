//! A requirements file in hash-checking mode as the record of a build: `-r FILE` whose
//! every requirement carries `--hash` (pip's "hash-checking mode", which uv honours too) pins
//! what is installed as a lock does, so the artifact records it as one, of kind
//! `requirements`.

use std::path::Path;

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::super::args::{Arg, InstallerArgs};
use super::super::flags::Role;
use super::{index_urls, without_credentials};
use crate::archive::environment::Provenance;
use crate::archive::hex;

/// The kind recorded for a hash-checked requirements file.
pub const KIND: &str = "requirements";

/// The provenance of a build from `args` when they name one requirements file (`-r FILE`)
/// whose every requirement line has a `--hash`: its path as given, its sha256, and the
/// index URLs given on the command line or in the file, credentials removed.
pub fn provenance(
    args: &InstallerArgs,
    installer: impl FnOnce() -> String,
) -> Result<Option<Provenance>> {
    let files: Vec<&std::ffi::OsString> = args
        .0
        .iter()
        .filter_map(|arg| match arg {
            Arg::Option {
                flag: Some(flag),
                value: Some(value),
                ..
            } if flag.role == Role::Requirements => Some(value),
            _ => None,
        })
        .collect();
    let [file] = files.as_slice() else {
        return Ok(None);
    };
    let path = Path::new(file);
    let bytes = fs_err::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let Some(mut indexes) = hashed_indexes(&text) else {
        return Ok(None);
    };
    indexes.splice(0..0, index_urls(&args.index_options()));
    let shown = path.strip_prefix(".").unwrap_or(path);
    Ok(Some(Provenance {
        lock: shown.display().to_string(),
        lock_sha256: hex(&Sha256::digest(&bytes)),
        lock_kind: KIND.to_string(),
        installer: installer(),
        index_urls: indexes.iter().map(|u| without_credentials(u)).collect(),
    }))
}

/// The index URLs a requirements file names, when every requirement in it carries a
/// `--hash` (and it names no other file to read); `None` otherwise.
fn hashed_indexes(text: &str) -> Option<Vec<String>> {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut requirements = 0;
    let mut indexes = Vec::new();
    for line in joined.lines() {
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        if let Some(option) = first.strip_prefix('-') {
            let (name, inline) = option.split_once('=').unwrap_or((option, ""));
            match name {
                "r" | "-requirement" | "c" | "-constraint" => return None,
                "i" | "-index-url" | "-extra-index-url" => {
                    let value = if inline.is_empty() {
                        words.next()?
                    } else {
                        inline
                    };
                    indexes.push(value.to_string());
                }
                _ => {}
            }
            continue;
        }
        requirements += 1;
        if !line.contains("--hash=") && !line.contains("--hash ") {
            return None;
        }
    }
    (requirements > 0).then_some(indexes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_requirement_must_carry_a_hash() {
        let text = "# pinned\n--index-url https://u:p@host.example/simple\n\
                    dep==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n\
                    other==2.0 --hash=sha256:cc  # why\n";
        assert_eq!(
            hashed_indexes(text).unwrap(),
            ["https://u:p@host.example/simple"]
        );
        assert_eq!(
            hashed_indexes("dep==1.0 --hash=sha256:aa\nother==2.0\n"),
            None
        );
        assert_eq!(hashed_indexes("# nothing\n"), None);
        assert_eq!(
            hashed_indexes("-r base.txt\ndep==1.0 --hash=sha256:aa\n"),
            None
        );
    }
}
