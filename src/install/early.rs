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
//! [`InstallerArgs::splits_unsafely`].

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep508_rs::{ExtraName, PackageName, Requirement, VersionOrUrl};

use super::args::{Arg, InstallerArgs, LocalProject};
use super::process::{describe_status, run_captured, spawn_captured, Background};
use super::pyproject::Declared;
use super::{Bytecode, Installer, Job, Target};
use crate::diagnostics;
use crate::progress::{Progress, Step};

/// The installer running on the dependencies alone.
pub struct Early {
    running: Background,
    /// What it runs, for the messages.
    program: String,
    /// The installer's flag for resolving from its cache alone.
    offline: &'static str,
}

impl Early {
    /// Start the installer on `args` with the dependencies of `projects` (each with what
    /// its `pyproject.toml` declares) in their place, for `target` into `dest`; `None` when
    /// the overlap does not apply.
    pub fn start(
        installer: &Installer,
        dest: &Path,
        args: &InstallerArgs,
        target: &Target,
        projects: &[(&LocalProject, Option<&Declared>)],
    ) -> Result<Option<Early>> {
        let Some(offline) = installer.frontend.offline_flag() else {
            return Ok(None);
        };
        if args.splits_unsafely() {
            return Ok(None);
        }
        let Some(early_args) = dependencies_alone(args, projects) else {
            return Ok(None);
        };
        let command = installer.frontend.command(&Job {
            dest,
            args: &early_args,
            target,
            bytecode: Bytecode::Skip,
        })?;
        let program = command.get_program().to_string_lossy().into_owned();
        let running =
            spawn_captured(command).with_context(|| format!("could not run {program}"))?;
        Ok(Some(Early {
            running,
            program,
            offline,
        }))
    }

    /// Wait for the early install, then install `args` for `target` (the wheels in place
    /// of the projects) offline. `false` when either step failed: `dest` is emptied again
    /// and the caller installs `args` as it would have without the overlap.
    pub fn finish(
        self,
        installer: &Installer,
        dest: &Path,
        args: &InstallerArgs,
        target: &Target,
        verbose: bool,
        progress: &dyn Progress,
    ) -> Result<bool> {
        progress.start(Step::Installing, None);
        let done = self.complete(installer, dest, args, target, verbose);
        progress.finish();
        let Err(err) = done else {
            return Ok(true);
        };
        if verbose {
            diagnostics::note(&format!(
                "installing the dependencies first did not work out ({err:#}); \
                 installing everything at once"
            ));
        }
        fs_err::remove_dir_all(dest)?;
        fs_err::create_dir(dest)?;
        Ok(false)
    }

    /// Both steps, their output shown with `verbose`.
    fn complete(
        self,
        installer: &Installer,
        dest: &Path,
        args: &InstallerArgs,
        target: &Target,
        verbose: bool,
    ) -> Result<()> {
        let show = |output: &str| {
            if verbose {
                diagnostics::relay(output);
            }
        };
        let program = self.program;
        let (status, output) = self
            .running
            .wait()
            .with_context(|| format!("could not wait for {program}"))?;
        show(&output);
        if !status.success() {
            bail!(
                "{program} on the dependencies alone failed ({})",
                describe_status(status)
            );
        }
        let mut offline = args.clone();
        offline.0.push(Arg::Option {
            flag: None,
            words: vec![self.offline.into()],
            value: None,
        });
        let command = installer.frontend.command(&Job {
            dest,
            args: &offline,
            target,
            bytecode: Bytecode::Skip,
        })?;
        let (status, output) =
            run_captured(command).with_context(|| format!("could not run {program}"))?;
        show(&output);
        if !status.success() {
            bail!(
                "{program} {} failed ({})",
                self.offline,
                describe_status(status)
            );
        }
        Ok(())
    }
}

/// `args` with each local project replaced by the requirements it declares (its
/// dependencies and those of the extras asked for); `None` when a project's are not
/// static, none are declared at all, or one would be resolved differently on its own: a
/// name among the local projects (not on any index), a direct URL (`name @ file:...`,
/// possibly relative to the project), or a pre-release specifier (uv lets pre-releases in
/// for direct requirements that ask for one). A requirement that is not valid PEP 508 is
/// left to the installer to report.
pub fn dependencies_alone(
    args: &InstallerArgs,
    projects: &[(&LocalProject, Option<&Declared>)],
) -> Option<InstallerArgs> {
    let mut local_names = BTreeSet::new();
    let mut replacements = Vec::new();
    for (project, declared) in projects {
        let declared = (*declared)?;
        local_names.insert(PackageName::from_str(&declared.name).ok()?);
        let mut requirements = declared.dependencies.clone();
        let extras = extras_of(&project.extras)?;
        if !extras.is_empty() {
            let optional = declared.optional.as_ref()?;
            for (extra, listed) in optional {
                if extras.contains(&ExtraName::from_str(extra).ok()?) {
                    requirements.extend(listed.iter().cloned());
                }
            }
        }
        replacements.push((project.index, requirements));
    }
    let all = || replacements.iter().flat_map(|(_, r)| r);
    // Nothing declared at all: nothing to install early.
    all().next()?;
    for written in all() {
        let requirement = Requirement::<pep508_rs::VerbatimUrl>::from_str(written).ok()?;
        let alone_differs = match &requirement.version_or_url {
            Some(VersionOrUrl::Url(_)) => true,
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers
                .iter()
                .any(|specifier| specifier.version().any_prerelease()),
            None => false,
        };
        if alone_differs || local_names.contains(&requirement.name) {
            return None;
        }
    }
    let mut out = args.clone();
    // From the last, so that the indexes of the earlier ones stay right.
    replacements.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    for (index, requirements) in replacements {
        let operands = requirements.into_iter().map(|r| Arg::Operand(r.into()));
        out.replace(index, operands);
    }
    Some(out)
}

/// `[a, B_c]` as normalized extra names (PEP 685); `None` when they are not valid.
fn extras_of(written: &str) -> Option<BTreeSet<ExtraName>> {
    let requirement = Requirement::<pep508_rs::VerbatimUrl>::from_str(&format!("p{written}"));
    Some(requirement.ok()?.extras.into_iter().collect())
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

    fn args(words: &[&str]) -> InstallerArgs {
        InstallerArgs::parse(words.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn projects_are_replaced_by_their_requirements_in_place() {
        let app = declared(
            "app",
            &["fastapi>=0.100", "uvicorn; python_version >= '3.8'"],
            &[("Fast_IO", &["uvloop"]), ("other", &["nope"])],
        );
        let given = args(&["--find-links", "wheels", "./app[fast-io]", "-r", "req.txt"]);
        let alone = dependencies_alone(&given, &[(&project(1, "[fast-io]"), Some(&app))]);
        assert_eq!(
            alone.map(|alone| alone.words()),
            Some(
                args(&[
                    "--find-links",
                    "wheels",
                    "fastapi>=0.100",
                    "uvicorn; python_version >= '3.8'",
                    "uvloop",
                    "-r",
                    "req.txt"
                ])
                .words()
            )
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
