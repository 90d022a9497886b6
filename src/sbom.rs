//! A CycloneDX 1.5 bill of materials (JSON) of a pyz's payload: what security teams ask
//! release pipelines for (`rshiv info --sbom FILE`).
//!
//! The BOM is a function of the archive alone: its serial number is a UUID derived from the
//! build id and its timestamp is the build time, so the same pyz always gives the same BOM.
//! Spec: CycloneDX 1.5 JSON (`bomFormat`, `specVersion`, `serialNumber`, `metadata`,
//! `components`); package URLs per the purl spec's `pypi` type.

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::archive::environment::{Distribution, TargetRecord};
use crate::metadata::normalize_name;

/// The application a BOM describes.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    /// The app's name (the pyz file's stem).
    pub name: &'a str,
    pub build_id: &'a str,
    /// `%Y-%m-%d %H:%M:%S` UTC, as in `environment.json`.
    pub built_at: Option<&'a str>,
    /// sha256 hex of the pyz file.
    pub sha256: Option<&'a str>,
    pub entry_point: Option<&'a str>,
}

/// The BOM as a JSON value: the app as `metadata.component`, one `library` component per
/// distribution of the payload. For a pyz of several targets (`targets`, else empty), the
/// distributions are the targets', each (name, version, sha256) once, with the property
/// `rshiv:targets` listing the targets it belongs to (`cp38-manylinux2014_x86_64,...`).
pub fn bom(app: &Subject, dists: &[Distribution], targets: &[TargetRecord]) -> Value {
    let mut members: Vec<(&Distribution, Vec<String>)> = Vec::new();
    if targets.is_empty() {
        members.extend(dists.iter().map(|dist| (dist, Vec::new())));
    }
    for target in targets {
        let label = target
            .label()
            .unwrap_or_else(|| format!("{}-{}", target.python, target.platform));
        for dist in &target.distributions {
            let same = |(known, _): &&mut (&Distribution, Vec<String>)| {
                normalize_name(&known.name) == normalize_name(&dist.name)
                    && known.version == dist.version
                    && known.sha256 == dist.sha256
            };
            match members.iter_mut().find(same) {
                Some((_, labels)) => labels.push(label.clone()),
                None => members.push((dist, vec![label.clone()])),
            }
        }
    }
    let mut components: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (dist, labels) in members {
        let purl = purl(&dist.name, &dist.version);
        let mut bom_ref = purl.clone();
        if !seen.insert(bom_ref.clone()) {
            if labels.is_empty() {
                continue;
            }
            // Another wheel of the same release (another target's): a reference of its own.
            bom_ref = (2..)
                .map(|n| format!("{purl}#{n}"))
                .find(|r| !seen.contains(r))
                .unwrap_or_default();
            seen.insert(bom_ref.clone());
        }
        let mut component = json!({
            "type": "library",
            "bom-ref": bom_ref,
            "name": dist.name,
            "version": dist.version,
            "purl": purl,
        });
        if let Some(license) = dist.license.as_deref() {
            component["licenses"] = licenses(license);
        }
        if let Some(summary) = dist.summary.as_deref() {
            component["description"] = json!(summary);
        }
        if let Some(hex) = dist
            .sha256
            .as_deref()
            .and_then(|h| h.strip_prefix("sha256:"))
        {
            component["hashes"] = json!([{"alg": "SHA-256", "content": hex}]);
        }
        if !labels.is_empty() {
            component["properties"] = json!([{"name": "rshiv:targets", "value": labels.join(",")}]);
        }
        components.push(component);
    }

    let mut properties = vec![json!({"name": "rshiv:build_id", "value": app.build_id})];
    if let Some(entry_point) = app.entry_point {
        properties.push(json!({"name": "rshiv:entry_point", "value": entry_point}));
    }
    let mut subject = json!({
        "type": "application",
        "bom-ref": format!("{}@{}", app.name, app.build_id),
        "name": app.name,
        "version": app.build_id,
        "properties": properties,
    });
    if let Some(sha256) = app.sha256 {
        subject["hashes"] = json!([{"alg": "SHA-256", "content": sha256}]);
    }
    let mut metadata = json!({
        "tools": {"components": [{
            "type": "application",
            "name": "rshiv",
            "version": env!("CARGO_PKG_VERSION"),
        }]},
        "component": subject,
    });
    if let Some(built_at) = app.built_at.and_then(rfc3339) {
        metadata["timestamp"] = json!(built_at);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", serial_uuid(app.build_id)),
        "version": 1,
        "metadata": metadata,
        "components": components,
    })
}

/// `pkg:pypi/<normalized name>@<version>`, percent-encoding what the purl spec requires.
pub fn purl(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{}",
        percent_encode(&normalize_name(name)),
        percent_encode(version)
    )
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// An RFC 4122 version-5 UUID (SHA-1, URL namespace) of `rshiv:build:<build id>`: the
/// same build always gets the same serial number, which CycloneDX's schema accepts.
fn serial_uuid(build_id: &str) -> String {
    const URL_NAMESPACE: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut hasher = Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(format!("rshiv:build:{build_id}").as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `2024-05-01 12:00:00` -> `2024-05-01T12:00:00Z`; anything else is left out.
fn rfc3339(built_at: &str) -> Option<String> {
    let (date, time) = built_at.split_once(' ')?;
    let shape_ok = date.len() == 10 && time.len() == 8;
    shape_ok.then(|| format!("{date}T{time}Z"))
}

/// SPDX identifiers common on the package index (SPDX License List 3.x), canonical case.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-2.0",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSD-4-Clause",
    "BSL-1.0",
    "CC-BY-4.0",
    "CC0-1.0",
    "CNRI-Python",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.2",
    "GPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-1.1",
    "MPL-2.0",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// CycloneDX `licenses`: `{"license": {"id"}}` for one SPDX identifier, `{"expression"}`
/// for an SPDX expression (`MIT OR Apache-2.0`), else `{"license": {"name"}}` as written.
fn licenses(text: &str) -> Value {
    if let Some(id) = spdx_id(text) {
        return json!([{"license": {"id": id}}]);
    }
    if is_spdx_expression(text) {
        return json!([{"expression": text}]);
    }
    json!([{"license": {"name": text}}])
}

fn spdx_id(token: &str) -> Option<&'static str> {
    SPDX_IDS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(token))
}

/// Whether `text` is a compound SPDX expression: known identifiers (or `LicenseRef-…`)
/// joined by `AND`/`OR`, optionally `WITH` an exception, with balanced parentheses.
fn is_spdx_expression(text: &str) -> bool {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let (mut depth, mut expect_operand, mut operators) = (0i32, true, 0);
    let mut after_with = false;
    for token in &tokens {
        match *token {
            "(" if expect_operand => depth += 1,
            ")" if !expect_operand => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" | "WITH" if !expect_operand => {
                after_with = *token == "WITH";
                operators += 1;
                expect_operand = true;
            }
            operand if expect_operand => {
                let known = operand.trim_end_matches('+');
                let valid = if after_with {
                    operand
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
                } else {
                    spdx_id(known).is_some() || known.starts_with("LicenseRef-")
                };
                if !valid {
                    return false;
                }
                after_with = false;
                expect_operand = false;
            }
            _ => return false,
        }
    }
    operators > 0 && depth == 0 && !expect_operand
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, version: &str, license: Option<&str>) -> Distribution {
        Distribution {
            name: name.into(),
            version: version.into(),
            license: license.map(String::from),
            summary: Some(format!("{name} summary")),
            tags: vec!["py3-none-any".into()],
            sha256: None,
            file: None,
        }
    }

    #[test]
    fn purls_carry_the_pep_503_name() {
        assert_eq!(purl("zope.interface", "7.0"), "pkg:pypi/zope-interface@7.0");
        assert_eq!(
            purl("typing_extensions", "4.12.2"),
            "pkg:pypi/typing-extensions@4.12.2"
        );
        assert_eq!(purl("x", "1.0+local"), "pkg:pypi/x@1.0%2Blocal");
    }

    #[test]
    fn licenses_become_ids_expressions_or_names() {
        assert_eq!(licenses("mit"), json!([{"license": {"id": "MIT"}}]));
        assert_eq!(
            licenses("MIT OR Apache-2.0"),
            json!([{"expression": "MIT OR Apache-2.0"}])
        );
        assert_eq!(
            licenses(
                "(Apache-2.0 OR BSD-3-Clause) AND GPL-2.0-or-later WITH Classpath-exception-2.0"
            ),
            json!([{"expression": "(Apache-2.0 OR BSD-3-Clause) AND GPL-2.0-or-later WITH Classpath-exception-2.0"}])
        );
        for name in [
            "MIT License",
            "BSD",
            "Apache 2.0",
            "MIT AND",
            "(MIT",
            "MIT OR Foo",
        ] {
            assert_eq!(
                licenses(name),
                json!([{"license": {"name": name}}]),
                "{name}"
            );
        }
    }

    #[test]
    fn serial_numbers_are_version_5_uuids_of_the_build_id() {
        let serial = serial_uuid("abc");
        assert_eq!(serial, serial_uuid("abc"));
        assert_ne!(serial, serial_uuid("abd"));
        let bytes = serial.as_bytes();
        assert_eq!(serial.len(), 36);
        assert_eq!(bytes[14], b'5');
        assert!(b"89ab".contains(&bytes[19]));
    }

    #[test]
    fn the_bom_has_cyclonedx_shape() {
        let app = Subject {
            name: "api",
            build_id: "3f2a",
            built_at: Some("2024-05-01 12:00:00"),
            sha256: Some("00ff"),
            entry_point: Some("simple_api.__main__:main"),
        };
        let bom = bom(
            &app,
            &[
                dist("FastAPI", "0.110.0", Some("MIT")),
                dist("uvicorn", "0.29.0", None),
            ],
            &[],
        );
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["specVersion"], "1.5");
        assert!(bom["serialNumber"]
            .as_str()
            .unwrap()
            .starts_with("urn:uuid:"));
        assert_eq!(bom["metadata"]["timestamp"], "2024-05-01T12:00:00Z");
        assert_eq!(bom["metadata"]["component"]["name"], "api");
        assert_eq!(bom["metadata"]["component"]["version"], "3f2a");
        assert_eq!(bom["metadata"]["component"]["hashes"][0]["content"], "00ff");
        let fastapi = &bom["components"][0];
        assert_eq!(fastapi["type"], "library");
        assert_eq!(fastapi["purl"], "pkg:pypi/fastapi@0.110.0");
        assert_eq!(fastapi["bom-ref"], "pkg:pypi/fastapi@0.110.0");
        assert_eq!(fastapi["licenses"][0]["license"]["id"], "MIT");
        assert_eq!(fastapi["description"], "FastAPI summary");
        assert!(bom["components"][1].get("licenses").is_none());
    }

    /// A component shared by targets is listed once, marked with every target it is in.
    #[test]
    fn components_of_several_targets_are_marked_with_theirs() {
        let target = |python: &str, dists: Vec<Distribution>| TargetRecord {
            python: python.into(),
            platform: "manylinux2014_x86_64".into(),
            distributions: dists,
            ..TargetRecord::default()
        };
        let targets = [
            target(
                "3.8",
                vec![dist("pkg", "1.0", None), dist("app", "1", None)],
            ),
            target(
                "3.12",
                vec![dist("pkg", "2.0", None), dist("app", "1", None)],
            ),
        ];
        let bom = bom(&Subject::default(), &[], &targets);
        let marked: Vec<(String, String)> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let purl = c["purl"].as_str().unwrap().to_string();
                let value = c["properties"][0]["value"].as_str().unwrap().to_string();
                assert_eq!(c["properties"][0]["name"], "rshiv:targets");
                (purl, value)
            })
            .collect();
        assert_eq!(
            marked,
            [
                (
                    "pkg:pypi/pkg@1.0".into(),
                    "cp38-manylinux2014_x86_64".into()
                ),
                (
                    "pkg:pypi/app@1".into(),
                    "cp38-manylinux2014_x86_64,cp312-manylinux2014_x86_64".into()
                ),
                (
                    "pkg:pypi/pkg@2.0".into(),
                    "cp312-manylinux2014_x86_64".into()
                ),
            ]
        );
    }
}
