//! Finding what is installed beside rshiv the way a Python user expects: the uv of the
//! environment rshiv itself was installed into comes first, then the first one on PATH; the
//! native launcher is looked up the same way.
//!
//! `pip install rshiv uv` in a venv, `pipx install rshiv` + `pipx inject rshiv uv`, and
//! `uv tool install rshiv --with uv` each put both commands in the same `bin/` (the wheel's
//! `.data/scripts`, PEP 427), even when that directory is not on PATH or the command was
//! reached through a symlink in `~/.local/bin`.

use std::path::{Path, PathBuf};

const UV: &str = "uv";

/// The uv to run: beside the running rshiv, else on PATH.
pub fn find_uv() -> Option<PathBuf> {
    beside_rshiv(UV).or_else(|| super::find_on_path(UV))
}

/// The executable `name` installed beside the running rshiv (uv, `rshiv-launcher`).
pub fn beside_rshiv(name: &str) -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| beside(&exe, name))
}

/// The executable `name` in the directory of `exe`, or else in the directory of the file
/// `exe` resolves to (a symlink into a pipx or uv tool environment).
fn beside(exe: &Path, name: &str) -> Option<PathBuf> {
    let resolved = fs_err::canonicalize(exe).ok();
    let found = [Some(exe), resolved.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(Path::parent)
        .map(|dir| dir.join(name))
        .find(|candidate| super::is_executable(candidate));
    found
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};

    use super::*;

    fn write_executable(path: &Path, mode: u32) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, "#!/bin/sh\n").unwrap();
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn uv_in_the_same_bin_is_found() {
        let env = tempfile::tempdir().unwrap();
        let rshiv = env.path().join("bin/rshiv");
        write_executable(&rshiv, 0o755);
        assert_eq!(beside(&rshiv, UV), None);
        write_executable(&env.path().join("bin/uv"), 0o644);
        assert_eq!(
            beside(&rshiv, UV),
            None,
            "a uv that cannot run is not taken"
        );
        write_executable(&env.path().join("bin/uv"), 0o755);
        assert_eq!(beside(&rshiv, UV), Some(env.path().join("bin/uv")));
    }

    #[test]
    fn uv_beside_the_target_of_a_symlinked_command_is_found() {
        let home = tempfile::tempdir().unwrap();
        let tool = home.path().join("tools/rshiv/bin");
        write_executable(&tool.join("rshiv"), 0o755);
        write_executable(&tool.join("uv"), 0o755);
        fs_err::create_dir_all(home.path().join("local/bin")).unwrap();
        let link = home.path().join("local/bin/rshiv");
        symlink(tool.join("rshiv"), &link).unwrap();
        let found = beside(&link, UV).expect("uv beside the link's target");
        assert_eq!(
            fs_err::canonicalize(found).unwrap(),
            fs_err::canonicalize(tool.join("uv")).unwrap()
        );
    }
}
