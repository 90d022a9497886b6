//! The tags an interpreter (or a cross target) supports, best first, and the best of a
//! package's wheels for it: what an installer does when it picks a file (PEP 425's
//! "Use", in the order the `packaging` library and pip rank tags).
//!
//! > An installer SHOULD ... choose the most specific tag: for CPython 3.12 on
//! > glibc 2.36 x86_64, `cp312-cp312-manylinux_2_36_x86_64` first, down through the
//! > stable ABI of older CPythons (`cp311-abi3-...`), `py3-none-<platform>`, and
//! > `py3-none-any` last.
//!
//! A platform tag stands for every older tag of its family that its system also runs
//! ([`expand_platform`]): `manylinux_2_28_x86_64` down to `manylinux_2_5` (PEP 600; the
//! legacy `manylinux2014`/`2010`/`1` aliases beside 2.17/2.12/2.5), `musllinux_1_2` down
//! to `musllinux_1_0` (PEP 656), `macosx_14_0` down to `10_4`.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Libc, Platform};

/// Python (3.8+, stdlib) that defines `tag_facts()`: the facts [`TagEnvironment::host`]
/// needs of the interpreter running it, as a JSON-ready dict. Run with the marker probe,
/// so that the build interpreter is asked once.
pub const HOST_PROBE: &str = r#"
def tag_facts():
    import os, platform, sys, sysconfig
    v = sys.version_info
    name = sys.implementation.name
    if name == "cpython":
        t = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
        d = "d" if sysconfig.get_config_var("Py_DEBUG") else ""
        abis = ["cp%d%d%s%s" % (v[0], v[1], t, d)] + (["cp%d%d%s" % (v[0], v[1], t)] if d else [])
    else:
        soabi = ((sysconfig.get_config_var("EXT_SUFFIX") or "").split(".") + ["", ""])[1]
        abis = ["_".join(soabi.split("-")[:2]).replace(".", "_")] if soabi else []
    machine = platform.machine()
    if sys.platform.startswith("linux"):
        if machine == "x86_64" and sys.maxsize <= 2 ** 32:
            machine = "i686"
        best = "linux_" + machine
        try:
            glibc = os.confstr("CS_GNU_LIBC_VERSION").split()[1].split(".")
            best = "manylinux_%s_%s_%s" % (glibc[0], glibc[1], machine)
        except (AttributeError, OSError, ValueError, IndexError):
            import glob, subprocess
            for loader in glob.glob("/lib/ld-musl-*.so.1"):
                err = subprocess.run([loader], stderr=subprocess.PIPE, universal_newlines=True).stderr
                for line in err.splitlines():
                    if line.startswith("Version "):
                        musl = line.split()[1].split(".")
                        best = "musllinux_%s_%s_%s" % (musl[0], musl[1], machine)
    elif sys.platform == "darwin":
        release = [int(p) for p in (platform.mac_ver()[0] + ".0").split(".")[:2]]
        best = "macosx_%d_%d_%s" % (release[0], release[1] if release[0] == 10 else 0, machine)
    else:
        best = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return {
        "interpreter": {"cpython": "cp", "pypy": "pp"}.get(name, name),
        "python": [v[0], v[1]],
        "abis": abis,
        "platform": best,
    }
"#;

/// What decides which wheels a target installs: its interpreter, ABIs and platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEnvironment {
    /// `cp`, `pp`: the interpreter's tag abbreviation (PEP 425).
    pub interpreter: String,
    /// `[3, 12]`.
    pub python: [u32; 2],
    /// The interpreter's own ABI tags, best first: `cp312`, `cp313t`, `pypy310_pp73`.
    pub abis: Vec<String>,
    /// Platform tags, best first, each family expanded ([`expand_platform`]).
    pub platforms: Vec<String>,
}

/// What [`HOST_PROBE`]'s `tag_facts()` reports.
#[derive(Debug, Deserialize)]
struct HostFacts {
    interpreter: String,
    python: [u32; 2],
    abis: Vec<String>,
    platform: String,
}

impl TagEnvironment {
    /// The build interpreter's environment, from [`HOST_PROBE`]'s JSON: its best platform
    /// expanded, then (on Linux) the plain `linux_<arch>` of wheels built on the machine.
    pub fn host(facts: serde_json::Value) -> Result<TagEnvironment, String> {
        let facts: HostFacts = serde_json::from_value(facts)
            .map_err(|err| format!("the interpreter did not report its tags: {err}"))?;
        let mut platforms = expand_platform(&facts.platform);
        if let Some(Platform {
            os: "linux",
            arch,
            libc: Some(_),
        }) = Platform::parse(&facts.platform)
        {
            platforms.push(format!("linux_{arch}"));
        }
        Ok(TagEnvironment {
            interpreter: facts.interpreter,
            python: facts.python,
            abis: facts.abis,
            platforms,
        })
    }

    /// This environment with what a cross target names in its place, as pip reads its
    /// options: `--python-version` (`3.8`, `3.8.10`, `38`), `--implementation`, `--abi`
    /// and `--platform` (each expanded). A new version or implementation without `--abi`
    /// takes that CPython's own ABI (`cp38`), as pip does.
    pub fn retarget(
        &self,
        python_version: Option<&str>,
        implementation: Option<&str>,
        abis: &[String],
        platforms: &[String],
    ) -> Result<TagEnvironment, String> {
        let mut target = self.clone();
        if let Some(version) = python_version {
            target.python = parse_version(version)
                .ok_or_else(|| format!("--python-version {version:?} is not X.Y"))?;
        }
        if let Some(implementation) = implementation {
            target.interpreter = implementation.to_string();
        }
        if target.python != self.python || target.interpreter != self.interpreter {
            target.abis = match target.interpreter.as_str() {
                "cp" => vec![format!("cp{}{}", target.python[0], target.python[1])],
                _ => Vec::new(),
            };
        }
        if !abis.is_empty() {
            target.abis = abis.to_vec();
        }
        if !platforms.is_empty() {
            target.platforms.clear();
            for platform in platforms.iter().flat_map(|p| expand_platform(p)) {
                if !target.platforms.contains(&platform) {
                    target.platforms.push(platform);
                }
            }
        }
        Ok(target)
    }

    /// One line for messages: `cp312 manylinux_2_17_x86_64`.
    pub fn describe(&self) -> String {
        let platform = self.platforms.first().map_or("any", String::as_str);
        format!(
            "{}{}{} {platform}",
            self.interpreter, self.python[0], self.python[1]
        )
    }

    /// Every tag this environment installs, best first.
    pub fn supported(&self) -> Vec<String> {
        let [major, minor] = self.python;
        let interpreter = format!("{}{major}{minor}", self.interpreter);
        let mut tags = Vec::new();
        let mut all = |python: &str, abi: &str, platforms: &[String]| {
            for platform in platforms {
                tags.push(format!("{python}-{abi}-{platform}"));
            }
        };
        let platforms = &self.platforms;
        for abi in &self.abis {
            all(&interpreter, abi, platforms);
        }
        let free_threaded = self.abis.iter().any(|abi| abi.ends_with('t'));
        let abi3 = self.interpreter == "cp" && major == 3 && minor >= 2 && !free_threaded;
        if abi3 {
            all(&interpreter, "abi3", platforms);
        }
        all(&interpreter, "none", platforms);
        if abi3 {
            for older in (2..minor).rev() {
                all(&format!("cp3{older}"), "abi3", platforms);
            }
        }
        let generic = python_range(major, minor);
        for python in &generic {
            all(python, "none", platforms);
        }
        let any = ["any".to_string()];
        all(&interpreter, "none", &any);
        for python in &generic {
            all(python, "none", &any);
        }
        tags
    }

    /// The index of the best of `files` (wheel file names) for this environment: the one
    /// whose best tag ranks first in [`TagEnvironment::supported`]; `None` when none fits.
    pub fn best_wheel<'a>(&self, files: impl IntoIterator<Item = &'a str>) -> Option<usize> {
        let rank: HashMap<String, usize> = self
            .supported()
            .into_iter()
            .enumerate()
            .map(|(n, tag)| (tag, n))
            .collect();
        files
            .into_iter()
            .enumerate()
            .filter_map(|(index, file)| {
                let best = wheel_file_tags(file)
                    .iter()
                    .filter_map(|tag| rank.get(tag))
                    .min()
                    .copied()?;
                Some((best, index))
            })
            .min()
            .map(|(_, index)| index)
    }
}

/// `py312`, `py3`, `py311`, ... `py30`: the generic interpreter tags of a Python, best first.
fn python_range(major: u32, minor: u32) -> Vec<String> {
    let mut range = vec![format!("py{major}{minor}"), format!("py{major}")];
    range.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
    range
}

/// `3.8`, `3.8.10`, `38`, `3` -> `[3, 8]` (`[3, 0]`).
fn parse_version(version: &str) -> Option<[u32; 2]> {
    let mut parts = version.split('.');
    let first = parts.next()?;
    if !version.contains('.') && first.len() > 1 {
        let (major, minor) = first.split_at(1);
        return Some([major.parse().ok()?, minor.parse().ok()?]);
    }
    let major = first.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some([major, minor])
}

/// A platform tag and every older tag of its family that the same system runs, best first
/// (a tag rshiv does not know stands for itself alone).
pub fn expand_platform(tag: &str) -> Vec<String> {
    if let Some((version, arch)) = macos(tag) {
        return macos_platforms(version, arch);
    }
    let Some(platform) = Platform::parse(tag) else {
        return vec![tag.to_string()];
    };
    let arch = platform.arch;
    match platform.libc {
        Some((Libc::Glibc, [2, newest])) => {
            // PEP 600: glibc 2.5 is as old as x86 wheels go; 2.17 for the others.
            let oldest = if ["x86_64", "i686"].contains(&arch) {
                5
            } else {
                17
            };
            let mut tags = Vec::new();
            for minor in (oldest..=newest).rev() {
                tags.push(format!("manylinux_2_{minor}_{arch}"));
                let legacy = match minor {
                    17 => "manylinux2014",
                    12 => "manylinux2010",
                    5 => "manylinux1",
                    _ => continue,
                };
                tags.push(format!("{legacy}_{arch}"));
            }
            tags
        }
        Some((Libc::Musl, [1, newest])) => (0..=newest)
            .rev()
            .map(|minor| format!("musllinux_1_{minor}_{arch}"))
            .collect(),
        _ => vec![tag.to_string()],
    }
}

/// `macosx_14_0_arm64` -> `([14, 0], "arm64")`.
fn macos(tag: &str) -> Option<([u32; 2], &str)> {
    let mut parts = tag.strip_prefix("macosx_")?.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(([major, minor], parts.next()?))
}

/// The macOS releases a binary for `version` runs on, newest first, each with the
/// multi-architecture formats that include `arch`.
fn macos_platforms([major, minor]: [u32; 2], arch: &str) -> Vec<String> {
    let formats: &[&str] = match arch {
        "x86_64" => &[
            "x86_64",
            "intel",
            "fat64",
            "fat32",
            "universal2",
            "universal",
        ],
        "arm64" => &["arm64", "universal2"],
        other => return vec![format!("macosx_{major}_{minor}_{other}")],
    };
    let mut versions: Vec<[u32; 2]> = (11..=major).rev().map(|m| [m, 0]).collect();
    let newest_ten = if major >= 11 { 16 } else { minor };
    if major == 10 || (major >= 11 && arch == "x86_64") {
        versions.extend((4..=newest_ten).rev().map(|m| [10, m]));
    }
    let mut tags = Vec::new();
    for [major, minor] in versions {
        for format in formats {
            // universal2 binaries exist from macOS 10.16 (11) on.
            if *format == "universal2" && [major, minor] < [10, 16] {
                continue;
            }
            tags.push(format!("macosx_{major}_{minor}_{format}"));
        }
    }
    tags
}

/// Every uncompressed tag of a possibly compressed one (PEP 425: `py2.py3-none-any` is
/// `py2-none-any` and `py3-none-any`).
pub fn expand(tag: &str) -> Vec<String> {
    let parts: Vec<&str> = tag.trim().splitn(3, '-').collect();
    let [python, abi, platform] = parts.as_slice() else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    for p in python.split('.') {
        for a in abi.split('.') {
            for pl in platform.split('.') {
                tags.push(format!("{p}-{a}-{pl}"));
            }
        }
    }
    tags
}

/// A wheel file name's tags (PEP 427: `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`),
/// expanded and sorted; empty for a name that is not a wheel's.
pub fn wheel_file_tags(file: &str) -> Vec<String> {
    let Some(stem) = file.strip_suffix(".whl") else {
        return Vec::new();
    };
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    let [platform, abi, python, _] = parts.as_slice() else {
        return Vec::new();
    };
    let mut tags = expand(&format!("{python}-{abi}-{platform}"));
    tags.sort();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(python: [u32; 2], platform: &str) -> TagEnvironment {
        TagEnvironment::host(serde_json::json!({
            "interpreter": "cp", "python": python,
            "abis": [format!("cp{}{}", python[0], python[1])], "platform": platform,
        }))
        .unwrap()
    }

    #[test]
    fn glibc_platforms_go_down_to_the_oldest_of_their_family() {
        let tags = expand_platform("manylinux_2_28_x86_64");
        assert_eq!(tags.first().unwrap(), "manylinux_2_28_x86_64");
        let at = |tag: &str| tags.iter().position(|t| t == tag).unwrap();
        assert_eq!(at("manylinux2014_x86_64"), at("manylinux_2_17_x86_64") + 1);
        assert_eq!(at("manylinux2010_x86_64"), at("manylinux_2_12_x86_64") + 1);
        assert_eq!(tags.last().unwrap(), "manylinux1_x86_64");
        let arm = expand_platform("manylinux2014_aarch64");
        assert_eq!(arm, ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]);
        assert_eq!(
            expand_platform("musllinux_1_2_aarch64"),
            [
                "musllinux_1_2_aarch64",
                "musllinux_1_1_aarch64",
                "musllinux_1_0_aarch64"
            ]
        );
        assert_eq!(expand_platform("win_amd64"), ["win_amd64"]);
        let mac = expand_platform("macosx_12_0_arm64");
        assert_eq!(
            &mac[..3],
            [
                "macosx_12_0_arm64",
                "macosx_12_0_universal2",
                "macosx_11_0_arm64"
            ]
        );
        assert!(!mac.iter().any(|t| t.starts_with("macosx_10_")));
        assert!(expand_platform("macosx_11_0_x86_64").contains(&"macosx_10_9_x86_64".into()));
    }

    #[test]
    fn supported_tags_rank_as_an_installer_does() {
        let env = host([3, 12], "manylinux_2_36_x86_64");
        let tags = env.supported();
        let at = |tag: &str| {
            tags.iter()
                .position(|t| t == tag)
                .unwrap_or_else(|| panic!("{tag} is supported"))
        };
        assert_eq!(tags[0], "cp312-cp312-manylinux_2_36_x86_64");
        assert!(at("cp312-cp312-manylinux1_x86_64") < at("cp312-cp312-linux_x86_64"));
        assert!(at("cp312-cp312-linux_x86_64") < at("cp312-abi3-manylinux_2_36_x86_64"));
        assert!(at("cp312-none-linux_x86_64") < at("cp311-abi3-manylinux_2_17_x86_64"));
        assert!(at("cp32-abi3-linux_x86_64") < at("py312-none-manylinux_2_36_x86_64"));
        assert!(at("py3-none-linux_x86_64") < at("py311-none-manylinux_2_36_x86_64"));
        assert_eq!(tags.last().unwrap(), "py30-none-any");
        assert!(at("cp312-none-any") < at("py3-none-any"));
        assert!(!tags
            .iter()
            .any(|t| t.contains("cp313") || t.contains("musllinux")));
    }

    #[test]
    fn the_best_wheel_for_each_target() {
        let files = [
            "x-1.0-cp38-cp38-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "x-1.0-cp38-cp38-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "x-1.0-cp38-cp38-musllinux_1_1_x86_64.whl",
            "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
            "x-1.0-py3-none-any.whl",
        ];
        let host = host([3, 12], "manylinux_2_36_x86_64");
        let best = |python: Option<&str>, platforms: &[&str]| {
            let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
            let target = host.retarget(python, None, &[], &platforms).unwrap();
            target.best_wheel(files).map(|n| files[n])
        };
        assert_eq!(best(None, &[]), Some(files[3]));
        assert_eq!(best(Some("3.8"), &[]), Some(files[0]));
        assert_eq!(
            best(Some("3.8"), &["manylinux2014_aarch64"]),
            Some(files[1])
        );
        assert_eq!(best(Some("3.8"), &["musllinux_1_2_x86_64"]), Some(files[2]));
        assert_eq!(
            best(Some("3.12"), &["manylinux_2_17_x86_64"]),
            Some(files[4])
        );
        assert_eq!(best(Some("3.11"), &["win_amd64"]), Some(files[4]));
        assert_eq!(best(Some("3.11"), &["win_amd64"]), Some(files[4]));
        assert_eq!(host.best_wheel(["x-1.0.tar.gz"]), None);
        assert_eq!(
            host.retarget(Some("3.8"), None, &[], &[])
                .unwrap()
                .describe(),
            "cp38 manylinux_2_36_x86_64"
        );
    }

    #[test]
    fn stable_abi_wheels_fit_newer_cpythons_only() {
        let files = ["x-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"];
        let host = host([3, 12], "manylinux_2_36_x86_64");
        assert_eq!(host.best_wheel(files), Some(0));
        let py38 = host.retarget(Some("38"), None, &[], &[]).unwrap();
        assert_eq!(py38.python, [3, 8]);
        assert_eq!(py38.best_wheel(files), None);
        let free = TagEnvironment {
            abis: vec!["cp313t".into()],
            ..host.retarget(Some("3.13"), None, &[], &[]).unwrap()
        };
        assert_eq!(
            free.best_wheel(files),
            None,
            "no abi3 for free-threaded builds"
        );
    }

    #[test]
    fn wheel_names_expand_to_their_tags() {
        assert_eq!(
            wheel_file_tags("x-1.0-py2.py3-none-any.whl"),
            ["py2-none-any", "py3-none-any"]
        );
        assert_eq!(
            wheel_file_tags("x-1.0-1build-cp38-abi3-linux_x86_64.whl"),
            ["cp38-abi3-linux_x86_64"]
        );
        assert!(wheel_file_tags("x-1.0.tar.gz").is_empty());
    }

    #[test]
    fn versions_read_as_pip_reads_them() {
        assert_eq!(parse_version("3.8"), Some([3, 8]));
        assert_eq!(parse_version("3.8.10"), Some([3, 8]));
        assert_eq!(parse_version("311"), Some([3, 11]));
        assert_eq!(parse_version("3"), Some([3, 0]));
        assert_eq!(parse_version("x"), None);
    }
}
