//! What interpreter and platform a payload needs, in a few words, from its wheels' tags
//! (PEP 425 compatibility tags, PEP 600 `manylinux_x_y`, PEP 656 `musllinux_x_y`):
//! `pure Python`, `cp311 manylinux_2_17 x86_64`, `abi3 (cp38+) macosx_11_0_arm64`.

use std::collections::{BTreeMap, BTreeSet};

use crate::archive::environment::Distribution;

/// `None` when every distribution is pure Python (or says nothing of its tags).
pub fn summarize(dists: &[Distribution]) -> Option<String> {
    let mut pythons = BTreeSet::new();
    let mut others = BTreeSet::new();
    // (libc family, arch) -> the newest libc that some distribution needs.
    let mut linux: BTreeMap<(&str, String), (u32, u32)> = BTreeMap::new();
    for dist in dists {
        let tags: Vec<Tag> = dist.tags.iter().flat_map(|t| Tag::expand(t)).collect();
        if tags.is_empty() || tags.iter().any(Tag::is_pure) {
            continue;
        }
        // Of one wheel's alternatives, the least demanding libc is what it needs.
        let mut wheel_linux: BTreeMap<(&str, String), (u32, u32)> = BTreeMap::new();
        for tag in &tags {
            match tag.abi.as_str() {
                "none" => {}
                "abi3" => {
                    pythons.insert(format!("abi3 ({}+)", tag.python));
                }
                _ => {
                    pythons.insert(tag.python.clone());
                }
            }
            match linux_platform(&tag.platform) {
                Some((family, version, arch)) => {
                    let need = wheel_linux.entry((family, arch)).or_insert(version);
                    *need = (*need).min(version);
                }
                None if tag.platform != "any" => {
                    others.insert(tag.platform.clone());
                }
                None => {}
            }
        }
        for (key, version) in wheel_linux {
            let need = linux.entry(key).or_insert(version);
            *need = (*need).max(version);
        }
    }
    let platforms = linux
        .into_iter()
        .map(|((family, arch), (major, minor))| format!("{family}_{major}_{minor} {arch}"))
        .chain(others);
    let words: Vec<String> = pythons.into_iter().chain(platforms).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// One `python-abi-platform` triple.
struct Tag {
    python: String,
    abi: String,
    platform: String,
}

impl Tag {
    /// A tag with compressed sets (`py2.py3-none-any`, `cp311-cp311-a.b`) as its triples.
    fn expand(text: &str) -> Vec<Tag> {
        let mut parts = text.splitn(3, '-');
        let (Some(pythons), Some(abis), Some(platforms)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Vec::new();
        };
        let mut tags = Vec::new();
        for python in pythons.split('.') {
            for abi in abis.split('.') {
                for platform in platforms.split('.') {
                    tags.push(Tag {
                        python: python.to_string(),
                        abi: abi.to_string(),
                        platform: platform.to_string(),
                    });
                }
            }
        }
        tags
    }

    fn is_pure(&self) -> bool {
        self.abi == "none" && self.platform == "any"
    }
}

/// `manylinux_2_17_x86_64` -> `("manylinux", (2, 17), "x86_64")`, with the legacy aliases
/// of PEP 600 (`manylinux1` = 2.5, `manylinux2010` = 2.12, `manylinux2014` = 2.17).
fn linux_platform(platform: &str) -> Option<(&'static str, (u32, u32), String)> {
    for (legacy, version) in [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ] {
        if let Some(arch) = platform.strip_prefix(legacy) {
            return Some(("manylinux", version, arch.to_string()));
        }
    }
    let (family, rest) = if let Some(rest) = platform.strip_prefix("manylinux_") {
        ("manylinux", rest)
    } else {
        ("musllinux", platform.strip_prefix("musllinux_")?)
    };
    let mut parts = rest.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((family, (major, minor), parts.next()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(tags: &[&str]) -> Distribution {
        Distribution {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Distribution::default()
        }
    }

    #[test]
    fn pure_payloads_need_nothing() {
        let dists = [
            dist(&["py3-none-any"]),
            dist(&["py2.py3-none-any"]),
            dist(&[]),
        ];
        assert_eq!(summarize(&dists), None);
    }

    #[test]
    fn native_wheels_name_python_and_platform() {
        let dists = [
            dist(&["py3-none-any"]),
            dist(&["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"]),
            dist(&[
                "cp311-cp311-manylinux_2_28_x86_64",
                "cp311-cp311-manylinux2014_x86_64",
            ]),
            dist(&["cp311-cp311-manylinux_2_31_x86_64"]),
        ];
        assert_eq!(
            summarize(&dists).as_deref(),
            Some("cp311 manylinux_2_31 x86_64")
        );
    }

    #[test]
    fn abi3_and_other_platforms_are_named() {
        let dists = [
            dist(&["cp38-abi3-macosx_11_0_arm64"]),
            dist(&["cp312-cp312-musllinux_1_2_aarch64"]),
        ];
        assert_eq!(
            summarize(&dists).as_deref(),
            Some("abi3 (cp38+) cp312 musllinux_1_2 aarch64 macosx_11_0_arm64")
        );
    }
}
