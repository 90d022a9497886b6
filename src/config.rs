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
//! settings). The command line wins over the file: a value given there replaces the
//! file's, and a flag given there is on whatever the file says. An unknown key is an error,
//! so that a typo never silently builds something else. Paths in the file are relative to
//! the project directory; `root` is not a path here but the baked runtime root (`$VAR`
//! allowed), so it is kept as written, and so are `installer-args` and `requirements`,
//! which the installer reads from the directory rshiv runs in.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use toml::Value;

use crate::cli::{BuildArgs, InstallerChoice};

/// The settings of `[tool.rshiv]`, paths already resolved against the project directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolConfig {
    /// The file they came from, for messages.
    pub source: PathBuf,
    pub entry_point: Option<String>,
    pub console_script: Option<String>,
    pub output_file: Option<PathBuf>,
    /// The shebang's interpreter (`-p`).
    pub python: Option<String>,
    pub installer: Option<InstallerChoice>,
    pub build_python: Option<PathBuf>,
    pub python_dist: Option<PathBuf>,
    pub compression: Option<String>,
    pub compile_pyc: bool,
    pub extend_pythonpath: bool,
    pub reproducible: bool,
    pub no_modify: bool,
    pub preamble: Option<PathBuf>,
    pub root: Option<String>,
    pub isolated: bool,
    pub prune_old_builds: bool,
    pub no_reuse_build_env: bool,
    pub site_packages: Vec<PathBuf>,
    /// Put before the command line's installer arguments (index options, constraints).
    pub installer_args: Vec<String>,
    /// What to install when the command line names nothing to install, only options
    /// (`[".", "-r", "req.txt"]`).
    pub requirements: Vec<String>,
}

/// Every key `[tool.rshiv]` accepts.
const KEYS: &[&str] = &[
    "entry-point",
    "console-script",
    "output-file",
    "python",
    "installer",
    "build-python",
    "python-dist",
    "compression",
    "compile-pyc",
    "extend-pythonpath",
    "reproducible",
    "no-modify",
    "preamble",
    "root",
    "isolated",
    "prune-old-builds",
    "no-reuse-build-env",
    "site-packages",
    "installer-args",
    "requirements",
];

/// Read `[tool.rshiv]` from `<dir>/pyproject.toml`. No file, or no such table: `None`.
pub fn load(dir: &Path) -> anyhow::Result<Option<ToolConfig>> {
    let source = dir.join("pyproject.toml");
    let text = match std::fs::read_to_string(&source) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("cannot read {}", source.display())))
        }
    };
    let document: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| format!(" at line {}", text[..span.start].lines().count().max(1)))
            .unwrap_or_default();
        anyhow::anyhow!(
            "cannot parse {}{line}: {}",
            source.display(),
            err.message().trim()
        )
    })?;
    let Some(table) = document.get("tool").and_then(|tool| tool.get("rshiv")) else {
        return Ok(None);
    };
    let Value::Table(table) = table else {
        anyhow::bail!("tool.rshiv in {} must be a table", source.display());
    };
    parse(table, dir, source.clone()).map(Some)
}

fn parse(table: &toml::Table, dir: &Path, source: PathBuf) -> anyhow::Result<ToolConfig> {
    let mut config = ToolConfig {
        source,
        ..ToolConfig::default()
    };
    let at = |key: &str| format!("`{key}` in [tool.rshiv] of {}", config.source.display());
    for (key, value) in table {
        let string = || as_string(value).ok_or_else(|| wrong_type(&at(key), "a string", value));
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| wrong_type(&at(key), "true or false", value))
        };
        let list =
            || as_list(value).ok_or_else(|| wrong_type(&at(key), "a list of strings", value));
        let path = |text: String| dir.join(text);
        match key.as_str() {
            "entry-point" => config.entry_point = Some(string()?),
            "console-script" => config.console_script = Some(string()?),
            "output-file" => config.output_file = Some(path(string()?)),
            "python" => config.python = Some(string()?),
            "installer" => {
                let name = string()?;
                let choice = InstallerChoice::from_str(&name, false).map_err(|_| {
                    anyhow::anyhow!("{} is \"{name}\"; expected auto, uv or pip", at(key))
                })?;
                config.installer = Some(choice);
            }
            "build-python" => {
                let name = string()?;
                let is_path = name.contains('/') || name.contains(std::path::MAIN_SEPARATOR);
                config.build_python = Some(if is_path { path(name) } else { name.into() });
            }
            "python-dist" => config.python_dist = Some(path(string()?)),
            "compression" => config.compression = Some(string()?),
            "compile-pyc" => config.compile_pyc = flag()?,
            "extend-pythonpath" => config.extend_pythonpath = flag()?,
            "reproducible" => config.reproducible = flag()?,
            "no-modify" => config.no_modify = flag()?,
            "preamble" => config.preamble = Some(path(string()?)),
            "root" => config.root = Some(string()?),
            "isolated" => config.isolated = flag()?,
            "prune-old-builds" => config.prune_old_builds = flag()?,
            "no-reuse-build-env" => config.no_reuse_build_env = flag()?,
            "site-packages" => config.site_packages = list()?.into_iter().map(path).collect(),
            "installer-args" => config.installer_args = list()?,
            "requirements" => config.requirements = list()?,
            unknown => {
                let hint = suggestion(unknown)
                    .map(|known| format!("; did you mean `{known}`?"))
                    .unwrap_or_default();
                anyhow::bail!("unknown key {}{hint}", at(unknown));
            }
        }
    }
    Ok(config)
}

/// Fill what the command line left open from the project's configuration.
pub fn apply(args: &mut BuildArgs, config: ToolConfig) {
    if args.entry_point.is_none() && args.console_script.is_none() {
        args.entry_point = config.entry_point;
        args.console_script = config.console_script;
    }
    fill(&mut args.output_file, config.output_file);
    fill(&mut args.python, config.python);
    fill(&mut args.installer, config.installer);
    fill(&mut args.build_python, config.build_python);
    fill(&mut args.python_dist, config.python_dist);
    fill(&mut args.preamble, config.preamble);
    fill(&mut args.root, config.root);
    if !args.compressed && !args.uncompressed {
        fill(&mut args.compression, config.compression);
    }
    args.compile_pyc |= config.compile_pyc;
    args.extend_pythonpath |= config.extend_pythonpath;
    args.reproducible |= config.reproducible;
    args.no_modify |= config.no_modify;
    args.isolated |= config.isolated;
    args.prune_old_builds |= config.prune_old_builds;
    args.no_reuse_build_env |= config.no_reuse_build_env;
    let mut site_packages = config.site_packages;
    site_packages.retain(|dir| !args.site_packages.contains(dir));
    site_packages.append(&mut args.site_packages);
    args.site_packages = site_packages;
    let given = std::mem::take(&mut args.installer_args);
    let requirements = if crate::install::names_requirements(&given) {
        Vec::new()
    } else {
        config.requirements
    };
    args.installer_args = config
        .installer_args
        .into_iter()
        .map(OsString::from)
        .chain(given)
        .chain(requirements.into_iter().map(OsString::from))
        .collect();
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn as_string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

fn as_list(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(as_string).collect()
}

fn wrong_type(at: &str, expected: &str, value: &Value) -> anyhow::Error {
    anyhow::anyhow!("{at} must be {expected}, not {}", value.type_str())
}

/// The known key a mistyped one most likely meant: `entry_point`, `entrypoint`,
/// `entry-pont` -> `entry-point`.
fn suggestion(key: &str) -> Option<&'static str> {
    let wanted = key.to_ascii_lowercase().replace('_', "-");
    KEYS.iter()
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
    use super::*;

    fn load_text(text: &str) -> anyhow::Result<Option<ToolConfig>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        load(dir.path()).map(|c| {
            c.map(|mut c| {
                c.source = PathBuf::from("pyproject.toml");
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
        let err = error("[tool.rshiv]\nfavourite-colour = \"blue\"\n");
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn wrong_types_and_values_are_named() {
        let err = error("[tool.rshiv]\npython = 3\n");
        assert!(err.starts_with("`python` in [tool.rshiv] of "), "{err}");
        assert!(err.ends_with("must be a string, not integer"), "{err}");
        let err = error("[tool.rshiv]\ninstaller = \"conda\"\n");
        assert!(
            err.ends_with("is \"conda\"; expected auto, uv or pip"),
            "{err}"
        );
        let err = error("[tool.rshiv]\nsite-packages = \"vendor\"\n");
        assert!(
            err.ends_with("must be a list of strings, not string"),
            "{err}"
        );
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
        let config = ToolConfig {
            console_script: Some("from_config".into()),
            output_file: Some("config.pyz".into()),
            python: Some("/usr/bin/python3".into()),
            compression: Some("stored".into()),
            compile_pyc: true,
            site_packages: vec!["a".into(), "b".into()],
            installer_args: vec!["--no-index".into()],
            requirements: vec![".".into()],
            ..ToolConfig::default()
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

        let config = ToolConfig {
            requirements: vec![".".into()],
            ..ToolConfig::default()
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
