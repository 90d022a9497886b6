//! From the raw command line to validated build settings (fd's Opts -> Config).
//!
//! Every check that needs only the arguments and the file system happens here, before
//! anything is installed, so that bad input fails in a second with one clear line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::archive::Compression;
use crate::cli::BuildArgs;
use crate::install::InstallRequest;

/// Longest shebang line accepted: Linux reads 128 bytes of it, newline included.
const MAX_SHEBANG: usize = 127;

/// What runs when the pyz starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `-e module:attr` or `-e module`.
    EntryPoint(String),
    /// `-c NAME`, resolved against the payload once it is installed.
    ConsoleScript(String),
    /// Neither: the pyz starts an interpreter with the payload on its path, as shiv's does.
    Interpreter,
}

/// A build, fully validated.
#[derive(Debug)]
pub struct Settings {
    pub output: PathBuf,
    /// The app's name: the output file's stem.
    pub name: String,
    /// The whole first line, `#!` included.
    pub shebang: String,
    pub entry: Entry,
    pub site_packages: Vec<PathBuf>,
    pub compression: Compression,
    pub compile_pyc: bool,
    pub extend_pythonpath: bool,
    pub no_modify: bool,
    pub preamble: Option<PathBuf>,
    pub root: Option<String>,
    /// `--python-dist`: the interpreter archive of a native executable (`native`).
    pub python_dist: Option<PathBuf>,
    pub build_id: Option<String>,
    /// What to install, and how.
    pub install: InstallRequest,
    pub isolated: bool,
    pub prune_old_builds: bool,
    /// `--skip-unsatisfiable`: a target that cannot be installed is dropped, not fatal.
    pub skip_unsatisfiable: bool,
    pub jobs: usize,
    pub verbose: bool,
    pub quiet: bool,
}

impl Settings {
    /// Validate `args`; `cwd` is where a bare `rshiv` looks for a project.
    pub fn from_args(mut args: BuildArgs, cwd: &Path) -> Result<Settings> {
        let output = args
            .output_file
            .clone()
            .context("missing -o/--output-file: say where to write the pyz")?;
        let name = app_name(&output)?;
        check_output_dir(&output)?;
        let shebang = shebang_line(args.python.as_deref().unwrap_or("/usr/bin/env python3"))?;
        let entry = match (args.entry_point.take(), args.console_script.take()) {
            (Some(_), Some(_)) => {
                bail!("-e/--entry-point and -c/--console-script exclude each other")
            }
            (Some(entry_point), None) => Entry::EntryPoint(check_entry_point(&entry_point)?),
            (None, Some(script)) => Entry::ConsoleScript(script),
            (None, None) => Entry::Interpreter,
        };
        for dir in &args.site_packages {
            if !dir.is_dir() {
                bail!("--site-packages {}: no such directory", dir.display());
            }
        }
        if let Some(preamble) = &args.preamble {
            if !preamble.is_file() {
                bail!("--preamble {}: no such file", preamble.display());
            }
        }
        if let Some(id) = &args.build_id {
            let safe = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !safe {
                bail!("--build-id {id:?}: use letters, digits, '.', '_' and '-' only (it names a directory)");
            }
        }
        let compression = match (&args.compression, args.uncompressed) {
            (Some(method), _) => Compression::parse(method)?,
            (None, true) => Compression::Stored,
            (None, false) => Compression::Deflate(6),
        };
        let install = InstallRequest::from_cli(&args, cwd)?;
        if install.targets.len() > 1 {
            if args.python_dist.is_some() {
                bail!("--python-dist bundles one interpreter: it cannot be combined with several targets (--python-version, --platform)");
            }
            if args.build_id.is_some() {
                bail!("--build-id names one extraction: it cannot be combined with several targets, which extract apart");
            }
        }
        let jobs = args.jobs.unwrap_or(0);
        Ok(Settings {
            output,
            name,
            shebang,
            entry,
            site_packages: args.site_packages,
            compression,
            compile_pyc: args.compile_pyc,
            extend_pythonpath: args.extend_pythonpath,
            no_modify: args.no_modify,
            preamble: args.preamble,
            root: args.root,
            python_dist: args.python_dist,
            build_id: args.build_id,
            install,
            isolated: args.isolated,
            prune_old_builds: args.prune_old_builds,
            skip_unsatisfiable: args.skip_unsatisfiable,
            jobs,
            verbose: args.verbose,
            quiet: args.quiet,
        })
    }
}

/// `api.pyz` -> `api`. It names the cache directory, so it must be a plain name.
fn app_name(output: &Path) -> Result<String> {
    let stem = output
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem.is_empty() || stem.starts_with('.') {
        bail!("-o {}: the output needs a file name", output.display());
    }
    Ok(stem.to_string())
}

fn check_output_dir(output: &Path) -> Result<()> {
    if output.is_dir() {
        bail!("-o {}: is a directory; give a file name", output.display());
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!("output directory {} does not exist", parent.display());
    }
    Ok(())
}

/// shiv's `-p`: the interpreter text, to which `#!` is prepended unless already there.
fn shebang_line(python: &str) -> Result<String> {
    let line = if python.starts_with("#!") {
        python.to_string()
    } else {
        format!("#!{python}")
    };
    if line.contains('\n') {
        bail!("-p/--python must be one line");
    }
    if line.len() > MAX_SHEBANG {
        bail!(
            "-p/--python: the shebang line is {} bytes; the kernel reads at most {MAX_SHEBANG}",
            line.len()
        );
    }
    Ok(line)
}

/// `module[.sub]:attr[.attr]` or `module[.sub]`: each part a Python identifier.
fn check_entry_point(value: &str) -> Result<String> {
    let dotted = |s: &str| !s.is_empty() && s.split('.').all(is_identifier);
    let ok = match value.split_once(':') {
        Some((module, attr)) => dotted(module) && dotted(attr),
        None => dotted(value),
    };
    if !ok {
        bail!("-e {value:?}: expected module:function or module (e.g. simple_api.__main__:main)");
    }
    Ok(value.to_string())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points() {
        for good in ["a", "a.b:c", "pkg.__main__:main", "m:obj.method", "_x:y_1"] {
            assert!(check_entry_point(good).is_ok(), "{good}");
        }
        for bad in [
            "", ":", "a:", ":b", "a:b:c", "1a:b", "a..b:c", "a b:c", "a-b:c",
        ] {
            assert!(check_entry_point(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_line("/usr/bin/env python3").unwrap(),
            "#!/usr/bin/env python3"
        );
        assert_eq!(shebang_line("#!/opt/py").unwrap(), "#!/opt/py");
        assert!(shebang_line(&"x".repeat(125)).is_ok());
        assert!(shebang_line(&"x".repeat(126)).is_err());
    }
}
