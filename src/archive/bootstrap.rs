//! The Python runtime that goes into every pyz, embedded at compile time.
//!
//! `bootstrap/__main__.py` holds one line `_BAKED = None  # rshiv:baked`; the build replaces
//! it with `_BAKED = {...}`, a Python literal of the build's constants (see
//! `environment::Baked`), so that a warm start reads nothing from the archive.

/// Source of the warm path, with the baked line still a placeholder.
pub const MAIN_TEMPLATE: &str = include_str!("../../bootstrap/__main__.py");
/// Source of the cold path and rare features, stored as `_rshiv/runtime.py`.
pub const RUNTIME: &str = include_str!("../../bootstrap/runtime.py");
/// The placeholder line in `MAIN_TEMPLATE`.
pub const BAKED_PLACEHOLDER: &str = "_BAKED = None  # rshiv:baked";

/// Placeholder until the archive work lands.
pub fn tail_members(
    _baked: &super::environment::Baked,
    _env: &super::environment::Environment,
) -> anyhow::Result<Vec<super::TailMember>> {
    anyhow::bail!("not yet implemented")
}
