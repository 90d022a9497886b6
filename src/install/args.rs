//! The installer's arguments, read once into options (with their values) and operands
//! (requirements, paths, URLs), by the one table of [`super::flags`].
//!
//! The words are kept as the user wrote them: what reaches the installer is what was given,
//! less the target options (which [`super::target::Target`] renders) and with local
//! projects replaced by their wheels.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::flags::{self, Flag, Role, UvSpelling};

/// One argument: an option with its value, or an operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Option {
        /// The option, when rshiv knows it.
        flag: Option<&'static Flag>,
        /// The words as written: `--opt=value`, `-ovalue`, or `--opt` `value`.
        words: Vec<OsString>,
        /// Its value, wherever it was written.
        value: Option<OsString>,
    },
    /// A requirement, a path or a URL.
    Operand(OsString),
}

impl Arg {
    fn flag(&self) -> Option<&'static Flag> {
        match self {
            Arg::Option { flag, .. } => *flag,
            Arg::Operand(_) => None,
        }
    }

    fn has_role(&self, role: Role) -> bool {
        self.flag().is_some_and(|flag| flag.role == role)
    }

    fn words(&self) -> &[OsString] {
        match self {
            Arg::Option { words, .. } => words,
            Arg::Operand(word) => std::slice::from_ref(word),
        }
    }
}

/// The installer's arguments, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallerArgs(pub Vec<Arg>);

impl InstallerArgs {
    /// Read `words`: `--opt=value`, `--opt value`, `-ovalue`, `-o value` for the options of
    /// [`flags::FLAGS`] that take a value; every other word starting with `-` is an option
    /// alone, and the rest are operands.
    pub fn parse(words: impl IntoIterator<Item = OsString>) -> InstallerArgs {
        let mut args = Vec::new();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            let Some(text) = word.to_str().filter(|t| t.starts_with('-') && t.len() > 1) else {
                args.push(Arg::Operand(word));
                continue;
            };
            let (name, inline) = split_option(text);
            let flag = flags::lookup(name);
            let mut value = None;
            let mut written = vec![word.clone()];
            if flag.is_some_and(|flag| flag.takes_value) {
                value = match inline {
                    Some(inline) => Some(OsString::from(inline)),
                    None => words.next().inspect(|next| written.push(next.clone())),
                };
            }
            args.push(Arg::Option {
                flag,
                words: written,
                value,
            });
        }
        InstallerArgs(args)
    }

    /// Operands only, one per requirement: a build environment's `requires`.
    pub fn requirements<S: AsRef<OsStr>>(requirements: &[S]) -> InstallerArgs {
        InstallerArgs(
            requirements
                .iter()
                .map(|r| Arg::Operand(r.as_ref().to_os_string()))
                .collect(),
        )
    }

    /// The words as written, in order.
    pub fn words(&self) -> Vec<OsString> {
        self.0.iter().flat_map(|arg| arg.words()).cloned().collect()
    }

    /// Whether nothing at all was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Fail on an option that would defeat the build.
    pub fn check_refused(&self) -> Result<()> {
        if let Some(arg) = self.0.iter().find(|arg| arg.has_role(Role::Refused)) {
            bail!(
                "installer option {} is not allowed: rshiv decides where packages are installed",
                arg.words()[0].to_string_lossy()
            );
        }
        Ok(())
    }

    /// Whether the arguments name something to install: an operand or `-r FILE`; options
    /// alone (`--no-index --find-links wheels`) name nothing.
    pub fn names_requirements(&self) -> bool {
        self.0
            .iter()
            .any(|arg| matches!(arg, Arg::Operand(_)) || arg.has_role(Role::Requirements))
    }

    /// The options that say where packages come from, in order.
    pub fn index_options(&self) -> InstallerArgs {
        self.only(|arg| arg.has_role(Role::Index))
    }

    /// Whether the arguments ask the installer for a build of its own kind.
    pub fn configures_builds(&self) -> bool {
        self.0.iter().any(|arg| arg.has_role(Role::Build))
    }

    /// Whether the arguments choose between binaries and source themselves.
    pub fn chooses_binaries(&self) -> bool {
        self.0.iter().any(|arg| arg.has_role(Role::Binaries))
    }

    /// Whether the arguments rule out installing dependencies ahead of their project.
    pub fn splits_unsafely(&self) -> bool {
        self.0
            .iter()
            .any(|arg| arg.flag().is_some_and(|flag| flag.splits_unsafely))
    }

    /// The arguments that `keep` keeps, in order.
    pub fn only(&self, keep: impl Fn(&Arg) -> bool) -> InstallerArgs {
        InstallerArgs(self.0.iter().filter(|arg| keep(arg)).cloned().collect())
    }

    /// Take out the target options (for [`super::target::Target`]) with their values,
    /// leaving the rest in order.
    pub fn take_targets(&mut self) -> Vec<(&'static Flag, OsString)> {
        let is_target = |arg: &Arg| {
            arg.flag()
                .is_some_and(|f| matches!(f.role, Role::Target(_)))
        };
        let (taken, kept): (Vec<_>, Vec<_>) = self.0.drain(..).partition(is_target);
        self.0 = kept;
        taken
            .into_iter()
            .filter_map(|arg| match arg {
                Arg::Option {
                    flag: Some(flag),
                    value,
                    ..
                } => Some((flag, value.unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    /// The arguments as `uv pip install` spells them.
    pub fn for_uv(&self) -> Vec<OsString> {
        let mut out = Vec::with_capacity(self.0.len());
        for arg in &self.0 {
            match (arg.flag().map(|flag| flag.uv), arg) {
                (Some(UvSpelling::Word(word)), _) => out.push(word.into()),
                (Some(UvSpelling::Renamed(name)), Arg::Option { value, .. }) => {
                    let mut renamed = OsString::from(format!("{name}="));
                    renamed.push(value.as_deref().unwrap_or_default());
                    out.push(renamed);
                }
                _ => out.extend(arg.words().iter().cloned()),
            }
        }
        out
    }

    /// The operands that name a project directory, by pip's rule: a word that looks like a
    /// path (it has a `/` or starts with `.`) and is a directory with a `pyproject.toml` or
    /// a `setup.py`.
    pub fn local_projects(&self) -> Vec<LocalProject> {
        let mut found = Vec::new();
        for (index, arg) in self.0.iter().enumerate() {
            let Arg::Operand(word) = arg else { continue };
            let text = word.to_string_lossy();
            let (path, extras) = match text.find('[') {
                Some(open) if text.ends_with(']') => (&text[..open], &text[open..]),
                _ => (text.as_ref(), ""),
            };
            let dir = Path::new(path);
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
        }
        found
    }

    /// Replace the argument at `index` by `with`.
    pub fn replace(&mut self, index: usize, with: impl IntoIterator<Item = Arg>) {
        self.0.splice(index..=index, with);
    }
}

/// `--name=value` -> (`--name`, `value`); `-ovalue` -> (`-o`, `value`); `--name`, `-o`
/// alone -> no value.
fn split_option(text: &str) -> (&str, Option<&str>) {
    if text.starts_with("--") {
        return match text.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
    }
    let cut = text.char_indices().nth(2).map_or(text.len(), |(at, _)| at);
    let (name, rest) = text.split_at(cut);
    (name, (!rest.is_empty()).then_some(rest))
}

/// A local project among the arguments: `.`, `./service[extra]`, `/src/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProject {
    /// Its position in [`InstallerArgs`].
    pub index: usize,
    pub dir: PathBuf,
    /// `[extra,...]` as written, or empty.
    pub extras: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> InstallerArgs {
        InstallerArgs::parse(words.iter().map(OsString::from))
    }

    fn strings(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn values_are_found_in_every_spelling() {
        let args = parse(&[
            "-rreq.txt",
            "--requirement=r2",
            "-r",
            "r3",
            "--index-url",
            "x",
        ]);
        let values: Vec<_> = args
            .0
            .iter()
            .map(|arg| match arg {
                Arg::Option { value, .. } => value.clone().unwrap(),
                Arg::Operand(_) => panic!("{arg:?}"),
            })
            .collect();
        assert_eq!(values, strings(&["req.txt", "r2", "r3", "x"]));
        assert_eq!(
            args.words(),
            strings(&[
                "-rreq.txt",
                "--requirement=r2",
                "-r",
                "r3",
                "--index-url",
                "x"
            ])
        );
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
            "-e",
            "-e.",
        ] {
            assert!(parse(&["requests", bad]).check_refused().is_err(), "{bad}");
        }
        assert!(
            parse(&["-r", "req.txt", "--no-index", "--find-links=w", "."])
                .check_refused()
                .is_ok()
        );
    }

    #[test]
    fn options_alone_name_no_requirement() {
        let names = |words: &[&str]| parse(words).names_requirements();
        assert!(!names(&[]));
        assert!(!names(&[
            "--no-index",
            "--find-links",
            "wheels",
            "-i",
            "https://x/simple"
        ]));
        assert!(!names(&["--find-links=wheels", "--pre"]));
        assert!(!names(&["--build-constraint", "c.txt"]));
        assert!(names(&["--no-index", "."]));
        assert!(names(&["-r", "requirements.txt"]));
        assert!(names(&["-rrequirements.txt"]));
        assert!(names(&["--requirement=requirements.txt"]));
        assert!(names(&["--find-links", "wheels", "requests==2.32.3"]));
    }

    #[test]
    fn index_options_are_picked_out_of_everything_else() {
        let picked = parse(&[
            "-r",
            "req.txt",
            "--no-index",
            "--find-links",
            "wheels",
            "--index-url=https://x/simple",
            "-c",
            "constraints.txt",
            "--pre",
            "-fother",
            ".",
        ])
        .index_options();
        assert_eq!(
            picked.words(),
            strings(&[
                "--no-index",
                "--find-links",
                "wheels",
                "--index-url=https://x/simple",
                "--pre",
                "-fother",
            ])
        );
    }

    #[test]
    fn build_options_are_noticed() {
        assert!(parse(&[".", "-C", "k=v"]).configures_builds());
        assert!(parse(&[".", "-Ck=v"]).configures_builds());
        assert!(parse(&["--no-build-isolation", "."]).configures_builds());
        assert!(parse(&["--config-settings=k=v", "."]).configures_builds());
        assert!(!parse(&["-c", "constraints.txt", "."]).configures_builds());
    }

    #[test]
    fn hazards_and_binaries_are_noticed() {
        assert!(parse(&[".", "--resolution=lowest-direct"]).splits_unsafely());
        assert!(parse(&["-n", "."]).splits_unsafely());
        assert!(!parse(&["--no-index", "."]).splits_unsafely());
        assert!(parse(&["--no-deps"]).chooses_binaries());
    }

    #[test]
    fn uv_spellings() {
        let args = parse(&["--pre", "--no-cache-dir", "--trusted-host", "h", "numpy"]);
        assert_eq!(
            args.for_uv(),
            strings(&[
                "--prerelease=allow",
                "--no-cache",
                "--allow-insecure-host=h",
                "numpy"
            ])
        );
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
        let found = parse(&[
            "--find-links",
            &svc,
            "-r",
            &svc,
            "requests",
            &plain,
            &with_extra,
        ])
        .local_projects();
        assert_eq!(
            found,
            [LocalProject {
                index: 4,
                dir: project.clone(),
                extras: "[extra]".into()
            }]
        );
    }
}
