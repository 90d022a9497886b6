//! What a payload is installed for: the build interpreter (the default), or the Python
//! version, platforms and ABIs the user named with the installer's cross-target options.
//!
//! One install is for one [`Target`]; the request holds it apart from the other arguments,
//! so that an install for several targets (issue 14) is one install per target with the
//! same arguments. Each installer spells a target its own way ([`Target::pip_args`],
//! [`Target::uv_args`]); both need binaries only for another target, as pip requires.

use std::ffi::OsString;
use std::fmt;

use anyhow::{bail, Result};

use super::args::InstallerArgs;
use super::flags::{Role, TargetField};
use crate::tags::{Libc, Platform};

/// The interpreter and platform one install is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `--python-version X.Y`.
    pub python_version: Option<String>,
    /// pip's `--platform TAG` (PEP 425), in the order given.
    pub platforms: Vec<String>,
    /// uv's `--python-platform TRIPLE`, as given.
    pub uv_platform: Option<String>,
    /// pip's `--implementation`.
    pub implementation: Option<String>,
    /// pip's `--abi`, in the order given.
    pub abis: Vec<String>,
}

impl Target {
    /// Take the target options out of `args`.
    pub fn take_from(args: &mut InstallerArgs) -> Target {
        let mut target = Target::default();
        for (flag, value) in args.take_targets() {
            let value = value.to_string_lossy().into_owned();
            let Role::Target(field) = flag.role else {
                continue;
            };
            match field {
                TargetField::Platform => target.platforms.push(value),
                TargetField::UvPlatform => target.uv_platform = Some(value),
                TargetField::PythonVersion => target.python_version = Some(value),
                TargetField::Implementation => target.implementation = Some(value),
                TargetField::Abi => target.abis.push(value),
            }
        }
        target
    }

    /// Whether this is the build interpreter's own platform.
    pub fn is_host(&self) -> bool {
        *self == Target::default()
    }

    /// pip's options for this target; with `--only-binary=:all:` for another target unless
    /// `args` chose between binaries and source (pip refuses `--target` otherwise).
    pub fn pip_args(&self, args: &InstallerArgs) -> Result<Vec<OsString>> {
        if self.uv_platform.is_some() {
            bail!("installer option --python-platform is uv's; pip spells it --platform TAG");
        }
        let mut out = Vec::new();
        if !self.is_host() && !args.chooses_binaries() {
            out.push("--only-binary=:all:".into());
        }
        let mut add = |name: &str, value: &str| out.extend([name.into(), value.into()]);
        for platform in &self.platforms {
            add("--platform", platform);
        }
        if let Some(version) = &self.python_version {
            add("--python-version", version);
        }
        if let Some(implementation) = &self.implementation {
            add("--implementation", implementation);
        }
        for abi in &self.abis {
            add("--abi", abi);
        }
        Ok(out)
    }

    /// uv's options for this target (pip's platform tags as uv's targets), with
    /// `--only-binary=:all:` as for pip.
    pub fn uv_args(&self, args: &InstallerArgs) -> Result<Vec<OsString>> {
        if self.implementation.is_some() || !self.abis.is_empty() {
            let name = if self.abis.is_empty() {
                "--implementation"
            } else {
                "--abi"
            };
            bail!("installer option {name} is not supported by uv; use --installer pip");
        }
        let mut out: Vec<OsString> = Vec::new();
        for platform in &self.platforms {
            out.push(format!("--python-platform={}", uv_platform(platform)?).into());
        }
        if let Some(triple) = &self.uv_platform {
            out.extend(["--python-platform".into(), triple.into()]);
        }
        if let Some(version) = &self.python_version {
            out.extend(["--python-version".into(), version.into()]);
        }
        if !self.is_host() && !args.chooses_binaries() {
            out.push("--only-binary=:all:".into());
        }
        Ok(out)
    }
}

/// The targets a build is for (issue 14): every `--python-version` on every `--platform`
/// of rshiv's own (versions in the order given, platforms within each), each `base` (what
/// the installer's own arguments set, after `--`) with that version and platform. No
/// value on either axis leaves it as `base` has it: one target, as before.
pub fn product(base: Target, versions: &[String], platforms: &[String]) -> Result<Vec<Target>> {
    for version in versions {
        if minor_version(version).is_none() {
            bail!("--python-version {version:?}: expected X.Y, such as 3.11");
        }
    }
    if !versions.is_empty() && base.python_version.is_some() {
        bail!(
            "--python-version is given both to rshiv and after `--` to the installer; give it once"
        );
    }
    if !platforms.is_empty() && (!base.platforms.is_empty() || base.uv_platform.is_some()) {
        bail!("--platform is given to rshiv, and the installer has a platform too (--platform after `--`, or --python-platform); give the platforms once");
    }
    for (axis, values) in [("--python-version", versions), ("--platform", platforms)] {
        let mut seen = Vec::new();
        for value in values {
            if seen.contains(&value) {
                bail!("{axis} {value} is given twice");
            }
            seen.push(value);
        }
    }
    let versions: Vec<Option<&String>> = match versions {
        [] => vec![None],
        given => given.iter().map(Some).collect(),
    };
    let platforms: Vec<Option<&String>> = match platforms {
        [] => vec![None],
        given => given.iter().map(Some).collect(),
    };
    let mut targets = Vec::new();
    for version in &versions {
        for platform in &platforms {
            let mut target = base.clone();
            if let Some(version) = version {
                target.python_version = Some(version.to_string());
            }
            if let Some(platform) = platform {
                target.platforms = vec![platform.to_string()];
            }
            targets.push(target);
        }
    }
    Ok(targets)
}

/// `3.11` or `3.11.4` -> `[3, 11]`.
pub fn minor_version(version: &str) -> Option<[u32; 2]> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some([major, minor]),
        Some(patch) => {
            (patch.parse::<u32>().is_ok() && parts.next().is_none()).then_some([major, minor])
        }
    }
}

/// A target as the pyz records it and people read it: a Python version and one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName {
    /// `[3, 11]`.
    pub python: [u32; 2],
    /// The platform tag as given, or the build machine's (`linux_x86_64`).
    pub platform: String,
}

impl Target {
    /// This target's name; what it leaves open is the build interpreter's (`build_version`,
    /// `3.12.7`) and the build machine's.
    pub fn name(&self, build_version: &str) -> Result<TargetName> {
        let version = self.python_version.as_deref().unwrap_or(build_version);
        let Some(python) = minor_version(version) else {
            bail!("python version {version:?}: expected X.Y, such as 3.11");
        };
        let platform = match (self.platforms.first(), &self.uv_platform) {
            (Some(tag), _) => tag.clone(),
            (None, Some(triple)) => triple.clone(),
            (None, None) => crate::tags::host_platform_tag(),
        };
        Ok(TargetName { python, platform })
    }
}

impl fmt::Display for TargetName {
    /// `CPython 3.8 on manylinux2014_x86_64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor] = self.python;
        write!(f, "CPython {major}.{minor} on {}", self.platform)
    }
}

/// pip's platform tag (`manylinux2014_x86_64`) as uv's target (`x86_64-manylinux_2_17`).
/// uv knows no glibc older than 2.17: manylinux1 and manylinux2010 are taken as 2.17.
fn uv_platform(tag: &str) -> Result<String> {
    let mapped = Platform::parse(tag).and_then(|platform| {
        let arch = platform.arch;
        Some(match (platform.os, platform.libc) {
            ("linux", Some((Libc::Glibc, [major, minor]))) => {
                let [major, minor] = [major, minor].max([2, 17]);
                format!("{arch}-manylinux_{major}_{minor}")
            }
            ("linux", Some((Libc::Musl, _))) => format!("{arch}-unknown-linux-musl"),
            ("linux", None) => format!("{arch}-unknown-linux-gnu"),
            ("darwin", _) if arch == "arm64" => "aarch64-apple-darwin".to_string(),
            ("darwin", _) => "x86_64-apple-darwin".to_string(),
            ("win32", _) if arch == "amd64" => "x86_64-pc-windows-msvc".to_string(),
            ("win32", _) if arch == "x86" => "i686-pc-windows-msvc".to_string(),
            _ => return None,
        })
    });
    match mapped {
        Some(target) => Ok(target),
        None => bail!("platform {tag:?} has no uv equivalent; use --installer pip"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> InstallerArgs {
        InstallerArgs::parse(words.iter().map(OsString::from))
    }

    fn strings(out: Vec<OsString>) -> Vec<String> {
        out.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn target_options_are_taken_out_of_the_arguments() {
        let mut args = parse(&[
            "--platform",
            "manylinux2014_x86_64",
            "--python-version=3.8",
            "--pre",
            "numpy",
        ]);
        let target = Target::take_from(&mut args);
        assert_eq!(strings(args.words()), ["--pre", "numpy"]);
        assert_eq!(
            strings(target.uv_args(&args).unwrap()),
            [
                "--python-platform=x86_64-manylinux_2_17",
                "--python-version",
                "3.8",
                "--only-binary=:all:",
            ]
        );
        assert_eq!(
            strings(target.pip_args(&args).unwrap()),
            [
                "--only-binary=:all:",
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.8",
            ]
        );
        let chosen = parse(&["--no-binary", ":none:"]);
        assert_eq!(target.pip_args(&chosen).unwrap().len(), 4);
        assert!(Target::default().uv_args(&args).unwrap().is_empty());
    }

    #[test]
    fn the_targets_are_every_version_on_every_platform() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = Target {
            abis: vec!["cp38".into()],
            ..Target::default()
        };
        let targets = product(
            base.clone(),
            &strings(&["3.8", "3.13"]),
            &strings(&["manylinux2014_x86_64", "manylinux2014_aarch64"]),
        )
        .unwrap();
        let named: Vec<String> = targets
            .iter()
            .map(|t| t.name("3.12.1").unwrap().to_string())
            .collect();
        assert_eq!(
            named,
            [
                "CPython 3.8 on manylinux2014_x86_64",
                "CPython 3.8 on manylinux2014_aarch64",
                "CPython 3.13 on manylinux2014_x86_64",
                "CPython 3.13 on manylinux2014_aarch64",
            ]
        );
        assert!(targets.iter().all(|t| t.abis == ["cp38"]));
        assert_eq!(product(base.clone(), &[], &[]).unwrap(), vec![base]);
        let host = product(Target::default(), &strings(&["3.9"]), &[]).unwrap();
        assert_eq!(
            host[0].name("3.12.1").unwrap().platform,
            crate::tags::host_platform_tag()
        );
        assert_eq!(Target::default().name("3.12.1").unwrap().python, [3, 12]);
        for (versions, platforms, error) in [
            (&["3"][..], &[][..], "expected X.Y"),
            (&["3.8", "3.8"], &[], "--python-version 3.8 is given twice"),
            (&[], &["linux_x86_64", "linux_x86_64"], "given twice"),
        ] {
            let err = product(Target::default(), &strings(versions), &strings(platforms))
                .unwrap_err()
                .to_string();
            assert!(err.contains(error), "{err}");
        }
        let after_dashes = Target {
            python_version: Some("3.9".into()),
            ..Target::default()
        };
        assert!(product(after_dashes, &strings(&["3.8"]), &[]).is_err());
    }

    #[test]
    fn uv_refuses_what_it_cannot_target() {
        let mut args = parse(&["--abi", "cp38"]);
        assert!(Target::take_from(&mut args).uv_args(&args).is_err());
        let mut args = parse(&["--python-platform", "linux"]);
        let target = Target::take_from(&mut args);
        assert!(target.pip_args(&args).is_err());
        assert_eq!(
            strings(target.uv_args(&args).unwrap()),
            ["--python-platform", "linux", "--only-binary=:all:"]
        );
    }

    #[test]
    fn platform_tags_map_to_uv_targets() {
        for (tag, uv) in [
            ("manylinux1_x86_64", "x86_64-manylinux_2_17"),
            ("manylinux2010_x86_64", "x86_64-manylinux_2_17"),
            ("manylinux2014_aarch64", "aarch64-manylinux_2_17"),
            ("manylinux_2_28_aarch64", "aarch64-manylinux_2_28"),
            ("musllinux_1_2_x86_64", "x86_64-unknown-linux-musl"),
            ("linux_x86_64", "x86_64-unknown-linux-gnu"),
            ("macosx_11_0_arm64", "aarch64-apple-darwin"),
            ("macosx_10_9_x86_64", "x86_64-apple-darwin"),
            ("win_amd64", "x86_64-pc-windows-msvc"),
            ("win32", "i686-pc-windows-msvc"),
        ] {
            assert_eq!(uv_platform(tag).unwrap(), uv, "{tag}");
        }
        assert!(uv_platform("win_arm64").is_err());
        assert!(uv_platform("solaris").is_err());
    }
}
