//! `[tool.rshiv]` in a project's `pyproject.toml`: the build options a project keeps with
//! its code, so that `rshiv` alone in the project directory builds it.
//!
//! ```toml
//! [tool.rshiv]
//! console-script = "simple_api"
//! output-file = "dist/api.pyz"
//! python = "/usr/bin/python3.11"
//! installer = "uv"
//! installer-args = ["--index-url", "https://pypi.example.internal/simple"]
//! requirements = [".", "-r", "requirements.txt"]
//! ```
//!
//! Keys are the long options' names (PEP 518 reserves `[tool.<name>]` for a tool's own
//! settings): the table is deserialized (serde) into the very [`BuildArgs`] that clap fills
//! from the command line, so an option is declared once, in `cli`. The command line wins
//! over the file: a value given there replaces the file's, and a flag given there is on
//! whatever the file says. An unknown key is an error, so that a typo never silently builds
//! something else. Paths in the file are relative to
//! the project directory; `root` is not a path here but the baked runtime root (`$VAR`
//! allowed), so it is kept as written, and so are `installer-args` and `requirements`,
//! which the installer reads from the directory rshiv runs in.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

use crate::cli::BuildArgs;

/// `pyproject.toml` as far as rshiv reads it: the `[tool.rshiv]` table.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    tool: Tools,
}

#[derive(Deserialize, Default)]
struct Tools {
    rshiv: Option<BuildArgs>,
}

/// Read `[tool.rshiv]` from `<dir>/pyproject.toml`, paths resolved against `dir`. No file,
/// or no such table: `None`. Errors name the file, and the key when there is one.
pub fn load(dir: &Path) -> anyhow::Result<Option<BuildArgs>> {
    let source = dir.join("pyproject.toml");
    let text = match std::fs::read_to_string(&source) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("cannot read {}", source.display())))
        }
    };
    let document: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        anyhow!(
            "cannot parse {}{}: {}",
            source.display(),
            at_line(&text, &err),
            err.message().trim()
        )
    })?;
    let Some(table) = document.get("tool").and_then(|tool| tool.get("rshiv")) else {
        return Ok(None);
    };
    let Some(table) = table.as_table() else {
        bail!("tool.rshiv in {} must be a table", source.display());
    };
    let at = |key: &str| format!("`{key}` in [tool.rshiv] of {}", source.display());
    let known = keys();
    if let Some(unknown) = table.keys().find(|key| !known.contains(&key.as_str())) {
        let command_line_only = <crate::cli::Cli as clap::CommandFactory>::command()
            .get_arguments()
            .any(|arg| arg.get_long() == Some(unknown.as_str()));
        let hint = if command_line_only {
            format!("; --{unknown} is given on the command line only")
        } else {
            suggestion(unknown, known)
                .map(|known| format!("; did you mean `{known}`?"))
                .unwrap_or_default()
        };
        bail!("unknown key {}{hint}", at(unknown));
    }
    let document: Document = toml::from_str(&text).map_err(|err| {
        let place = match key_at(&text, &err) {
            Some(key) => at(key),
            None => format!("[tool.rshiv] of {}", source.display()),
        };
        anyhow!("{place}{}: {}", at_line(&text, &err), err.message().trim())
    })?;
    let mut args = document.tool.rshiv.context("tool.rshiv went missing")?;
    resolve_paths(&mut args, dir);
    Ok(Some(args))
}

/// Paths in the file are relative to the project directory; `build-python` only when it
/// is a path rather than a name to look up on PATH (`python3.12`).
fn resolve_paths(args: &mut BuildArgs, dir: &Path) {
    let resolve = |path: &mut PathBuf| *path = dir.join(&*path);
    args.output_file.as_mut().map(resolve);
    args.preamble.as_mut().map(resolve);
    args.python_dist.as_mut().map(resolve);
    args.site_packages.iter_mut().for_each(resolve);
    if let Some(python) = &mut args.build_python {
        if python.components().count() > 1 {
            resolve(python);
        }
    }
}

/// ` at line N` for an error with a position.
fn at_line(text: &str, err: &toml::de::Error) -> String {
    err.span()
        .map(|span| format!(" at line {}", text[..span.start].lines().count().max(1)))
        .unwrap_or_default()
}

/// The key whose value an error points at: on the error's line or, for a value spread
/// over lines (a list), the nearest line above that sets a known key.
fn key_at<'t>(text: &'t str, err: &toml::de::Error) -> Option<&'t str> {
    let start = err.span()?.start;
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let known = keys();
    text[..line_end].lines().rev().find_map(|line| {
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        known.contains(&key).then_some(key)
    })
}

/// The keys `[tool.rshiv]` accepts, as serde's derive of [`BuildArgs`] declares them:
/// asked of the derive itself, so that no second list can drift from it.
fn keys() -> &'static [&'static str] {
    struct Fields;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl std::fmt::Display for Found {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Found {}
    impl serde::de::Error for Found {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Found(&[])
        }
    }
    impl<'de> serde::Deserializer<'de> for Fields {
        type Error = Found;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match BuildArgs::deserialize(Fields) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Fill what the command line left open from the project's configuration: a value given on
/// the command line replaces the file's, a flag given there is on whatever the file says,
/// lists (`site-packages`, `installer-args`) come from both, the file's first.
pub fn apply(args: &mut BuildArgs, config: BuildArgs) {
    // Taken apart without `..`: a new option does not compile until it is merged here.
    let BuildArgs {
        entry_point,
        console_script,
        output_file,
        python,
        site_packages,
        compression,
        compile_pyc,
        extend_pythonpath,
        reproducible,
        no_modify,
        preamble,
        root,
        installer,
        build_python,
        python_dist,
        python_version,
        platform,
        skip_unsatisfiable,
        no_reuse_build_env,
        lock,
        no_lock,
        extra,
        group,
        isolated,
        prune_old_builds,
        installer_args,
        requirements,
        // The command line's alone (#[serde(skip)]).
        compressed: _,
        uncompressed: _,
        build_id: _,
        jobs: _,
        verbose: _,
        quiet: _,
    } = config;
    if args.entry_point.is_none() && args.console_script.is_none() {
        args.entry_point = entry_point;
        args.console_script = console_script;
    }
    fill(&mut args.output_file, output_file);
    fill(&mut args.python, python);
    fill(&mut args.installer, installer);
    fill(&mut args.build_python, build_python);
    fill(&mut args.python_dist, python_dist);
    // The targets are one choice: the command line's versions (or platforms) replace the
    // file's, so that `--python-version 3.12` builds for 3.12 alone.
    replace_if_empty(&mut args.python_version, python_version);
    replace_if_empty(&mut args.platform, platform);
    args.skip_unsatisfiable |= skip_unsatisfiable;
    fill(&mut args.preamble, preamble);
    fill(&mut args.root, root);
    if !args.no_lock {
        fill(&mut args.lock, lock);
    }
    args.no_lock |= no_lock && args.lock.is_none();
    union(&mut args.extra, extra);
    union(&mut args.group, group);
    if !args.compressed && !args.uncompressed {
        fill(&mut args.compression, compression);
    }
    args.compile_pyc |= compile_pyc;
    args.extend_pythonpath |= extend_pythonpath;
    args.reproducible |= reproducible;
    args.no_modify |= no_modify;
    args.isolated |= isolated;
    args.prune_old_builds |= prune_old_builds;
    args.no_reuse_build_env |= no_reuse_build_env;
    union(&mut args.site_packages, site_packages);
    let given = std::mem::take(&mut args.installer_args);
    let requirements = if crate::install::names_requirements(&given) {
        Vec::new()
    } else {
        requirements
    };
    args.installer_args = installer_args
        .into_iter()
        .chain(given)
        .chain(requirements)
        .collect();
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// A list option that the command line replaces as a whole when it gives any value.
fn replace_if_empty<T>(given: &mut Vec<T>, from_file: Vec<T>) {
    if given.is_empty() {
        *given = from_file;
    }
}

/// A list option given in both places: the file's values first, then the command line's,
/// each once.
fn union<T: PartialEq>(given: &mut Vec<T>, from_file: Vec<T>) {
    let mut merged = from_file;
    merged.retain(|value| !given.contains(value));
    merged.append(given);
    *given = merged;
}

/// The known key a mistyped one most likely meant: `entry_point`, `entrypoint`,
/// `entry-pont` -> `entry-point`.
fn suggestion(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let wanted = key.to_ascii_lowercase().replace('_', "-");
    known
        .iter()
        .map(|known| (edit_distance(&wanted, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance, for the suggestion only.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::cli::InstallerChoice;

    fn load_text(text: &str) -> anyhow::Result<Option<BuildArgs>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        load(dir.path()).map(|c| {
            c.map(|mut c| {
                c.output_file = c
                    .output_file
                    .map(|p| p.strip_prefix(dir.path()).unwrap().into());
                c
            })
        })
    }

    fn error(text: &str) -> String {
        load_text(text).unwrap_err().to_string()
    }

    #[test]
    fn every_key_is_read() {
        let config = load_text(
            "[project]\nname = \"simple_api\"\n\n[tool.rshiv]\nconsole-script = \"simple_api\"\n\
             output-file = \"dist/api.pyz\"\npython = \"/usr/bin/python3.11\"\ninstaller = \"uv\"\n\
             compile-pyc = true\nisolated = true\nroot = \"$STATE_DIRECTORY\"\n\
             installer-args = [\"--no-index\"]\nrequirements = [\".\"]\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.console_script.as_deref(), Some("simple_api"));
        assert_eq!(config.output_file, Some(PathBuf::from("dist/api.pyz")));
        assert_eq!(config.python.as_deref(), Some("/usr/bin/python3.11"));
        assert_eq!(config.installer, Some(InstallerChoice::Uv));
        assert!(config.compile_pyc && config.isolated && !config.no_modify);
        assert_eq!(config.root.as_deref(), Some("$STATE_DIRECTORY"));
        assert_eq!(config.installer_args, ["--no-index"]);
        assert_eq!(config.requirements, ["."]);
        let keys = keys();
        for key in [
            "entry-point",
            "site-packages",
            "installer-args",
            "requirements",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        for command_line_only in ["jobs", "verbose", "quiet", "build-id", "compressed"] {
            assert!(!keys.contains(&command_line_only), "{command_line_only}");
        }
    }

    /// The README's list of keys is the derive's.
    #[test]
    fn the_readme_lists_every_key() {
        let readme = include_str!("../README.md");
        let list = readme
            .split_once("\nKeys: ")
            .and_then(|(_, rest)| rest.split_once(". "))
            .map(|(list, _)| list)
            .expect("the README has a `Keys: ...` paragraph");
        let mut listed: Vec<&str> = list
            .split(',')
            .map(|key| key.trim().trim_matches('`'))
            .collect();
        let mut known = keys().to_vec();
        listed.sort_unstable();
        known.sort_unstable();
        assert_eq!(listed, known);
    }

    #[test]
    fn no_file_or_no_table_is_no_configuration() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        assert_eq!(load_text("[project]\nname = \"x\"\n").unwrap(), None);
        assert_eq!(load_text("[tool.black]\nline-length = 99\n").unwrap(), None);
    }

    #[test]
    fn unknown_keys_are_errors_naming_key_and_file() {
        let err = error("[tool.rshiv]\nentry_point = \"app:main\"\n");
        assert!(
            err.starts_with("unknown key `entry_point` in [tool.rshiv] of "),
            "{err}"
        );
        assert!(err.contains("pyproject.toml"), "{err}");
        assert!(err.ends_with("did you mean `entry-point`?"), "{err}");
        let err = error("[tool.rshiv]\njobs = 2\n");
        assert!(
            err.ends_with("; --jobs is given on the command line only"),
            "{err}"
        );
        let err = error("[tool.rshiv]\nfavourite-colour = \"blue\"\n");
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn wrong_types_and_values_are_named() {
        let err = error("[tool.rshiv]\npython = 3\n");
        assert!(err.starts_with("`python` in [tool.rshiv] of "), "{err}");
        assert!(
            err.ends_with("pyproject.toml at line 2: invalid type: integer `3`, expected a string"),
            "{err}"
        );
        let err = error("[tool.rshiv]\ninstaller = \"conda\"\n");
        assert!(err.starts_with("`installer` in [tool.rshiv] of "), "{err}");
        assert!(
            err.ends_with("unknown variant `conda`, expected one of `auto`, `uv`, `pip`"),
            "{err}"
        );
        let err = error("[tool.rshiv]\nsite-packages = [\n  \"a\",\n  2,\n]\n");
        assert!(err.starts_with("`site-packages` in "), "{err}");
        assert!(
            err.contains(" at line 4: invalid type: integer `2`"),
            "{err}"
        );
        let err = error("[tool.rshiv]\ncompile-pyc = true\nsite-packages = \"vendor\"\n");
        assert!(err.starts_with("`site-packages` in "), "{err}");
        assert!(err.contains(" at line 3: invalid type: string"), "{err}");
        let err = error("[tool.rshiv]\npython = \n");
        assert!(err.contains("pyproject.toml at line 2: "), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[tool.rshiv]\npreamble = \"boot.py\"\nsite-packages = [\"vendor\"]\n\
                    build-python = \".venv/bin/python\"\npython-dist = \"dist/cpython.tar.gz\"\n";
        std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        let config = load(dir.path()).unwrap().unwrap();
        assert_eq!(config.preamble, Some(dir.path().join("boot.py")));
        assert_eq!(
            config.python_dist,
            Some(dir.path().join("dist/cpython.tar.gz"))
        );
        assert_eq!(config.site_packages, [dir.path().join("vendor")]);
        assert_eq!(
            config.build_python,
            Some(dir.path().join(".venv/bin/python"))
        );
        let text = "[tool.rshiv]\nbuild-python = \"python3.12\"\n";
        std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        let config = load(dir.path()).unwrap().unwrap();
        assert_eq!(config.build_python, Some(PathBuf::from("python3.12")));
    }

    #[test]
    fn the_command_line_wins() {
        let config = BuildArgs {
            console_script: Some("from_config".into()),
            output_file: Some("config.pyz".into()),
            python: Some("/usr/bin/python3".into()),
            compression: Some("stored".into()),
            compile_pyc: true,
            site_packages: vec!["a".into(), "b".into()],
            installer_args: vec!["--no-index".into()],
            requirements: vec![".".into()],
            ..BuildArgs::default()
        };
        let mut args = BuildArgs {
            entry_point: Some("cli:main".into()),
            output_file: Some("cli.pyz".into()),
            uncompressed: false,
            compressed: true,
            site_packages: vec!["b".into(), "c".into()],
            installer_args: vec!["requests".into()],
            ..BuildArgs::default()
        };
        apply(&mut args, config.clone());
        assert_eq!(args.entry_point.as_deref(), Some("cli:main"));
        assert_eq!(args.console_script, None);
        assert_eq!(args.output_file, Some(PathBuf::from("cli.pyz")));
        assert_eq!(args.python.as_deref(), Some("/usr/bin/python3"));
        assert_eq!(args.compression, None);
        assert!(args.compile_pyc);
        assert_eq!(args.site_packages, ["a", "b", "c"].map(PathBuf::from));
        assert_eq!(
            args.installer_args,
            ["--no-index", "requests"].map(OsString::from)
        );

        let mut args = BuildArgs::default();
        apply(&mut args, config);
        assert_eq!(args.console_script.as_deref(), Some("from_config"));
        assert_eq!(args.compression.as_deref(), Some("stored"));
        assert_eq!(args.installer_args, ["--no-index", "."].map(OsString::from));

        let config = BuildArgs {
            requirements: vec![".".into()],
            ..BuildArgs::default()
        };
        let mut args = BuildArgs {
            installer_args: ["--find-links", "wheels"].map(OsString::from).to_vec(),
            ..BuildArgs::default()
        };
        apply(&mut args, config);
        assert_eq!(
            args.installer_args,
            ["--find-links", "wheels", "."].map(OsString::from)
        );
    }
}
