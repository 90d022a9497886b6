//! A target's environment, from one run of the build interpreter: its PEP 508 markers
//! (the interpreter's own values, with the Python version and platform replaced for another
//! target) and its PEP 425 tags ([`TagEnvironment`], retargeted the same way).

use std::process::Command;

use anyhow::{Context, Result};
use pep508_rs::MarkerEnvironment;
use serde_json::{Map, Value};

use crate::install::target::Target;
use crate::install::Interpreter;
use crate::tags::{Platform, TagEnvironment, HOST_PROBE};

/// PEP 508's environment markers, as the specification computes them, and the tag facts
/// of [`HOST_PROBE`].
const MARKERS_PROBE: &str = r#"import json, os, platform, sys
def full(info):
    v = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        v += info.releaselevel[0] + str(info.serial)
    return v
print(json.dumps({"tags": tag_facts(), "markers": {
    "implementation_name": sys.implementation.name,
    "implementation_version": full(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}}))"#;

/// The marker and tag environments `target` has, from `python`'s for what the target
/// leaves open.
pub fn target_environment(
    python: &Interpreter,
    target: &Target,
) -> Result<(MarkerEnvironment, TagEnvironment)> {
    let output = Command::new(&python.executable)
        .args(["-I", "-c", &format!("{HOST_PROBE}\n{MARKERS_PROBE}")])
        .output()
        .with_context(|| format!("could not run {}", python.executable.display()))?;
    let reported = || format!("{} did not report its markers", python.executable.display());
    let mut facts: Map<String, Value> =
        serde_json::from_slice(&output.stdout).with_context(reported)?;
    let (Some(Value::Object(mut values)), Some(tags)) =
        (facts.remove("markers"), facts.remove("tags"))
    else {
        anyhow::bail!(reported());
    };
    override_for(&mut values, target);
    let markers =
        serde_json::from_value(Value::Object(values)).context("unusable marker environment")?;
    let host = TagEnvironment::host(tags).map_err(anyhow::Error::msg)?;
    let tags = host
        .retarget(
            target.python_version.as_deref(),
            target.implementation.as_deref(),
            &target.abis,
            &target_platforms(target)?,
        )
        .map_err(anyhow::Error::msg)?;
    Ok((markers, tags))
}

/// The target's platform tags: pip's `--platform`s, or uv's `--python-platform` read as
/// the tag uv takes it for.
fn target_platforms(target: &Target) -> Result<Vec<String>> {
    let Some(triple) = &target.uv_platform else {
        return Ok(target.platforms.clone());
    };
    let (arch, system) = triple.split_once('-').unwrap_or(("x86_64", triple));
    let tag = match system {
        "linux" | "unknown-linux-gnu" => format!("manylinux_2_17_{arch}"),
        "unknown-linux-musl" => format!("musllinux_1_2_{arch}"),
        "apple-darwin" | "macos" if arch == "aarch64" => "macosx_11_0_arm64".to_string(),
        "apple-darwin" | "macos" => "macosx_10_12_x86_64".to_string(),
        "pc-windows-msvc" | "windows" => "win_amd64".to_string(),
        other => match other.strip_prefix("manylinux_") {
            Some(version) => format!("manylinux_{version}_{arch}"),
            None => anyhow::bail!(
                "--python-platform {triple}: rshiv cannot choose wheels from a lock for it; give pip's --platform TAG"
            ),
        },
    };
    Ok(vec![tag])
}

/// Replace the markers that `target` names: its Python version, its first platform.
fn override_for(values: &mut Map<String, Value>, target: &Target) {
    let mut set = |key: &str, value: &str| {
        values.insert(key.to_string(), Value::String(value.to_string()));
    };
    if let Some(version) = &target.python_version {
        let parts: Vec<&str> = version.split('.').collect();
        let short = parts.iter().take(2).copied().collect::<Vec<_>>().join(".");
        let full = if parts.len() >= 3 {
            version.clone()
        } else {
            format!("{short}.0")
        };
        set("python_version", &short);
        set("python_full_version", &full);
    }
    let Some(platform) = target
        .platforms
        .first()
        .and_then(|tag| Platform::parse(tag))
    else {
        return;
    };
    let (system, os_name) = match platform.os {
        "linux" => ("Linux", "posix"),
        "darwin" => ("Darwin", "posix"),
        "win32" => ("Windows", "nt"),
        other => (other, "posix"),
    };
    let machine = match (platform.os, platform.arch) {
        ("win32", "amd64") => "AMD64",
        (_, arch) => arch,
    };
    set("sys_platform", platform.os);
    set("platform_system", system);
    set("os_name", os_name);
    set("platform_machine", machine);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_replaces_version_and_platform() {
        let mut values = Map::new();
        let target = Target {
            python_version: Some("3.8".into()),
            platforms: vec!["macosx_11_0_arm64".into()],
            ..Target::default()
        };
        override_for(&mut values, &target);
        assert_eq!(values["python_version"], "3.8");
        assert_eq!(values["python_full_version"], "3.8.0");
        assert_eq!(values["sys_platform"], "darwin");
        assert_eq!(values["platform_machine"], "arm64");
    }
}
