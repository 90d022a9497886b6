//! Native executables (`--python-dist`): one ELF file that runs without Python on the host.
//!
//! # Layout (format `rshiv-native-1`)
//!
//! ```text
//! rshiv-launcher                 the launcher binary (src/bin/rshiv-launcher.rs), as built
//! interpreter archive            the user's .tar.gz/.tar.zst, byte for byte
//! #!... + outer zip              the zip app exactly as `rshiv -o app.pyz` writes it; its
//!                                offsets count from the shebang, so readers find the zip by
//!                                its end records (zipimport and zipfile tolerate prepended data)
//! end of central directory       whose comment is the trailer ([`trailer`])
//! ```
//!
//! The launcher reads the trailer from the end of its own file, unpacks the interpreter once
//! into the cache root ([`launch`], by the steps of [`crate::cache::protocol`]) and execs
//! `python -I FILE ARGS`, so the Python bootstrap handles the payload as for any pyz.
//! `python3 FILE` works too.

pub mod archive;
pub mod dist;
pub mod launch;
pub mod show;
pub mod trailer;
pub mod write;

/// `<arch>-unknown-linux-<libc>` (python-build-standalone's spelling) of the machine this
/// code was compiled for: the launcher's platform.
pub fn host_platform() -> String {
    let libc = if cfg!(target_env = "musl") {
        "musl"
    } else {
        "gnu"
    };
    format!(
        "{}-unknown-{}-{libc}",
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// The directory name (`<name>_<id>`, the payload's shape, so `rshiv cache` lists and cleans
/// interpreters like extractions) of an interpreter archive with this sha256.
pub fn interpreter_key(version: &str, sha256: &str) -> (String, String) {
    (
        format!("python-{version}"),
        sha256[..32.min(sha256.len())].to_string(),
    )
}

/// Resolve the payload for the bundled interpreter rather than for the build's: the
/// archive's `--python-version` (and `--platform`, as tests/cross.rs builds do), set only
/// where the two differ and the user chose no target of their own.
pub fn retarget(target: &mut crate::install::Target, dist: &dist::Dist, build_version: &str) {
    let same_minor = build_version == dist.minor_version()
        || build_version.starts_with(&format!("{}.", dist.minor_version()));
    let same_platform = dist.platform == host_platform();
    if same_minor && same_platform || !target.is_host() {
        return;
    }
    target.python_version = Some(dist.minor_version().to_string());
    if !same_platform {
        target.platforms = vec![dist.platform_tag()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(version: &str, platform: &str) -> dist::Dist {
        dist::Dist {
            path: "cpython.tar.gz".into(),
            size: 0,
            sha256: String::new(),
            compression: archive::Compression::Gzip,
            version: version.into(),
            platform: platform.into(),
            executable: String::new(),
            unpacked_bytes: 0,
            files: 0,
        }
    }

    #[test]
    fn targets_the_bundled_interpreter_where_the_build_differs() {
        use crate::install::Target;
        let host = host_platform();
        let retargeted = |dist: dist::Dist, build: &str, mut target: Target| {
            retarget(&mut target, &dist, build);
            target
        };
        let same = retargeted(dist("3.12.1", &host), "3.12.7", Target::default());
        assert_eq!(same, Target::default());
        let newer = retargeted(dist("3.12.1", &host), "3.11.7", Target::default());
        assert_eq!(newer.python_version.as_deref(), Some("3.12"));
        assert!(newer.platforms.is_empty());
        let arm = retargeted(
            dist("3.12.1", "aarch64-unknown-linux-gnu"),
            "3.12.1",
            Target::default(),
        );
        assert_eq!(arm.platforms, ["manylinux2014_aarch64"]);
        let chosen = Target {
            platforms: vec!["manylinux_2_28_x86_64".into()],
            ..Target::default()
        };
        assert_eq!(
            retargeted(dist("3.13.0", &host), "3.11.7", chosen.clone()),
            chosen
        );
    }
}
