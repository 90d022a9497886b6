//! `rshiv cache list|clean|prune`: see and reclaim what pyz files leave in their cache root.
//!
//! shiv's users have no such tool and report caches of 23 GB (shiv #88, #188). Everything
//! here follows the extraction protocol that `bootstrap/extract.py` implements (the names
//! and roots are in [`layout`], reading a root in [`scan`], the locks in [`lock`], the
//! removal steps in [`remove`]): a tree that a running process uses, or that is being
//! extracted, is never removed. Without `--root`, the commands see both roots a pyz may
//! use: the cache root and the user's private fallback.

pub mod human;
pub mod layout;
pub mod lock;
pub mod protocol;
pub mod remove;
pub mod scan;
pub mod trust;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::cli::{CacheCommand, RootArg};
use crate::diagnostics;
use crate::error::Error;
use crate::progress::human_bytes;
use lock::Probe;
use remove::Outcome;
use scan::{Entry, Kind};

/// Run one `rshiv cache` subcommand; listings and removal lines go to `out`.
///
/// A bad `--older-than`, or a prune with nothing to prune by, is a usage error (exit 2).
pub fn run(cmd: &CacheCommand, out: &mut dyn Write) -> crate::error::Result<()> {
    match cmd {
        CacheCommand::List { root, json } => {
            let roots = resolve_roots(root)?;
            let mut all = Vec::new();
            for root in &roots {
                let entries = scan::scan(root)?;
                if !*json {
                    list_table(root, &entries, out)?;
                }
                all.extend(entries);
            }
            if *json {
                list_json(&all, out)?;
            }
            Ok(())
        }
        CacheCommand::Clean { root, dry_run } => {
            for root in resolve_roots(root)? {
                let entries = scan::scan(&root)?;
                let chosen: Vec<&Entry> = entries.iter().collect();
                sweep(&root, &chosen, *dry_run, out)?;
            }
            Ok(())
        }
        CacheCommand::Prune {
            root,
            older_than,
            keep_latest,
            dry_run,
        } => {
            let older_than = older_than
                .as_deref()
                .map(human::parse_duration)
                .transpose()
                .map_err(Error::usage)?;
            if older_than.is_none() && keep_latest.is_none() {
                return Err(Error::usage(anyhow::anyhow!(
                    "cache prune needs --older-than DURATION, --keep-latest N or both"
                )));
            }
            for root in resolve_roots(root)? {
                let entries = scan::scan(&root)?;
                let now = SystemTime::now();
                let chosen = select_for_prune(&entries, now, older_than, *keep_latest);
                sweep(&root, &chosen, *dry_run, out)?;
            }
            Ok(())
        }
    }
}

/// The roots a command works on: `--root`, else the cache root the runtime uses and, when
/// it exists, the private fallback the runtime uses where it cannot write the cache root.
fn resolve_roots(arg: &RootArg) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(root) = &arg.root {
        return Ok(vec![root.clone()]);
    }
    let root = default_root(&layout::process_env)?;
    let fallback = layout::fallback_root(&layout::process_env, current_uid());
    let mut roots = vec![root];
    if fallback.is_dir() && !roots.contains(&fallback) {
        roots.push(fallback);
    }
    Ok(roots)
}

/// The runtime's cache root when no `--root` is baked (see [`layout::cache_root`]).
pub fn default_root(var: layout::Vars) -> anyhow::Result<PathBuf> {
    match layout::cache_root(var, None) {
        Some(root) => Ok(root),
        None => anyhow::bail!("cannot find the cache root: HOME is not set; pass --root DIR"),
    }
}

/// The real user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Extractions of each app beyond the `keep_latest` most recently used and last used
/// before `now - older_than`. With both, an extraction goes only when both say so (like
/// restic's `--keep-last` with `--keep-within`): each option only ever keeps more.
fn select_for_prune(
    entries: &[Entry],
    now: SystemTime,
    older_than: Option<Duration>,
    keep_latest: Option<usize>,
) -> Vec<&Entry> {
    let cutoff = older_than.map(|age| now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH));
    let mut chosen = Vec::new();
    let mut app: Option<&str> = None;
    let mut rank = 0;
    for entry in entries.iter().filter(|e| e.kind == Kind::Rshiv) {
        if app != Some(entry.name.as_str()) {
            app = Some(entry.name.as_str());
            rank = 0;
        }
        let beyond_latest = keep_latest.is_none_or(|n| rank >= n);
        let too_old = cutoff.is_none_or(|cutoff| entry.last_used.is_none_or(|t| t < cutoff));
        if beyond_latest && too_old {
            chosen.push(entry);
        }
        rank += 1;
    }
    chosen
}

/// Remove the chosen entries, one line each, then a summary line; an extraction goes with
/// this user's bytecode mirror of it. A root another user controls is not swept at all
/// (its entries could be swapped under us): one warning naming it and why.
fn sweep(root: &Path, chosen: &[&Entry], dry_run: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    if let Some(why) = trust::root_problem(&absolute) {
        diagnostics::warning(&format!(
            "not cleaning {} ({why}): nothing removed",
            root.display()
        ));
        return Ok(());
    }
    if chosen.is_empty() {
        writeln!(out, "nothing to remove in {}", root.display())?;
        return Ok(());
    }
    let (mut freed, mut removed, mut skipped, mut failed) = (0, 0, 0, 0);
    let verb = if dry_run { "would remove" } else { "removed" };
    let fallback = layout::fallback_root(&layout::process_env, current_uid());
    for entry in chosen {
        match remove::remove(root, entry, dry_run) {
            Ok(Outcome::Removed) => {
                if entry.kind == Kind::Rshiv && !dry_run {
                    if let Err(err) = remove::remove_mirror(&fallback, &entry.key) {
                        diagnostics::warning(&format!("{err:#}"));
                    }
                }
                freed += entry.size;
                removed += 1;
                let size = human_bytes(entry.size);
                writeln!(out, "{verb} {} ({size})", label(entry))?;
            }
            Ok(Outcome::Skipped(why)) => {
                skipped += 1;
                writeln!(out, "skipped {}: {why}", label(entry))?;
            }
            Err(err) => {
                failed += 1;
                diagnostics::warning(&format!("{err:#}"));
            }
        }
    }
    let freed = human_bytes(freed);
    let verb = if dry_run { "would free" } else { "freed" };
    writeln!(out, "{verb} {freed}: {removed} removed, {skipped} skipped")?;
    if failed > 0 {
        anyhow::bail!(
            "{failed} of the entries in {} could not be removed",
            root.display()
        );
    }
    Ok(())
}

/// `api_3f2a9c1b2d4e`, with what kind of leftover it is when it is one.
fn label(entry: &Entry) -> String {
    let what = match entry.kind {
        Kind::Rshiv => "",
        Kind::Shiv => " (shiv)",
        Kind::Tmp => " (unfinished extraction)",
        Kind::Trash => " (trash)",
    };
    format!("{}_{}{what}", entry.name, short_id(&entry.build_id))
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// What the STATE column and the JSON `state` say.
fn state(entry: &Entry) -> &'static str {
    match (entry.kind, &entry.probe) {
        (Kind::Rshiv, Probe::Free) => "idle",
        (Kind::Rshiv, Probe::Busy) => "in use",
        (Kind::Rshiv, Probe::Missing) => "gone",
        (Kind::Shiv, _) => "shiv",
        (Kind::Tmp, Probe::Busy) => "extracting",
        (Kind::Tmp, _) => "stale",
        (Kind::Trash, Probe::Busy) => "trash, in use",
        (Kind::Trash, _) => "trash",
        (_, Probe::Unknown) => "unknown",
    }
}

fn list_table(root: &Path, entries: &[Entry], out: &mut dyn Write) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = SystemTime::now();
    let mut rows = vec![["APP", "BUILD ID", "SIZE", "FILES", "LAST USED", "STATE"]
        .map(String::from)
        .to_vec()];
    for entry in entries {
        rows.push(vec![
            entry.name.clone(),
            short_id(&entry.build_id).to_string(),
            human_bytes(entry.size),
            entry.files.to_string(),
            entry.last_used.map_or("?".into(), |t| human::ago(t, now)),
            state(entry).to_string(),
        ]);
    }
    out.write_all(human::table(&rows).as_bytes())?;
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let count = entries.len();
    let noun = if count == 1 { "entry" } else { "entries" };
    writeln!(
        out,
        "{count} {noun}, {} in {}",
        human_bytes(total),
        root.display()
    )?;
    Ok(())
}

fn list_json(entries: &[Entry], out: &mut dyn Write) -> anyhow::Result<()> {
    let unix = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let array: Vec<_> = entries
        .iter()
        .map(|entry| {
            json!({
                "name": entry.name,
                "build_id": entry.build_id,
                "kind": entry.kind.as_str(),
                "state": state(entry),
                "in_use": match entry.probe {
                    Probe::Busy => Some(true),
                    Probe::Free | Probe::Missing => Some(false),
                    Probe::Unknown => None,
                },
                "path": entry.path,
                "size": entry.size,
                "files": entry.files,
                "last_used": entry.last_used.map(human::iso8601),
                "last_used_unix": entry.last_used.map(unix),
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &array)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests;
