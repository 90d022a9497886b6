//! The command line, as clap definitions: the `///` comments are the `--help` text.
//!
//! shiv's interface is `shiv [OPTIONS] [PIP_ARGS]...` where every token shiv does not know
//! goes to pip. clap cannot pass unknown options through, so [`split_args`] first sorts the
//! raw arguments into rshiv's own and the installer's, using these very definitions.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Build a Python project and its dependencies into one executable zip app (PEP 441).
///
/// Arguments rshiv does not know go to the installer unchanged: requirements, `.`,
/// `-r FILE`, `--index-url`, `--find-links`, `--no-index`, `--abi`, ... Everything
/// after `--` goes to the installer too.
#[derive(Debug, Parser)]
// A repeated option takes its last value, as with shiv (click), so pipelines can append.
#[command(
    name = "rshiv",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    override_usage = "rshiv [OPTIONS] [INSTALLER_ARGS]...\n       rshiv <COMMAND>"
)]
#[command(after_help = format!(
    "Commands: rshiv info PYZ | rshiv cache list|clean|prune | rshiv completions SHELL | rshiv man\n\n{}",
    crate::error::EXIT_STATUS
))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub build: BuildArgs,
}

/// The subcommands; a bare `rshiv [OPTIONS] [PIP_ARGS]` builds.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what is inside a pyz built by rshiv or shiv.
    Info(InfoArgs),
    /// List and clean the extractions that pyz files leave in their cache root.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print rshiv's man page (roff).
    Man,
}

/// `rshiv info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The pyz file to read.
    pub pyz: PathBuf,
    /// Print one JSON object instead of the human view.
    #[arg(long)]
    pub json: bool,
    /// Write a CycloneDX (1.5, JSON) bill of materials of the payload to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
}

/// `rshiv cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List every extraction: app, build id, size, last used.
    List {
        #[command(flatten)]
        root: RootArg,
        /// Print a JSON array, one object per extraction.
        #[arg(long)]
        json: bool,
    },
    /// Remove every extraction that no running process uses.
    Clean {
        #[command(flatten)]
        root: RootArg,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove old extractions per app, keeping the ones in use.
    Prune {
        #[command(flatten)]
        root: RootArg,
        /// Remove extractions not used for this long (`30d`, `12h`, `90m`, `1w`).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Keep the N most recently used extractions of each app.
        #[arg(long, value_name = "N")]
        keep_latest: Option<usize>,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The cache root a `cache` subcommand works on.
#[derive(Debug, Args)]
pub struct RootArg {
    /// Cache root [default: $RSHIV_ROOT, $SHIV_ROOT, ${XDG_CACHE_HOME:-~/.cache}/rshiv]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// Which installer resolves and installs the requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallerChoice {
    /// uv when it is beside rshiv (one environment) or on PATH, else `python -m pip`.
    Auto,
    Uv,
    Pip,
}

/// The build options: shiv's, then rshiv's own. clap fills them from the command line and
/// serde from `[tool.rshiv]` (`config`), whose keys are the long options' names; the
/// per-invocation ones (`-j`, `-v`, `-q`, `--build-id`, `--[un]compressed`) are the
/// command line's alone.
#[derive(Debug, Clone, Args, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct BuildArgs {
    /// The entry point: `package.module:function`, or `package.module` to run as `-m`.
    #[arg(short = 'e', long, value_name = "MOD[:ATTR]")]
    pub entry_point: Option<String>,

    /// Run this console script of the payload (from its `entry_points.txt`, else `bin/NAME`).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub console_script: Option<String>,

    /// Where to write the pyz.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// The interpreter for the shebang line [default: /usr/bin/env python3].
    #[arg(short = 'p', long, value_name = "TEXT")]
    pub python: Option<String>,

    /// Add the contents of this site-packages directory to the payload (repeatable).
    #[arg(long, value_name = "DIR")]
    pub site_packages: Vec<PathBuf>,

    /// Compress the payload (deflate; the default).
    #[arg(long, overrides_with = "uncompressed")]
    #[serde(skip)]
    pub compressed: bool,

    /// Store the payload without compression.
    #[arg(long, overrides_with = "compressed")]
    #[serde(skip)]
    pub uncompressed: bool,

    /// How to compress: stored, deflate, deflate-1 ... deflate-12, bzip2, lzma [default: deflate-6].
    #[arg(long, value_name = "METHOD")]
    pub compression: Option<String>,

    /// Compile the payload to .pyc files on the first run.
    #[arg(long)]
    pub compile_pyc: bool,

    /// Add the payload to PYTHONPATH for subprocesses.
    #[arg(short = 'E', long)]
    pub extend_pythonpath: bool,

    /// Accepted for shiv compatibility: rshiv's builds are always deterministic.
    #[arg(long)]
    pub reproducible: bool,

    /// Refuse to run when an extracted .py file was changed or deleted.
    #[arg(long)]
    pub no_modify: bool,

    /// A script to run before the entry point (.py runs in-process, others as a command).
    #[arg(long, value_name = "FILE")]
    pub preamble: Option<PathBuf>,

    /// Default cache root baked into the pyz; `$VAR` means read VAR at run time.
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,

    /// Use this build id instead of the payload's hash.
    #[arg(long, value_name = "ID")]
    #[serde(skip)]
    pub build_id: Option<String>,

    /// Which installer to use.
    #[arg(long, value_enum, value_name = "NAME")]
    pub installer: Option<InstallerChoice>,

    /// The interpreter pip runs under and uv installs for [default: python3 on PATH].
    #[arg(long, value_name = "PATH")]
    pub build_python: Option<PathBuf>,

    /// Build for this Python version, `X.Y` [default: the build interpreter's]. Repeatable,
    /// as is --platform: one pyz for every version on every platform, each resolved on its
    /// own, files they share stored once; the pyz runs the one that fits.
    #[arg(long, value_name = "X.Y")]
    #[serde(rename = "python-versions")]
    pub python_version: Vec<String>,

    /// Build for this platform, a PEP 425 tag such as `manylinux2014_x86_64` [default: the
    /// build machine's]. Repeatable (see --python-version). Binary wheels only, for a target
    /// other than the build interpreter.
    #[arg(long, value_name = "TAG")]
    #[serde(rename = "platforms")]
    pub platform: Vec<String>,

    /// Drop a target (of several) that cannot be satisfied, with a warning, instead of failing.
    #[arg(long)]
    pub skip_unsatisfiable: bool,

    /// Write a native executable that needs no Python on the host: the launcher, this
    /// interpreter archive (a python-build-standalone `install_only` .tar.gz/.tar.zst, or any
    /// relocatable `python/bin/python3` tree) and the zip app, whose payload is resolved for
    /// the archive's Python version and platform.
    #[arg(long, value_name = "FILE")]
    pub python_dist: Option<PathBuf>,

    /// Let the installer build local projects in a fresh isolated environment each time,
    /// instead of in rshiv's reused, byte-compiled build environment.
    #[arg(long)]
    pub no_reuse_build_env: bool,

    /// Install what this lock pins: a PEP 751 `pylock.toml` or a `uv.lock` [default: the
    /// project's `uv.lock`, when there is one].
    #[arg(long, value_name = "FILE", conflicts_with = "no_lock")]
    pub lock: Option<PathBuf>,

    /// Resolve afresh, ignoring the project's `uv.lock`.
    #[arg(long)]
    pub no_lock: bool,

    /// With a lock: install this extra of the project too (repeatable).
    #[arg(long, value_name = "NAME")]
    pub extra: Vec<String>,

    /// With a lock: install this dependency group too (repeatable; `dev` is left out unless named).
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,

    /// Keep the user's and the system's site-packages off sys.path at run time.
    #[arg(long)]
    pub isolated: bool,

    /// On its first run, the pyz removes older unused extractions of the same app.
    #[arg(long)]
    pub prune_old_builds: bool,

    /// Worker threads for compression [default: one per core].
    #[arg(short = 'j', long, value_name = "N")]
    #[serde(skip)]
    pub jobs: Option<usize>,

    /// Show the installer's full output.
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    #[serde(skip)]
    pub verbose: bool,

    /// Print nothing but errors.
    #[arg(short = 'q', long)]
    #[serde(skip)]
    pub quiet: bool,

    /// Arguments for the installer (filled by `split_args`, never by clap itself). In
    /// `[tool.rshiv]`, they go before the command line's (index options, constraints).
    #[arg(hide = true)]
    #[serde(deserialize_with = "os_strings")]
    pub installer_args: Vec<OsString>,

    /// `[tool.rshiv]` only: what to install when the command line names nothing to install,
    /// only options (`[".", "-r", "req.txt"]`).
    #[arg(skip)]
    #[serde(deserialize_with = "os_strings")]
    pub requirements: Vec<OsString>,
}

/// A TOML list of strings as installer arguments.
fn os_strings<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<OsString>, D::Error> {
    let strings: Vec<String> = serde::Deserialize::deserialize(deserializer)?;
    Ok(strings.into_iter().map(OsString::from).collect())
}

/// Tokens that start a subcommand when they come first.
const SUBCOMMANDS: &[&str] = &["info", "cache", "completions", "man", "help"];

/// Sort raw arguments (without the program name) into those clap should parse and those
/// that go to the installer, the way shiv's click setup does: a token that names one of
/// rshiv's options is rshiv's (with its value), everything else is the installer's, and so
/// is everything after `--`. A cluster of short options (`-qo FILE`, `-qoFILE`, `-o=FILE`)
/// is read as clap reads it: flags up to the first option that takes a value, which takes
/// the rest of the cluster, or the next argument when the cluster ends there.
pub fn split_args(args: Vec<OsString>) -> (Vec<OsString>, Vec<OsString>) {
    if let Some(first) = args.first().and_then(|a| a.to_str()) {
        if SUBCOMMANDS.contains(&first) {
            return (args, Vec::new());
        }
    }
    let options = OurOptions::of(&Cli::command());
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else {
            theirs.push(arg);
            continue;
        };
        if text == "--" {
            theirs.extend(iter.by_ref());
            break;
        }
        match options.needs_next(text) {
            Some(needs_next) => {
                ours.push(arg);
                if needs_next {
                    ours.extend(iter.next());
                }
            }
            None => theirs.push(arg),
        }
    }
    (ours, theirs)
}

/// rshiv's own options, as clap defines them: short, long, and whether each takes a value.
struct OurOptions(Vec<(Option<char>, Option<String>, bool)>);

impl OurOptions {
    fn of(command: &clap::Command) -> OurOptions {
        let options = command
            .get_arguments()
            .filter(|arg| !arg.is_positional())
            .map(|arg| {
                let long = arg.get_long().map(str::to_string);
                (arg.get_short(), long, arg.get_action().takes_values())
            })
            .chain([
                (Some('h'), Some("help".to_string()), false),
                (Some('V'), Some("version".to_string()), false),
            ]);
        OurOptions(options.collect())
    }

    /// Whether `text` is rshiv's (`None`: the installer's), and if so whether its value is
    /// the next argument. A short cluster is rshiv's when its first letter is; clap then
    /// reports any letter in it that rshiv does not know.
    fn needs_next(&self, text: &str) -> Option<bool> {
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            let takes = self.long(name)?;
            return Some(takes && !inline);
        }
        let mut letters = text.strip_prefix('-')?.chars();
        let mut takes = self.short(letters.next()?)?;
        loop {
            if takes {
                return Some(letters.as_str().is_empty());
            }
            match letters.next() {
                None => return Some(false),
                Some(letter) => takes = self.short(letter).unwrap_or(false),
            }
        }
    }

    fn long(&self, name: &str) -> Option<bool> {
        let found = self
            .0
            .iter()
            .find(|(_, long, _)| long.as_deref() == Some(name));
        found.map(|&(_, _, takes)| takes)
    }

    fn short(&self, letter: char) -> Option<bool> {
        let found = self.0.iter().find(|(short, _, _)| *short == Some(letter));
        found.map(|&(_, _, takes)| takes)
    }
}

/// Parse the process's arguments: clap for rshiv's own, the rest for the installer.
pub fn parse() -> Cli {
    let mut raw = std::env::args_os();
    let program = raw.next().unwrap_or_else(|| "rshiv".into());
    let (ours, theirs) = split_args(raw.collect());
    let mut cli = Cli::parse_from(std::iter::once(program).chain(ours));
    cli.build.installer_args = theirs;
    cli
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let (a, b) = split_args(args.iter().map(OsString::from).collect());
        let s = |v: Vec<OsString>| v.into_iter().map(|s| s.into_string().unwrap()).collect();
        (s(a), s(b))
    }

    #[test]
    fn unknown_options_and_values_go_to_the_installer() {
        let (ours, theirs) = split(&[
            "--no-index",
            "--find-links",
            "wheels",
            "-c",
            "app",
            "-o",
            "app.pyz",
            "-r",
            "req.txt",
            ".",
            "--python=/x",
        ]);
        assert_eq!(ours, ["-c", "app", "-o", "app.pyz", "--python=/x"]);
        assert_eq!(
            theirs,
            ["--no-index", "--find-links", "wheels", "-r", "req.txt", "."]
        );
    }

    #[test]
    fn everything_after_double_dash_is_the_installers() {
        let (ours, theirs) = split(&["-o", "x.pyz", "--", "-c", "constraints.txt"]);
        assert_eq!(ours, ["-o", "x.pyz"]);
        assert_eq!(theirs, ["-c", "constraints.txt"]);
    }

    #[test]
    fn subcommands_are_left_to_clap() {
        let (ours, theirs) = split(&["cache", "list", "--root", "x"]);
        assert_eq!(ours, ["cache", "list", "--root", "x"]);
        assert!(theirs.is_empty());
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    /// Short options with their value attached (`-j1`, `-ofile`) are rshiv's, wherever they
    /// come, and clap takes them as such (a positional that allowed hyphen values once
    /// swallowed the whole command line when one came first).
    #[test]
    fn attached_short_values_are_ours() {
        let (ours, theirs) = split_args(
            ["-j1", "-q", "-oapp.pyz", "-csimple_api", "requests"]
                .iter()
                .map(OsString::from)
                .collect(),
        );
        assert_eq!(theirs, [OsString::from("requests")]);
        let cli = Cli::parse_from(std::iter::once(OsString::from("rshiv")).chain(ours));
        assert_eq!(cli.build.jobs, Some(1));
        assert!(cli.build.quiet);
        assert_eq!(cli.build.output_file, Some(PathBuf::from("app.pyz")));
        assert_eq!(cli.build.console_script.as_deref(), Some("simple_api"));
    }

    /// A short cluster is split where clap splits it: `-qo app.pyz` is quiet plus the
    /// output file, not a file name for the installer.
    #[test]
    fn short_clusters_are_read_as_clap_reads_them() {
        for (given, ours, theirs) in [
            (
                &["-qo", "app.pyz", "req"][..],
                &["-qo", "app.pyz"][..],
                &["req"][..],
            ),
            (&["-qqo", "x.pyz", "."], &["-qqo", "x.pyz"], &["."]),
            (&["-qoFILE", "."], &["-qoFILE"], &["."]),
            (&["-o=x.pyz", "."], &["-o=x.pyz"], &["."]),
            (&["-oFILE", "."], &["-oFILE"], &["."]),
            (&["-eMOD", "."], &["-eMOD"], &["."]),
            (&["-qv", "."], &["-qv"], &["."]),
            (&["-Eqo", "a.pyz", "."], &["-Eqo", "a.pyz"], &["."]),
            (&["-rreq.txt", "-U"], &[], &["-rreq.txt", "-U"]),
            (&["-", "x"], &[], &["-", "x"]),
        ] {
            let (got_ours, got_theirs) = split(given);
            assert_eq!(got_ours, ours, "{given:?}");
            assert_eq!(got_theirs, theirs, "{given:?}");
        }
        let (ours, _) = split(&["-qo", "app.pyz", "-Eecli:main"]);
        let cli = Cli::parse_from(["rshiv"].into_iter().chain(ours.iter().map(String::as_str)));
        assert!(cli.build.quiet && cli.build.extend_pythonpath);
        assert_eq!(cli.build.output_file, Some(PathBuf::from("app.pyz")));
        assert_eq!(cli.build.entry_point.as_deref(), Some("cli:main"));
        let (ours, _) = split(&["-o=x.pyz"]);
        let cli = Cli::parse_from(["rshiv"].into_iter().chain(ours.iter().map(String::as_str)));
        assert_eq!(cli.build.output_file, Some(PathBuf::from("x.pyz")));
    }
}
