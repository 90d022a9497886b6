//! What a payload is installed for: the build interpreter (the default), or the Python
//! version, platforms and ABIs the user named with the installer's cross-target options.
//!
//! One install is for one [`Target`]; the request holds it apart from the other arguments,
//! so that an install for several targets (issue 14) is one install per target with the
//! same arguments. Each installer spells a target its own way ([`Target::pip_args`],
//! [`Target::uv_args`]); both need binaries only for another target, as pip requires.

use std::ffi::OsString;

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
