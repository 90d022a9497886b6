//! The installer's arguments: the ones rshiv refuses, and pip's spellings that uv spells
//! differently (uv's `pip install` interface follows pip's for everything else).

use std::ffi::OsString;

use anyhow::{bail, Result};

/// Options that would put the installation somewhere other than rshiv's staging tree
/// (shiv refuses the same ones; `--opt=value` forms too, which shiv lets through).
const REFUSED: &[&str] = &[
    "-t",
    "--target",
    "--prefix",
    "--user",
    "--root",
    "-d",
    "--download",
    "--editable",
];

/// Fail on an installer argument that would defeat the build.
pub fn check_refused(args: &[OsString]) -> Result<()> {
    for arg in args.iter().filter_map(|a| a.to_str()) {
        let name = arg.split('=').next().unwrap_or(arg);
        let short_attached = REFUSED
            .iter()
            .any(|r| r.len() == 2 && arg.starts_with(r) && arg.len() > 2);
        if REFUSED.contains(&name) || short_attached {
            bail!(
                "installer option {arg} is not allowed: rshiv decides where packages are installed"
            );
        }
    }
    Ok(())
}

/// pip-style arguments rewritten for `uv pip install`: `--pre`, `--platform` (mapped to
/// uv's `--python-platform`), `--no-cache-dir`, `--trusted-host`; cross-target builds get
/// `--only-binary :all:` unless the user chose, as pip requires.
pub fn translate_for_uv(args: &[OsString]) -> Result<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::with_capacity(args.len());
    let mut iter = args.iter().peekable();
    let mut cross = false;
    let mut chose_binaries = false;
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (text, None),
        };
        let value = |iter: &mut std::iter::Peekable<std::slice::Iter<OsString>>| {
            inline
                .clone()
                .or_else(|| iter.next().and_then(|v| v.to_str().map(str::to_string)))
        };
        match name {
            "--pre" => out.push("--prerelease=allow".into()),
            "--no-cache-dir" => out.push("--no-cache".into()),
            "--trusted-host" => {
                let host = value(&mut iter).unwrap_or_default();
                out.push(format!("--allow-insecure-host={host}").into());
            }
            "--platform" => {
                let tag = value(&mut iter).unwrap_or_default();
                cross = true;
                out.push(format!("--python-platform={}", uv_platform(&tag)?).into());
            }
            "--python-version" | "--python-platform" => {
                cross = true;
                out.push(arg.clone());
                if inline.is_none() {
                    out.extend(iter.next().cloned());
                }
            }
            "--abi" | "--implementation" => {
                bail!("installer option {name} is not supported by uv; use --installer pip")
            }
            "--only-binary" | "--no-binary" | "--no-deps" => {
                chose_binaries = true;
                out.push(arg.clone());
            }
            _ => out.push(arg.clone()),
        }
    }
    if cross && !chose_binaries {
        out.push("--only-binary=:all:".into());
    }
    Ok(out)
}

/// pip's platform tag (`manylinux2014_x86_64`) as uv's target (`x86_64-manylinux2014`).
fn uv_platform(tag: &str) -> Result<String> {
    let arch_of = |rest: &str, known: &[&str]| {
        known
            .iter()
            .find(|a| rest.ends_with(*a))
            .map(|a| a.to_string())
    };
    const ARCHES: &[&str] = &[
        "x86_64", "aarch64", "i686", "armv7l", "ppc64le", "s390x", "riscv64",
    ];
    let mapped = if let Some(rest) = tag.strip_prefix("manylinux_") {
        arch_of(rest, ARCHES).map(|arch| {
            let version = rest.trim_end_matches(&arch).trim_end_matches('_');
            format!("{arch}-manylinux_{version}")
        })
    } else if let Some(arch) = tag.strip_prefix("manylinux2014_") {
        Some(format!("{arch}-manylinux2014"))
    } else if let Some(arch) = tag
        .strip_prefix("manylinux2010_")
        .or(tag.strip_prefix("manylinux1_"))
    {
        Some(format!("{arch}-manylinux_2_17"))
    } else if let Some(rest) = tag.strip_prefix("musllinux_") {
        arch_of(rest, ARCHES).map(|arch| format!("{arch}-unknown-linux-musl"))
    } else if let Some(arch) = tag.strip_prefix("linux_") {
        Some(format!("{arch}-unknown-linux-gnu"))
    } else if tag.starts_with("macosx_") {
        Some(
            if tag.ends_with("arm64") {
                "aarch64-apple-darwin"
            } else {
                "x86_64-apple-darwin"
            }
            .to_string(),
        )
    } else if tag == "win_amd64" {
        Some("x86_64-pc-windows-msvc".to_string())
    } else if tag == "win32" {
        Some("i686-pc-windows-msvc".to_string())
    } else {
        None
    };
    match mapped {
        Some(target) => Ok(target),
        None => bail!("platform {tag:?} has no uv equivalent; use --installer pip"),
    }
}

/// Installer options (pip's and uv's) whose value is the next argument, so that in
/// `--find-links wheels` the word `wheels` is not taken for a requirement; the index
/// options among them are in [`INDEX_OPTIONS`], and [`takes_value`] asks both lists.
const OPTIONS_WITH_VALUES: &[&str] = &[
    "-c",
    "--constraint",
    "--platform",
    "--python-platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--only-binary",
    "--no-binary",
    "-C",
    "--config-settings",
    "--global-option",
    "--progress-bar",
    "--exists-action",
    "--log",
    "--cache-dir",
    "--upgrade-strategy",
    "-P",
    "--upgrade-package",
    "--override",
    "--resolution",
    "--prerelease",
    "--link-mode",
    "--group",
    "--report",
    "--root-user-action",
];

/// Whether installer arguments name something to install: a requirement, a path or URL,
/// or `-r FILE`; options alone (`--no-index --find-links wheels`) name nothing.
pub fn names_requirements(args: &[OsString]) -> bool {
    let mut args = args.iter().map(|arg| arg.to_string_lossy());
    while let Some(arg) = args.next() {
        let is_requirement_file = arg == "--requirement"
            || arg.starts_with("--requirement=")
            || (arg.starts_with("-r") && !arg.starts_with("--"));
        if is_requirement_file || !arg.starts_with('-') {
            return true;
        }
        if takes_value(&arg) {
            args.next();
        }
    }
    false
}

/// Options that say where packages come from: a build environment's requirements are
/// installed with the same ones (the first list takes a value).
const INDEX_OPTIONS: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "--index",
    "--default-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--allow-insecure-host",
    "--cert",
    "--client-cert",
    "--proxy",
    "--retries",
    "--timeout",
    "--index-strategy",
    "--keyring-provider",
    "--exclude-newer",
];
const INDEX_FLAGS: &[&str] = &[
    "--no-index",
    "--pre",
    "--no-cache-dir",
    "--no-cache",
    "--offline",
];

/// Options that change how the installer builds a source tree; with any of them, rshiv
/// leaves local projects to the installer rather than build them itself.
const BUILD_OPTIONS: &[&str] = &[
    "-C",
    "--config-settings",
    "--config-setting",
    "--no-build-isolation",
    "--no-build-isolation-package",
    "--build-constraint",
    "--build-constraints",
    "--no-build",
    "--global-option",
    "--build-option",
    "--use-pep517",
    "--no-use-pep517",
];

/// Options under which installing a project's dependencies on their own, then the project
/// from the installer's cache, could end differently from one install of everything: the
/// dependencies would become direct requirements (`--resolution lowest-direct`,
/// `--prerelease explicit`), be refused unpinned (`--require-hashes`), be skipped
/// (`--no-deps`), or the cache be bypassed (`--no-cache`, `--refresh`).
const SPLIT_HAZARDS: &[&str] = &[
    "--no-deps",
    "--require-hashes",
    "--resolution",
    "--prerelease",
    "--no-cache",
    "--no-cache-dir",
    "-n",
    "--refresh",
    "--refresh-package",
];

/// Whether the arguments rule out installing dependencies ahead of their project.
pub fn splits_unsafely(args: &[OsString]) -> bool {
    args.iter().any(|arg| is_one_of(arg, SPLIT_HAZARDS))
}

/// Whether `arg` is one of the options `names`, alone or as `--option=value`.
fn is_one_of(arg: &OsString, names: &[&str]) -> bool {
    let text = arg.to_string_lossy();
    names.contains(&text.split('=').next().unwrap_or(&text))
}

/// The installer arguments that choose indexes, find-links and network behaviour, in order.
pub fn index_options(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        let name = text.split('=').next().unwrap_or(&text);
        if INDEX_FLAGS.contains(&name) {
            out.push(arg.clone());
        } else if INDEX_OPTIONS.contains(&name) {
            out.push(arg.clone());
            if !text.contains('=') {
                out.extend(iter.next().cloned());
            }
        } else if takes_value(&text) || is_requirement_file_option(&text) {
            iter.next();
        }
    }
    out
}

/// Whether the arguments ask the installer for a build of its own kind.
pub fn configures_builds(args: &[OsString]) -> bool {
    args.iter().any(|arg| {
        let text = arg.to_string_lossy();
        is_one_of(arg, BUILD_OPTIONS) || (text.starts_with("-C") && !text.starts_with("--"))
    })
}

/// A local project among the arguments: `.`, `./service[extra]`, `/src/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProject {
    /// Its position in the arguments.
    pub index: usize,
    pub dir: std::path::PathBuf,
    /// `[extra,...]` as written, or empty.
    pub extras: String,
}

/// The arguments that name a project directory, by pip's rule: a word that looks like a
/// path (it has a `/` or starts with `.`) and is a directory with a `pyproject.toml` or a
/// `setup.py`. Option values (`--find-links .`) are not words of their own.
pub fn local_projects(args: &[OsString]) -> Vec<LocalProject> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let text = args[index].to_string_lossy();
        if text.starts_with('-') {
            let skip_value = takes_value(&text) || is_requirement_file_option(&text);
            index += if skip_value { 2 } else { 1 };
            continue;
        }
        let (path, extras) = match text.find('[') {
            Some(open) if text.ends_with(']') => (&text[..open], &text[open..]),
            _ => (text.as_ref(), ""),
        };
        let dir = std::path::Path::new(path);
        let looks_like_path = path.contains('/') || path.starts_with('.');
        if looks_like_path
            && (dir.join("pyproject.toml").is_file() || dir.join("setup.py").is_file())
        {
            found.push(LocalProject {
                index,
                dir: dir.to_path_buf(),
                extras: extras.to_string(),
            });
        }
        index += 1;
    }
    found
}

/// Whether `arg`, as written, is an option whose value is the next argument.
fn takes_value(arg: &str) -> bool {
    OPTIONS_WITH_VALUES.contains(&arg) || INDEX_OPTIONS.contains(&arg)
}

fn is_requirement_file_option(text: &str) -> bool {
    text == "-r" || text == "--requirement"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn refuses_target_and_friends_in_every_spelling() {
        for bad in [
            "--target",
            "--target=x",
            "-tx",
            "--user",
            "--prefix=/x",
            "-d",
            "--editable",
        ] {
            assert!(
                check_refused(&strings(&["requests", bad])).is_err(),
                "{bad}"
            );
        }
        assert!(check_refused(&strings(&[
            "-r",
            "req.txt",
            "--no-index",
            "--find-links=w",
            "."
        ]))
        .is_ok());
    }

    #[test]
    fn cross_options_translate() {
        let out = translate_for_uv(&strings(&[
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.8",
            "--pre",
            "numpy",
        ]))
        .unwrap();
        let out: Vec<_> = out.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(
            out,
            [
                "--python-platform=x86_64-manylinux2014",
                "--python-version",
                "3.8",
                "--prerelease=allow",
                "numpy",
                "--only-binary=:all:",
            ]
        );
        assert_eq!(
            uv_platform("manylinux_2_28_aarch64").unwrap(),
            "aarch64-manylinux_2_28"
        );
        assert!(translate_for_uv(&strings(&["--abi", "cp38"])).is_err());
    }

    #[test]
    fn options_alone_name_no_requirement() {
        let names = |args: &[&str]| {
            names_requirements(&args.iter().map(OsString::from).collect::<Vec<_>>())
        };
        assert!(!names(&[]));
        assert!(!names(&[
            "--no-index",
            "--find-links",
            "wheels",
            "-i",
            "https://x/simple"
        ]));
        assert!(!names(&["--find-links=wheels", "--pre"]));
        assert!(names(&["--no-index", "."]));
        assert!(names(&["-r", "requirements.txt"]));
        assert!(names(&["-rrequirements.txt"]));
        assert!(names(&["--requirement=requirements.txt"]));
        assert!(names(&["--find-links", "wheels", "requests==2.32.3"]));
    }

    #[test]
    fn index_options_are_picked_out_of_everything_else() {
        let picked = index_options(&strings(&[
            "-r",
            "req.txt",
            "--no-index",
            "--find-links",
            "wheels",
            "--index-url=https://x/simple",
            "-c",
            "constraints.txt",
            "--pre",
            "--platform",
            "manylinux2014_x86_64",
            ".",
        ]));
        assert_eq!(
            picked,
            strings(&[
                "--no-index",
                "--find-links",
                "wheels",
                "--index-url=https://x/simple",
                "--pre"
            ])
        );
    }

    #[test]
    fn build_options_are_noticed() {
        assert!(configures_builds(&strings(&[".", "-C", "k=v"])));
        assert!(configures_builds(&strings(&[".", "-Ck=v"])));
        assert!(configures_builds(&strings(&["--no-build-isolation", "."])));
        assert!(configures_builds(&strings(&["--config-settings=k=v", "."])));
        assert!(!configures_builds(&strings(&[
            "-c",
            "constraints.txt",
            "."
        ])));
    }

    #[test]
    fn local_projects_follow_pips_path_rule() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("svc");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("setup.py"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("plain")).unwrap();
        let svc = project.to_string_lossy().into_owned();
        let with_extra = format!("{svc}[extra]");
        let plain = dir.path().join("plain").to_string_lossy().into_owned();
        let found = local_projects(&strings(&[
            "--find-links",
            &svc,
            "-r",
            &svc,
            "requests",
            &plain,
            &with_extra,
        ]));
        assert_eq!(
            found,
            [LocalProject {
                index: 6,
                dir: project.clone(),
                extras: "[extra]".into()
            }]
        );
    }
}
