//! Reading installed distributions' metadata files (PEP 376 / PEP 610 `.dist-info`).
//!
//! Pure parsing of text: `METADATA` (core metadata, PEP 566/643, email-header style),
//! `WHEEL` (PEP 427) and `entry_points.txt` (the entry points spec: INI without
//! interpolation, keys case-sensitive).

use std::collections::BTreeMap;

use crate::archive::environment::Distribution;

/// Parse `METADATA` (and the `Tag:` lines of `WHEEL`, passed separately) into what the
/// payload reports about a distribution.
///
/// > The license is `License-Expression` (PEP 639) when present, else `License` when it
/// > is a short one-liner, else the `License ::` trove classifiers.
pub fn parse_distribution(metadata: &str, wheel: Option<&str>) -> Distribution {
    let headers = parse_headers(metadata);
    let first = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
            .filter(|value| !value.is_empty() && value != "UNKNOWN")
    };
    let classifiers: Vec<String> = headers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("Classifier"))
        .filter_map(|(_, value)| license_classifier(value))
        .collect();
    let license = first("License-Expression")
        .or_else(|| first("License").filter(|l| !l.contains('\n') && l.len() <= 100))
        .or_else(|| (!classifiers.is_empty()).then(|| classifiers.join(" OR ")));
    Distribution {
        name: first("Name").unwrap_or_default(),
        version: first("Version").unwrap_or_default(),
        license,
        summary: first("Summary"),
        tags: wheel.map(wheel_tags).unwrap_or_default(),
        sha256: None,
        file: None,
    }
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

/// The `Tag:` values of a `WHEEL` file, in file order (PEP 427).
pub fn wheel_tags(wheel: &str) -> Vec<String> {
    parse_headers(wheel)
        .into_iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("Tag"))
        .map(|(_, value)| value.trim().to_string())
        .collect()
}

/// Email-style headers up to the first blank line; continuation lines (starting with
/// whitespace) are joined to the header they continue with a newline.
fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    headers
}

/// The `[console_scripts]` section of an `entry_points.txt`: name -> `module:attr`.
///
/// > The entry points file format is INI; keys are case-sensitive; values may carry
/// > `[extras]` after the object reference, which do not change what runs.
pub fn console_scripts(entry_points: &str) -> BTreeMap<String, String> {
    let mut scripts = BTreeMap::new();
    let mut in_section = false;
    for line in entry_points.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            in_section = line[1..line.len() - 1].trim() == "console_scripts";
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let value = value.split('[').next().unwrap_or(value);
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            scripts.insert(name.trim().to_string(), value);
        }
    }
    scripts
}

/// PEP 503 name normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_fields_and_license_fallbacks() {
        let text = "Metadata-Version: 2.1\nName: Requests\nVersion: 2.32.3\nSummary: Python HTTP for Humans.\nLicense: Apache-2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\nlong description: here\n";
        let dist = parse_distribution(text, Some("Wheel-Version: 1.0\nTag: py3-none-any\n"));
        assert_eq!(dist.name, "Requests");
        assert_eq!(dist.version, "2.32.3");
        assert_eq!(dist.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(dist.summary.as_deref(), Some("Python HTTP for Humans."));
        assert_eq!(dist.tags, ["py3-none-any"]);

        let classifier_only = "Name: x\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved\nClassifier: License :: OSI Approved :: MIT License\n";
        assert_eq!(
            parse_distribution(classifier_only, None).license.as_deref(),
            Some("MIT License")
        );

        let expression =
            "Name: x\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: long\n  text\n";
        assert_eq!(
            parse_distribution(expression, None).license.as_deref(),
            Some("MIT OR Apache-2.0")
        );

        let long_text = "Name: x\nVersion: 1\nLicense: Copyright\n  all rights\n";
        assert_eq!(parse_distribution(long_text, None).license, None);
    }

    #[test]
    fn console_scripts_only_from_their_section() {
        let text = "[gui_scripts]\nGui = a:b\n\n[console_scripts]\nSimple_API = simple_api.__main__:main\ntool = pkg.cli : run [extra]\n# comment\n[other]\nx = y:z\n";
        let scripts = console_scripts(text);
        assert_eq!(scripts.len(), 2);
        assert_eq!(scripts["Simple_API"], "simple_api.__main__:main");
        assert_eq!(scripts["tool"], "pkg.cli:run");
    }

    #[test]
    fn pep503_normalization() {
        assert_eq!(normalize_name("Foo.Bar__baz-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("ansible_core"), "ansible-core");
    }
}
