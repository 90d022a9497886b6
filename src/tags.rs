//! Compatibility tags (PEP 425; platform tags from PEP 600 manylinux and PEP 656
//! musllinux): what a payload's compiled extensions need from the interpreter that runs
//! it, and which of a package's wheels an interpreter (or a cross target) can install,
//! best first, as an installer ranks them.
//!
//! A tag is `python-abi-platform`, possibly compressed (`cp38.cp39-abi3-linux_x86_64`).
//! A wheel whose tags are all `none`-ABI and `any`-platform is pure Python and asks nothing.

mod supported;

pub use supported::{expand, expand_platform, wheel_file_tags, TagEnvironment, HOST_PROBE};

use crate::archive::environment::{Distribution, Native};

/// Combine the needs of every distribution's tags; `None` when all are pure Python.
pub fn native_needs(distributions: &[Distribution]) -> Option<Native> {
    let mut native = Native::default();
    for dist in distributions {
        let tags: Vec<Tag> = dist.tags.iter().filter_map(|t| Tag::parse(t)).collect();
        if tags.iter().all(Tag::is_pure) {
            continue;
        }
        // A wheel lists alternatives: it needs the least demanding of its own tags.
        let Some(tag) = tags.iter().find(|t| !t.is_pure()) else {
            continue;
        };
        for raw in &dist.tags {
            if !native.tags.contains(raw) {
                native.tags.push(raw.clone());
            }
        }
        if let Some(version) = tag.cpython_version() {
            if tag.abi == "abi3" {
                let min = tags
                    .iter()
                    .filter_map(Tag::cpython_version)
                    .min()
                    .unwrap_or(version);
                native.abi3 = Some(native.abi3.map_or(min, |have| have.max(min)));
            } else if tag.abi != "none" {
                native.python = Some(version);
            }
        }
        if let Some(platform) = Platform::parse(&tag.platform) {
            native.platform = Some(platform.os.to_string());
            for machine in platform.machines() {
                if !native.machines.iter().any(|m| m == machine) {
                    native.machines.push(machine.to_string());
                }
            }
            if let Some((libc, version)) = platform.libc {
                native.libc = Some(libc.name().to_string());
                native.libc_min = Some(native.libc_min.map_or(version, |have| have.max(version)));
            }
        }
    }
    (!native.tags.is_empty()).then_some(native)
}

/// The build machine's platform as a PEP 425 tag without a libc version: `linux_x86_64`
/// (what a target that names no platform records).
pub fn host_platform_tag() -> String {
    format!("{}_{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// One line for people: "pure Python", or e.g. "cp311 manylinux_2_17 x86_64".
pub fn describe(native: Option<&Native>) -> String {
    let Some(native) = native else {
        return "pure Python".to_string();
    };
    let mut parts = Vec::new();
    if let Some([major, minor]) = native.python {
        parts.push(format!("cp{major}{minor}"));
    }
    if let Some([major, minor]) = native.abi3 {
        parts.push(format!("abi3 (CPython >= {major}.{minor})"));
    }
    match (native.libc.as_deref(), native.libc_min) {
        (Some("glibc"), Some([a, b])) => parts.push(format!("manylinux_{a}_{b}")),
        (Some("musl"), Some([a, b])) => parts.push(format!("musllinux_{a}_{b}")),
        _ => parts.extend(native.platform.clone()),
    }
    parts.extend(native.machines.iter().take(1).cloned());
    parts.join(" ")
}

/// A single (uncompressed) PEP 425 tag.
struct Tag {
    python: String,
    abi: String,
    platform: String,
}

impl Tag {
    /// The first expansion of a possibly compressed tag; `None` when it is not three parts.
    fn parse(tag: &str) -> Option<Tag> {
        let mut parts = tag.trim().splitn(3, '-');
        let python = parts.next()?.split('.').next()?.to_string();
        let abi = parts.next()?.split('.').next()?.to_string();
        let platform = parts.next()?.split('.').next()?.to_string();
        Some(Tag {
            python,
            abi,
            platform,
        })
    }

    fn is_pure(&self) -> bool {
        self.abi == "none" && self.platform == "any"
    }

    /// `cp311` -> `[3, 11]`.
    fn cpython_version(&self) -> Option<[u32; 2]> {
        let digits = self.python.strip_prefix("cp")?;
        let major = digits.get(..1)?.parse().ok()?;
        let minor = digits.get(1..)?.parse().ok()?;
        Some([major, minor])
    }
}

/// A PEP 425 platform tag, read: the one parser of platform tags in rshiv (the payload's
/// needs here, the installer's target in [`crate::install`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform<'a> {
    /// `linux`, `darwin`, `win32`: what `sys.platform` says.
    pub os: &'static str,
    /// The architecture as the tag spells it: `x86_64`, `aarch64`, `arm64`, `amd64`.
    pub arch: &'a str,
    /// The C library and the least version it must have (PEP 600 manylinux, PEP 656
    /// musllinux; the legacy manylinux1/2010/2014 aliases are glibc 2.5/2.12/2.17).
    pub libc: Option<(Libc, [u32; 2])>,
}

/// The C library a Linux platform tag asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    Glibc,
    Musl,
}

impl Libc {
    /// `glibc`, `musl`: as environment.json records it.
    pub fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

impl<'a> Platform<'a> {
    /// Read a platform tag; `None` for one rshiv does not know.
    pub fn parse(tag: &'a str) -> Option<Platform<'a>> {
        let (os, arch, libc) = if let Some(rest) = tag.strip_prefix("manylinux_") {
            let (version, arch) = split_version(rest)?;
            ("linux", arch, Some((Libc::Glibc, version)))
        } else if let Some(rest) = tag.strip_prefix("musllinux_") {
            let (version, arch) = split_version(rest)?;
            ("linux", arch, Some((Libc::Musl, version)))
        } else if let Some(arch) = tag.strip_prefix("manylinux2014_") {
            ("linux", arch, Some((Libc::Glibc, [2, 17])))
        } else if let Some(arch) = tag.strip_prefix("manylinux2010_") {
            ("linux", arch, Some((Libc::Glibc, [2, 12])))
        } else if let Some(arch) = tag.strip_prefix("manylinux1_") {
            ("linux", arch, Some((Libc::Glibc, [2, 5])))
        } else if let Some(arch) = tag.strip_prefix("linux_") {
            ("linux", arch, None)
        } else if let Some(rest) = tag.strip_prefix("macosx_") {
            ("darwin", rest.splitn(3, '_').nth(2)?, None)
        } else if let Some(arch) = tag.strip_prefix("win_") {
            ("win32", arch, None)
        } else if tag == "win32" {
            ("win32", "x86", None)
        } else {
            return None;
        };
        Some(Platform { os, arch, libc })
    }

    /// The `os.uname().machine` names that satisfy the tag's architecture.
    pub fn machines(&self) -> Vec<&'static str> {
        machines(self.arch)
    }
}

/// `2_17_x86_64` -> ([2, 17], "x86_64").
fn split_version(rest: &str) -> Option<([u32; 2], &str)> {
    let mut parts = rest.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(([major, minor], parts.next()?))
}

/// The `os.uname().machine` names that satisfy a tag's architecture.
fn machines(arch: &str) -> Vec<&'static str> {
    match arch {
        "x86_64" | "amd64" => vec!["x86_64", "amd64", "AMD64"],
        "aarch64" | "arm64" => vec!["aarch64", "arm64"],
        "i686" | "x86" => vec!["i686", "i386", "x86"],
        "universal2" => vec!["x86_64", "arm64"],
        "ppc64le" => vec!["ppc64le"],
        "s390x" => vec!["s390x"],
        "armv7l" => vec!["armv7l"],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(tags: &[&str]) -> Distribution {
        Distribution {
            name: "x".into(),
            version: "1".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn pure_payloads_need_nothing() {
        assert_eq!(
            native_needs(&[dist(&["py3-none-any"]), dist(&["py2.py3-none-any"])]),
            None
        );
        assert_eq!(describe(None), "pure Python");
    }

    #[test]
    fn cpython_specific_manylinux() {
        let native = native_needs(&[
            dist(&["py3-none-any"]),
            dist(&[
                "cp311-cp311-manylinux_2_17_x86_64",
                "cp311-cp311-manylinux2014_x86_64",
            ]),
        ])
        .unwrap();
        assert_eq!(native.python, Some([3, 11]));
        assert_eq!(native.platform.as_deref(), Some("linux"));
        assert_eq!(native.libc.as_deref(), Some("glibc"));
        assert_eq!(native.libc_min, Some([2, 17]));
        assert!(native.machines.contains(&"x86_64".to_string()));
        assert_eq!(describe(Some(&native)), "cp311 manylinux_2_17 x86_64");
    }

    #[test]
    fn abi3_takes_the_highest_minimum() {
        let native = native_needs(&[
            dist(&["cp37-abi3-manylinux_2_28_aarch64"]),
            dist(&["cp39-abi3-musllinux_1_2_aarch64"]),
        ])
        .unwrap();
        assert_eq!(native.python, None);
        assert_eq!(native.abi3, Some([3, 9]));
        assert_eq!(native.machines, ["aarch64", "arm64"]);
    }

    #[test]
    fn platform_tags_of_every_family() {
        let parse = |tag| Platform::parse(tag).unwrap();
        for (tag, arch, libc) in [
            ("manylinux1_x86_64", "x86_64", Some((Libc::Glibc, [2, 5]))),
            ("manylinux2010_i686", "i686", Some((Libc::Glibc, [2, 12]))),
            (
                "manylinux2014_aarch64",
                "aarch64",
                Some((Libc::Glibc, [2, 17])),
            ),
            (
                "manylinux_2_28_x86_64",
                "x86_64",
                Some((Libc::Glibc, [2, 28])),
            ),
            (
                "musllinux_1_2_aarch64",
                "aarch64",
                Some((Libc::Musl, [1, 2])),
            ),
            ("linux_armv7l", "armv7l", None),
        ] {
            let expected = Platform {
                os: "linux",
                arch,
                libc,
            };
            assert_eq!(parse(tag), expected, "{tag}");
        }
        let macos = parse("macosx_11_0_arm64");
        assert_eq!((macos.os, macos.arch), ("darwin", "arm64"));
        assert_eq!(parse("macosx_10_9_x86_64").arch, "x86_64");
        assert_eq!(
            parse("macosx_10_9_universal2").machines(),
            ["x86_64", "arm64"]
        );
        assert_eq!(
            (parse("win_amd64").os, parse("win_amd64").arch),
            ("win32", "amd64")
        );
        assert_eq!(parse("win32").arch, "x86");
        assert_eq!(parse("win_arm64").machines(), ["aarch64", "arm64"]);
        assert_eq!(Platform::parse("any"), None);
        assert_eq!(Platform::parse("manylinux_2_x86_64"), None);
    }
}
