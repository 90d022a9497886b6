//! The one table of installer options rshiv knows: each option once, with every spelling,
//! whether it takes a value, and what it means to rshiv.
//!
//! pip's and uv's `pip install` share most spellings; rshiv reads an option only to know
//! where its value ends, whether to refuse it, which options a build environment shares,
//! what the install is for (the [`super::target::Target`]), and how uv spells it. An
//! option not listed here is passed through unchanged and taken to have no value: in
//! `--unknown word`, `word` counts as a requirement. A value-taking option the installers
//! gain belongs here, with its spellings.

/// What an option means to rshiv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It would install somewhere other than rshiv's staging tree (shiv refuses the same).
    Refused,
    /// `-r FILE`: names what to install.
    Requirements,
    /// Says where packages come from: a build environment is installed with it too.
    Index,
    /// Changes how the installer builds a source tree: rshiv then leaves local projects to
    /// the installer rather than build them itself.
    Build,
    /// Says which interpreter and platform the payload is for.
    Target(TargetField),
    /// Chooses between binaries and source (`--only-binary`, `--no-deps`): with it, a
    /// cross-target install is not given `--only-binary :all:` by rshiv.
    Binaries,
    /// Passed through, with nothing for rshiv to decide.
    Other,
}

/// The part of a [`super::target::Target`] an option sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetField {
    /// pip's `--platform TAG` (PEP 425), repeatable.
    Platform,
    /// uv's `--python-platform TRIPLE`.
    UvPlatform,
    /// `--python-version X.Y`.
    PythonVersion,
    /// pip's `--implementation cp`.
    Implementation,
    /// pip's `--abi cp38`, repeatable.
    Abi,
}

/// How `uv pip install` spells an option that pip spells otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UvSpelling {
    /// As pip does.
    Same,
    /// This word instead of the option (`--pre` is `--prerelease=allow`).
    Word(&'static str),
    /// This name, with the option's value (`--trusted-host` is `--allow-insecure-host`).
    Renamed(&'static str),
}

/// One installer option.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    /// Every spelling: `-r`, `--requirement`, aliases.
    pub names: &'static [&'static str],
    /// Whether its value follows (`--opt value`, `--opt=value`, `-ovalue`).
    pub takes_value: bool,
    pub role: Role,
    /// Whether installing a project's dependencies on their own, then the project from the
    /// installer's cache, could end differently under it from one install of everything:
    /// the dependencies would become direct requirements (`--resolution lowest-direct`,
    /// `--prerelease explicit`), be refused unpinned (`--require-hashes`), be skipped
    /// (`--no-deps`), or the cache be bypassed (`--no-cache`, `--refresh`).
    pub splits_unsafely: bool,
    pub uv: UvSpelling,
}

impl Flag {
    /// The spelling people know it by: its first long name.
    pub fn name(&self) -> &'static str {
        let long = self.names.iter().find(|name| name.starts_with("--"));
        long.copied().unwrap_or(self.names[0])
    }
}

const fn option(names: &'static [&'static str], role: Role) -> Flag {
    Flag {
        names,
        takes_value: true,
        role,
        splits_unsafely: false,
        uv: UvSpelling::Same,
    }
}

const fn switch(names: &'static [&'static str], role: Role) -> Flag {
    Flag {
        takes_value: false,
        ..option(names, role)
    }
}

const fn splitting(flag: Flag) -> Flag {
    Flag {
        splits_unsafely: true,
        ..flag
    }
}

const fn for_uv(flag: Flag, uv: UvSpelling) -> Flag {
    Flag { uv, ..flag }
}

use Role::*;
use TargetField::*;

/// Every installer option rshiv knows.
pub const FLAGS: &[Flag] = &[
    option(&["-t", "--target"], Refused),
    option(&["--prefix"], Refused),
    switch(&["--user"], Refused),
    option(&["--root"], Refused),
    option(&["-d", "--download"], Refused),
    // `-e` is rshiv's own `--entry-point`; pip's `-e` reaches the installer after `--` only.
    option(&["-e", "--editable"], Refused),
    option(&["-r", "--requirement"], Requirements),
    // Likewise pip's `-c` (rshiv's `--console-script`): only after `--`.
    option(&["-c", "--constraint"], Other),
    option(&["--override"], Other),
    option(&["--platform"], Target(Platform)),
    option(&["--python-platform"], Target(UvPlatform)),
    option(&["--python-version"], Target(PythonVersion)),
    option(&["--implementation"], Target(Implementation)),
    option(&["--abi"], Target(Abi)),
    option(&["--only-binary"], Binaries),
    option(&["--no-binary"], Binaries),
    splitting(switch(&["--no-deps"], Binaries)),
    option(&["-i", "--index-url"], Index),
    option(&["--extra-index-url"], Index),
    option(&["--index"], Index),
    option(&["--default-index"], Index),
    option(&["-f", "--find-links"], Index),
    for_uv(
        option(&["--trusted-host"], Index),
        UvSpelling::Renamed("--allow-insecure-host"),
    ),
    option(&["--allow-insecure-host"], Index),
    option(&["--cert"], Index),
    option(&["--client-cert"], Index),
    option(&["--proxy"], Index),
    option(&["--retries"], Index),
    option(&["--timeout"], Index),
    option(&["--index-strategy"], Index),
    option(&["--keyring-provider"], Index),
    option(&["--exclude-newer"], Index),
    switch(&["--no-index"], Index),
    for_uv(
        switch(&["--pre"], Index),
        UvSpelling::Word("--prerelease=allow"),
    ),
    splitting(for_uv(
        switch(&["--no-cache-dir"], Index),
        UvSpelling::Word("--no-cache"),
    )),
    splitting(switch(&["-n", "--no-cache"], Index)),
    switch(&["--offline"], Index),
    option(&["-C", "--config-settings", "--config-setting"], Build),
    option(&["--global-option"], Build),
    option(&["--build-option"], Build),
    switch(&["--no-build-isolation"], Build),
    option(&["--no-build-isolation-package"], Build),
    option(&["-b", "--build-constraint", "--build-constraints"], Build),
    switch(&["--no-build"], Build),
    switch(&["--use-pep517"], Build),
    switch(&["--no-use-pep517"], Build),
    splitting(option(&["--resolution"], Other)),
    splitting(option(&["--prerelease"], Other)),
    splitting(switch(&["--require-hashes"], Other)),
    splitting(switch(&["--refresh"], Other)),
    splitting(option(&["--refresh-package"], Other)),
    option(&["--progress-bar"], Other),
    option(&["--exists-action"], Other),
    option(&["--log"], Other),
    option(&["--cache-dir"], Other),
    option(&["--upgrade-strategy"], Other),
    option(&["-P", "--upgrade-package"], Other),
    option(&["--link-mode"], Other),
    option(&["--group"], Other),
    option(&["--report"], Other),
    option(&["--root-user-action"], Other),
];

/// The option spelled `name` (`-r`, `--requirement`), if rshiv knows it.
pub fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|flag| flag.names.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_spelling_is_listed_once() {
        let mut seen = BTreeSet::new();
        for flag in FLAGS {
            for name in flag.names {
                assert!(seen.insert(*name), "{name} is listed twice");
                let short = name.len() == 2 && name.starts_with('-');
                assert!(short || name.starts_with("--"), "{name}");
            }
        }
    }

    #[test]
    fn lookup_finds_every_spelling() {
        assert_eq!(lookup("-r"), lookup("--requirement"));
        assert_eq!(lookup("-r").unwrap().role, Requirements);
        assert_eq!(lookup("-C").unwrap().name(), "--config-settings");
        assert!(lookup("--no-such-option").is_none());
    }
}
