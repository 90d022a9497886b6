//! Installing local projects' dependencies while the projects build.
//!
//! Building a small project's wheel takes ~0.25 s and uv's resolution of its dependencies
//! ~0.4 s (mostly revalidating index pages), one after the other. When `[project]` declares
//! the dependencies statically (PEP 621: the backend must write them into the wheel's
//! metadata as they are), rshiv starts the installer on them while the backend builds.
//! Then it runs the install it would have run alone (the same arguments, the wheels in
//! place of the projects) with the installer offline: it resolves from the index pages it
//! has just fetched, finds the dependencies in place and adds the projects, so the payload
//! is the same as without the overlap (tested). Any failure of either step falls back to
//! that install online, into an emptied target.
//!
//! Only for an installer that can resolve from its cache alone (uv), only when rshiv
//! builds every local project and each declares static requirements that name neither a
//! local project nor a URL nor a pre-release, and never under the options of
//! [`super::args::splits_unsafely`].

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::args::{splits_unsafely, LocalProject};
use super::project::Declared;
use super::{run_captured, spawn_captured, Background, Bytecode, Installer};
use crate::metadata::normalize_name;
use crate::progress::{Progress, Step};

/// The installer running on the dependencies alone.
pub struct Early {
    running: Background,
    /// The installer's flag for resolving from its cache alone.
    offline: &'static str,
}

impl Early {
    /// Start the installer on the dependencies of `projects` (each with what its
    /// `pyproject.toml` declares), into `target`; `None` when the overlap does not apply.
    pub fn start(
        installer: &Installer,
        target: &Path,
        args: &[OsString],
        projects: &[(&LocalProject, Option<&Declared>)],
    ) -> Option<Early> {
        let offline = installer.frontend.offline_flag()?;
        if splits_unsafely(args) {
            return None;
        }
        let early_args = dependencies_alone(args, projects)?;
        let command = installer
            .frontend
            .command(target, &early_args, Bytecode::Skip)
            .ok()?;
        let running = spawn_captured(command).ok()?;
        Some(Early { running, offline })
    }

    /// Wait for the early install, then install `args` (the wheels in place of the
    /// projects) offline. `false` when either step failed: `target` is emptied again and
    /// the caller installs `args` as it would have without the overlap.
    pub fn finish(
        self,
        installer: &Installer,
        target: &Path,
        args: &[OsString],
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<bool> {
        progress.start(Step::Installing, None);
        let done = self.complete(installer, target, args, verbose);
        progress.finish();
        if !done {
            if verbose {
                eprintln!("rshiv: installing the dependencies first did not work out; installing everything at once");
            }
            fs_err::remove_dir_all(target)?;
            fs_err::create_dir(target)?;
        }
        Ok(done)
    }

    /// Both steps, their output shown with `verbose`: whether both succeeded.
    fn complete(
        self,
        installer: &Installer,
        target: &Path,
        args: &[OsString],
        verbose: bool,
    ) -> bool {
        let show = |output: &str| {
            if verbose {
                let _ = std::io::stderr().write_all(output.as_bytes());
            }
        };
        let Ok((status, output)) = self.running.wait() else {
            return false;
        };
        show(&output);
        if !status.success() {
            return false;
        }
        let mut final_args = args.to_vec();
        final_args.push(self.offline.into());
        let Ok(command) = installer
            .frontend
            .command(target, &final_args, Bytecode::Skip)
        else {
            return false;
        };
        match run_captured(command) {
            Ok((status, output)) => {
                show(&output);
                status.success()
            }
            Err(_) => false,
        }
    }
}

/// `args` with each local project replaced by the requirements it declares (its
/// dependencies and those of the extras asked for); `None` when a project's are not
/// static, none are declared at all, or one would be resolved differently on its own: a
/// name among the local projects (not on any index), a direct URL (`name @ file:...`,
/// possibly relative to the project), or a pre-release specifier (uv lets pre-releases in
/// for direct requirements that ask for one).
pub fn dependencies_alone(
    args: &[OsString],
    projects: &[(&LocalProject, Option<&Declared>)],
) -> Option<Vec<OsString>> {
    let mut local_names = BTreeSet::new();
    let mut replacements = Vec::new();
    for (project, declared) in projects {
        let declared = (*declared)?;
        local_names.insert(normalize_name(&declared.name));
        let mut requirements = declared.dependencies.clone();
        let extras = extras_of(&project.extras);
        if !extras.is_empty() {
            let optional = declared.optional.as_ref()?;
            for (extra, listed) in optional {
                if extras.contains(&normalize_name(extra)) {
                    requirements.extend(listed.iter().cloned());
                }
            }
        }
        replacements.push((project.index, requirements));
    }
    let all = || replacements.iter().flat_map(|(_, r)| r);
    // Nothing declared at all: nothing to install early.
    all().next()?;
    for requirement in all() {
        let (name, specifier) = split_requirement(requirement);
        if local_names.contains(&normalize_name(name))
            || specifier.contains('@')
            || names_prerelease(specifier)
        {
            return None;
        }
    }
    let mut out = Vec::with_capacity(args.len());
    for (index, arg) in args.iter().enumerate() {
        match replacements.iter().find(|(at, _)| *at == index) {
            Some((_, requirements)) => out.extend(requirements.iter().map(OsString::from)),
            None => out.push(arg.clone()),
        }
    }
    Some(out)
}

/// `[a, B_c]` as normalized extra names (PEP 685).
fn extras_of(written: &str) -> BTreeSet<String> {
    written
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|extra| normalize_name(extra.trim()))
        .filter(|extra| !extra.is_empty())
        .collect()
}

/// A PEP 508 requirement's name, and what follows its extras up to its marker.
fn split_requirement(requirement: &str) -> (&str, &str) {
    let text = requirement.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let mut rest = text[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.split_once(']').map_or("", |(_, after)| after);
    }
    let specifier = rest.split(';').next().unwrap_or(rest);
    (&text[..end], specifier)
}

/// Whether a specifier names a pre-release or development version (PEP 440: `1.0a1`,
/// `2.0.rc1`, `3.0-beta.2`, `1.0.dev0`).
fn names_prerelease(specifier: &str) -> bool {
    const TAGS: &[&str] = &[
        "a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "dev",
    ];
    let lower = specifier.to_ascii_lowercase();
    lower.bytes().enumerate().any(|(i, byte)| {
        if !byte.is_ascii_digit() {
            return false;
        }
        let after = lower[i + 1..].trim_start_matches(['.', '-', '_']);
        TAGS.iter().any(|tag| {
            after.starts_with(tag)
                && !after[tag.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn project(index: usize, extras: &str) -> LocalProject {
        LocalProject {
            index,
            dir: PathBuf::from("."),
            extras: extras.to_string(),
        }
    }

    fn declared(name: &str, dependencies: &[&str], optional: &[(&str, &[&str])]) -> Declared {
        Declared {
            name: name.to_string(),
            dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
            optional: Some(
                optional
                    .iter()
                    .map(|(extra, deps)| {
                        (
                            extra.to_string(),
                            deps.iter().map(|d| d.to_string()).collect(),
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            ),
        }
    }

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn projects_are_replaced_by_their_requirements_in_place() {
        let app = declared(
            "app",
            &["fastapi>=0.100", "uvicorn; python_version >= '3.8'"],
            &[("Fast_IO", &["uvloop"]), ("other", &["nope"])],
        );
        let given = args(&["--find-links", "wheels", "./app[fast-io]", "-r", "req.txt"]);
        let alone = dependencies_alone(&given, &[(&project(2, "[fast-io]"), Some(&app))]);
        assert_eq!(
            alone,
            Some(args(&[
                "--find-links",
                "wheels",
                "fastapi>=0.100",
                "uvicorn; python_version >= '3.8'",
                "uvloop",
                "-r",
                "req.txt"
            ]))
        );
    }

    #[test]
    fn requirements_resolved_differently_alone_rule_the_overlap_out() {
        let given = args(&["."]);
        let alone = |deps: &[&str]| {
            let app = declared("my_app", deps, &[]);
            dependencies_alone(&given, &[(&project(0, ""), Some(&app))])
        };
        assert!(alone(&["requests"]).is_some());
        assert!(alone(&["requests; python_version < '3.13'"]).is_some());
        assert!(alone(&[]).is_none(), "nothing to install early");
        assert!(
            alone(&["My.App[extra]"]).is_none(),
            "names the project itself"
        );
        assert!(alone(&["lib @ file:../lib"]).is_none());
        assert!(alone(&["lib>=2.0rc1"]).is_none());
        assert!(alone(&["lib==1.0.dev3"]).is_none());
        assert!(alone(&["lib>=2.0-beta.2"]).is_none());
        assert!(alone(&["lib>=2.0,!=2.1.post1"]).is_some());
        assert!(
            alone(&["lib[s3c]>=2.0"]).is_some(),
            "an extra is not a version"
        );
        assert!(dependencies_alone(&given, &[(&project(0, ""), None)]).is_none());
        let dynamic_extras = Declared {
            optional: None,
            ..declared("app", &["requests"], &[])
        };
        assert!(dependencies_alone(
            &args(&[".[x]"]),
            &[(&project(0, "[x]"), Some(&dynamic_extras))]
        )
        .is_none());
    }

    #[test]
    fn one_local_project_may_not_be_another_ones_dependency() {
        let given = args(&["./app", "./lib"]);
        let app = declared("app", &["lib>=1"], &[]);
        let lib = declared("lib", &["requests"], &[]);
        assert!(dependencies_alone(
            &given,
            &[(&project(0, ""), Some(&app)), (&project(1, ""), Some(&lib))]
        )
        .is_none());
    }
}
