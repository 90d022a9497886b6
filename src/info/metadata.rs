//! Reading a distribution's `*.dist-info/METADATA` and `WHEEL` as `rshiv info` needs them
//! for a shiv-built pyz (rshiv records them in `environment.json` at build time).
//!
//! TEMPORARY DUPLICATE: `src/metadata.rs` is to hold the one METADATA parser of the
//! crate; until it lands, this small one lives here. Merge the two when it does.

use crate::archive::environment::Distribution;

/// A classifier longer than this, or spanning lines, is a licence text, not a name.
const MAX_LICENSE_NAME: usize = 100;

/// The fields of a core metadata file (PEP 566, PEP 643, PEP 639) that describe it.
///
/// The format is RFC 822 headers: `Key: value` lines up to the first blank line, a line
/// starting with whitespace continuing the previous value. The licence is
/// `License-Expression` (PEP 639), else a short one-line `License`, else the last segment
/// of each `License ::` classifier (`License :: OSI Approved :: MIT License` -> `MIT License`).
pub fn parse_metadata(text: &str) -> Distribution {
    let mut dist = Distribution::default();
    let (mut license, mut expression) = (None, None);
    let mut classifiers = Vec::new();
    for (key, value) in headers(text) {
        match key.to_ascii_lowercase().as_str() {
            "name" => dist.name = value,
            "version" => dist.version = value,
            "summary" => dist.summary = Some(value).filter(|s| !s.is_empty()),
            "license" => license = Some(value),
            "license-expression" => expression = Some(value),
            "classifier" => {
                if let Some(name) = license_classifier(&value) {
                    classifiers.push(name);
                }
            }
            _ => {}
        }
    }
    let short = license.filter(|text| {
        !text.is_empty()
            && text != "UNKNOWN"
            && !text.contains('\n')
            && text.chars().count() <= MAX_LICENSE_NAME
    });
    dist.license = expression
        .filter(|e| !e.is_empty())
        .or(short)
        .or_else(|| (!classifiers.is_empty()).then(|| classifiers.join(", ")));
    dist
}

/// The `Tag:` lines of a `WHEEL` file (the wheel spec, PEP 427): `py3-none-any`, ...
pub fn parse_wheel_tags(text: &str) -> Vec<String> {
    headers(text)
        .filter(|(key, _)| key.eq_ignore_ascii_case("tag"))
        .map(|(_, value)| value)
        .collect()
}

/// `(key, value)` pairs of the header block, continuation lines joined with `\n`.
fn headers(text: &str) -> impl Iterator<Item = (String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = pairs.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            pairs.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    pairs.into_iter()
}

/// `License :: OSI Approved :: MIT License` -> `MIT License`; `License :: OSI Approved`
/// alone names no licence.
fn license_classifier(value: &str) -> Option<String> {
    let segments: Vec<&str> = value.split("::").map(str::trim).collect();
    match segments.as_slice() {
        ["License", "OSI Approved"] => None,
        ["License", .., last] if !last.is_empty() => Some((*last).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_descriptive_fields() {
        let text = "Metadata-Version: 2.1\nName: FastAPI\nVersion: 0.110.0\n\
                    Summary: FastAPI framework\nLicense: MIT\n\nLicense: not a header\n";
        let dist = parse_metadata(text);
        assert_eq!(dist.name, "FastAPI");
        assert_eq!(dist.version, "0.110.0");
        assert_eq!(dist.summary.as_deref(), Some("FastAPI framework"));
        assert_eq!(dist.license.as_deref(), Some("MIT"));
    }

    #[test]
    fn license_expression_wins() {
        let text = "Name: x\nVersion: 1\nLicense: BSD\nLicense-Expression: MIT OR Apache-2.0\n";
        assert_eq!(
            parse_metadata(text).license.as_deref(),
            Some("MIT OR Apache-2.0")
        );
    }

    #[test]
    fn classifiers_stand_in_for_a_missing_or_long_license() {
        let text = "Name: x\nVersion: 1\nLicense: Copyright (c) 2024\n        Permission is \
                    hereby granted\nClassifier: License :: OSI Approved\n\
                    Classifier: License :: OSI Approved :: MIT License\n\
                    Classifier: Programming Language :: Python\n";
        assert_eq!(parse_metadata(text).license.as_deref(), Some("MIT License"));
        let text = "Name: x\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: Public Domain\n";
        assert_eq!(
            parse_metadata(text).license.as_deref(),
            Some("Public Domain")
        );
        assert_eq!(parse_metadata("Name: x\nVersion: 1\n").license, None);
    }

    #[test]
    fn wheel_tags_are_listed() {
        let text = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n\
                    Tag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n";
        assert_eq!(
            parse_wheel_tags(text),
            [
                "cp311-cp311-manylinux_2_17_x86_64",
                "cp311-cp311-manylinux2014_x86_64"
            ]
        );
    }
}
