//! A fixed-seed mutation fuzz of the `rshiv info` reader (issue 12): crafted files must
//! give an answer or one error, never a panic, a hang or a huge allocation. Each round
//! mutates a small valid pyz (bytes flipped, size and offset fields saturated, cuts and
//! copies) and runs the text, JSON and SBOM views on it. The round count is fixed; a time
//! budget only stops it early on a slow machine, and nothing is asserted about time.

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::run;
use crate::cli::InfoArgs;

const ROUNDS: usize = 3000;
const BUDGET: Duration = Duration::from_secs(20);

fn zip_of(members: &[(&str, &[u8], CompressionMethod)], prefix: &[u8]) -> Vec<u8> {
    let mut cursor = Cursor::new(prefix.to_vec());
    cursor.set_position(prefix.len() as u64);
    let mut zip = ZipWriter::new(cursor);
    for (name, data, method) in members {
        let options = SimpleFileOptions::default().compression_method(*method);
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A small pyz whose environment.json lacks the counts, so the payload is scanned too.
fn seed() -> Vec<u8> {
    let metadata = b"Metadata-Version: 2.1\nName: greet\nVersion: 1.0\nLicense: MIT\n";
    let payload = zip_of(
        &[
            (
                "greet/__init__.py",
                b"print('hi')\n",
                CompressionMethod::Deflated,
            ),
            (
                "greet-1.0.dist-info/METADATA",
                metadata,
                CompressionMethod::Deflated,
            ),
            (
                "greet-1.0.dist-info/WHEEL",
                b"Tag: py3-none-any\n",
                CompressionMethod::Stored,
            ),
        ],
        b"",
    );
    let environment = br#"{"rshiv_version": "0.1.0", "build_id": "abc", "name": "greet"}"#;
    zip_of(
        &[
            ("_rshiv/payload.zip", &payload, CompressionMethod::Stored),
            ("__main__.py", b"print(1)\n", CompressionMethod::Stored),
            ("environment.json", environment, CompressionMethod::Deflated),
        ],
        b"#!/usr/bin/env python3\n",
    )
}

/// xorshift64*: a fixed sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(data: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(data.len());
        match rng.below(5) {
            0 => data[at] = rng.next() as u8,
            1 => {
                let end = (at + 4).min(data.len());
                data[at..end].fill(0xFF);
            }
            2 => {
                let end = (at + 8).min(data.len());
                let bytes = rng.next().to_le_bytes();
                data[at..end].copy_from_slice(&bytes[..end - at]);
            }
            3 => data.truncate(at.max(1)),
            _ => {
                let len = rng.below(64).min(data.len() - at);
                let piece = data[at..at + len].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, piece);
            }
        }
    }
}

#[test]
fn crafted_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.pyz");
    let sbom = dir.path().join("sbom.json");
    let base = seed();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let started = Instant::now();
    let (mut read, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        if started.elapsed() > BUDGET {
            break;
        }
        let mut data = base.clone();
        mutate(&mut data, &mut rng);
        std::fs::write(&path, &data).unwrap();
        for (json, with_sbom) in [(false, false), (true, false), (false, true)] {
            let args = InfoArgs {
                pyz: path.clone(),
                json,
                sbom: with_sbom.then(|| sbom.clone()),
            };
            match run(&args, &mut Vec::new()) {
                Ok(()) => read += 1,
                Err(err) => {
                    assert!(!format!("{err:#}").is_empty());
                    refused += 1;
                }
            }
        }
    }
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
}

#[test]
fn sizes_near_2_pow_64_do_not_wrap() {
    assert_eq!(crate::progress::human_bytes(u64::MAX), "16.0 EiB");
    assert_eq!(crate::progress::human_bytes(3 << 50), "3.0 PiB");
}
