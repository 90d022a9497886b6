//! The cache root the launcher unpacks the interpreter into: the root the pyz's bootstrap
//! uses for its payload (`cache_root` and `fallback_root` in bootstrap/__main__.py, checked
//! against this by tests/native.rs), so both land side by side and `rshiv cache` sees both.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;

/// `RSHIV_ROOT`, else `SHIV_ROOT`, else the baked `--root` (`$VAR` or `$VAR/rest` read
/// now), else [`crate::cache::default_root`]'s XDG default; made absolute.
pub fn resolve(baked: Option<&str>, var: &dyn Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    let explicit = set("RSHIV_ROOT").or_else(|| set("SHIV_ROOT"));
    let baked = match baked {
        Some(root) if explicit.is_none() => expand_var(root, var),
        _ => None,
    };
    let root = match explicit.or(baked) {
        Some(root) => expand_home(PathBuf::from(root), set("HOME")),
        None => crate::cache::default_root(var)?,
    };
    Ok(std::path::absolute(&root).unwrap_or(root))
}

/// `$NAME/rest` -> the value of NAME joined with rest; a root without `$` as it is.
fn expand_var(root: &str, var: &dyn Fn(&str) -> Option<OsString>) -> Option<OsString> {
    let Some(spec) = root.strip_prefix('$') else {
        return Some(root.into());
    };
    let (name, rest) = spec.split_once('/').unwrap_or((spec, ""));
    let value = var(name).filter(|value| !value.is_empty())?;
    Some(if rest.is_empty() {
        value
    } else {
        PathBuf::from(value).join(rest).into_os_string()
    })
}

fn expand_home(path: PathBuf, home: Option<OsString>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}

/// The private per-user root used when the cache root cannot be written.
pub fn fallback(var: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    let tmp = var("TMPDIR")
        .filter(|v| !v.is_empty())
        .unwrap_or("/tmp".into());
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(tmp).join(format!("rshiv-{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn follows_the_bootstraps_order() {
        let env = [("HOME", "/h"), ("APP", "/srv/app"), ("SHIV_ROOT", "/s")];
        assert_eq!(
            resolve(Some("/b"), &with(&env)).unwrap(),
            PathBuf::from("/s")
        );
        let env = [("HOME", "/h"), ("APP", "/srv/app")];
        let root = resolve(Some("$APP/cache"), &with(&env)).unwrap();
        assert_eq!(root, PathBuf::from("/srv/app/cache"));
        assert_eq!(
            resolve(Some("$NOPE"), &with(&env)).unwrap(),
            PathBuf::from("/h/.cache/rshiv")
        );
        assert_eq!(
            resolve(Some("~/c"), &with(&env)).unwrap(),
            PathBuf::from("/h/c")
        );
    }
}
