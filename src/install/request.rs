//! The install request: what to install, from where, for which target, with which
//! installer; built once from the command line and `[tool.rshiv]`, and read by everything
//! that installs (the installers, the local-project builds, the build environments).
//!
//! A new source of requirements (a lock file) or several targets become fields here, read
//! where the installer's command is made, rather than new scans of the raw arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::args::{InstallerArgs, LocalProject};
use super::lock::{self, Lock};
use super::target::{self, Target};
use crate::cli::{BuildArgs, InstallerChoice};

/// Everything an install needs to know, validated.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub installer: InstallerChoice,
    /// `--build-python`: the interpreter pip runs under and uv installs for.
    pub build_python: Option<PathBuf>,
    /// Requirements, local projects and options, as given (less the target's).
    pub args: InstallerArgs,
    /// The local project directories among `args`, by pip's rule.
    pub local_projects: Vec<LocalProject>,
    /// What the payload is for: one install per target, in build order; never empty (one
    /// target, the build interpreter's own unless the user named another, by default).
    pub targets: Vec<Target>,
    /// Build local projects in rshiv's reused build environment (not `--no-reuse-build-env`).
    pub reuse_build_env: bool,
    /// Set when nothing was named and the current directory's project is built.
    pub implicit_project: Option<PathBuf>,
    /// The lock that pins the dependencies: `--lock FILE`, else the project's `uv.lock`
    /// unless `--no-lock`. With it, `args` name only the project, installed `--no-deps`.
    pub lock: Option<Lock>,
}

impl InstallRequest {
    /// The request `args` make; `cwd` is where a bare `rshiv` looks for a project.
    pub fn from_cli(args: &BuildArgs, cwd: &Path) -> Result<InstallRequest> {
        let mut installer_args = InstallerArgs::parse(args.installer_args.iter().cloned());
        installer_args.check_refused()?;
        let mut implicit_project = None;
        let here = cwd.join("pyproject.toml").is_file() || cwd.join("setup.py").is_file();
        // `--lock pylock.toml` alone, outside a project, installs what the lock pins.
        let lock_alone = args.lock.is_some() && !here;
        if !installer_args.names_requirements() && args.site_packages.is_empty() && !lock_alone {
            if !here {
                bail!(
                    "nothing to build: give requirements (e.g. `.` or `-r requirements.txt`), \
                     or --site-packages, or run in a project directory (no pyproject.toml or setup.py in {})",
                    cwd.display()
                );
            }
            installer_args = InstallerArgs::parse(
                args.installer_args
                    .iter()
                    .cloned()
                    .chain([OsString::from(".")]),
            );
            implicit_project = Some(cwd.to_path_buf());
        }
        let base = Target::take_from(&mut installer_args);
        let targets = target::product(base, &args.python_version, &args.platform)?;
        let lock = lock::choose(args, &mut installer_args)?;
        Ok(InstallRequest {
            installer: args.installer.unwrap_or(InstallerChoice::Auto),
            build_python: args.build_python.clone(),
            local_projects: installer_args.local_projects(),
            args: installer_args,
            targets,
            reuse_build_env: !args.no_reuse_build_env,
            implicit_project,
            lock,
        })
    }

    /// Whether the installer is to run: any installer argument was given, or a lock.
    pub fn installs_anything(&self) -> bool {
        !self.args.is_empty()
            || self.targets.iter().any(|target| !target.is_host())
            || self.lock.is_some()
    }
}

/// Whether raw installer arguments name something to install (for `[tool.rshiv]`'s
/// `requirements`, used only when the command line names none).
pub fn names_requirements(words: &[OsString]) -> bool {
    InstallerArgs::parse(words.iter().cloned()).names_requirements()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(words: &[&str], cwd: &Path) -> Result<InstallRequest> {
        let args = BuildArgs {
            installer_args: words.iter().map(OsString::from).collect(),
            ..BuildArgs::default()
        };
        InstallRequest::from_cli(&args, cwd)
    }

    #[test]
    fn a_bare_command_builds_the_project_here() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(&["--no-index"], dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("nothing to build"), "{err}");
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        let made = request(&["--no-index", "--platform", "win32"], dir.path()).unwrap();
        assert_eq!(made.args.words(), ["--no-index", "."].map(OsString::from));
        assert_eq!(
            made.targets,
            [Target {
                platforms: vec!["win32".into()],
                ..Target::default()
            }]
        );
        assert_eq!(made.implicit_project.as_deref(), Some(dir.path()));
    }

    #[test]
    fn refused_options_fail_the_request() {
        let err = request(&["requests", "--target=x"], Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("--target=x"), "{err}");
    }
}
