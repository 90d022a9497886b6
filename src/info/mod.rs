//! `rshiv info PYZ [--json] [--sbom FILE]`: what is inside a pyz built by rshiv or shiv,
//! for the operator deploying it and the pipeline archiving it.

mod read;

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::archive::environment::{Distribution, TargetRecord};
use crate::cache::human;
use crate::cli::InfoArgs;
use crate::diagnostics;
use crate::error::{Error, Result};
use crate::progress::human_bytes;
use crate::sbom;
pub use read::{read, Builder, Pyz};

/// Run `rshiv info`: the human view or `--json` to `out`, and the BOM to `--sbom FILE`
/// (`-` is `out`, in place of the view).
pub fn run(args: &InfoArgs, out: &mut dyn Write) -> Result<()> {
    if args.json && args.sbom.as_deref() == Some(Path::new("-")) {
        return Err(Error::usage(anyhow::anyhow!(
            "--json and --sbom - both write to stdout; give --sbom a file name"
        )));
    }
    Ok(show(args, out)?)
}

fn show(args: &InfoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let pyz = read(&args.pyz)?;
    match args.sbom.as_deref() {
        Some(target) if target == Path::new("-") => {
            write_json(&sbom_of(&pyz)?, out)?;
            return Ok(());
        }
        Some(target) => {
            let mut text = serde_json::to_vec_pretty(&sbom_of(&pyz)?)?;
            text.push(b'\n');
            fs_err::write(target, text)?;
            diagnostics::note(&format!(
                "wrote a CycloneDX 1.5 bill of materials to {}",
                target.display()
            ));
        }
        None => {}
    }
    let bundled = crate::native::show::read(&args.pyz)?;
    if args.json {
        let mut value = to_json(&pyz);
        if let (Some(trailer), Some(object)) = (&bundled, value.as_object_mut()) {
            object.insert("bundled_python".into(), crate::native::show::json(trailer));
        }
        write_json(&value, out)
    } else {
        out.write_all(human_view(&pyz).as_bytes())?;
        if let Some(trailer) = &bundled {
            out.write_all(crate::native::show::human(trailer).as_bytes())?;
        }
        Ok(())
    }
}

fn write_json(value: &Value, out: &mut dyn Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A recorded text, when there is one: shiv's file lacks rshiv's, and either may be empty.
fn given(text: &str) -> Option<&str> {
    Some(text).filter(|text| !text.is_empty())
}

/// [`given`] for an optional field.
fn given_opt(text: &Option<String>) -> Option<&str> {
    text.as_deref().and_then(given)
}

/// The app's name: recorded by rshiv; for shiv, the file's stem.
fn app_name(pyz: &Pyz) -> String {
    given(&pyz.environment.name)
        .map(str::to_string)
        .unwrap_or_else(|| {
            pyz.path
                .file_stem()
                .map_or_else(|| "app".to_string(), |s| s.to_string_lossy().into_owned())
        })
}

fn sbom_of(pyz: &Pyz) -> anyhow::Result<Value> {
    let sha256 = crate::archive::file_sha256(&pyz.path)?;
    let name = app_name(pyz);
    let env = &pyz.environment;
    let subject = sbom::Subject {
        name: &name,
        build_id: given(&env.build_id).unwrap_or("unknown"),
        built_at: given(&env.built_at),
        sha256: Some(&sha256),
        entry_point: given_opt(&env.entry_point).or(given_opt(&env.script)),
    };
    Ok(sbom::bom(&subject, &pyz.distributions, &env.targets))
}

/// `environment.json` with every field of its schema (what the writer left out at its
/// default, what it added that this version does not know kept), completed with what rshiv
/// works out: `distributions` and counts (when not recorded), `format` and `name` for
/// shiv's, `native`, and `path`, `size`, `needs`.
fn to_json(pyz: &Pyz) -> Value {
    let mut env = pyz.environment.clone();
    if env.format.is_empty() {
        env.format = "shiv".into();
    }
    env.name = app_name(pyz);
    (env.files, env.unpacked_bytes) = (pyz.files, pyz.unpacked_bytes);
    if env.shebang.is_empty() {
        env.shebang = pyz.shebang.clone().unwrap_or_default();
    }
    let native = crate::tags::native_needs(&pyz.distributions);
    let needs = crate::tags::describe(native.as_ref());
    // shiv records no `native`; rshiv's own record is kept as written.
    env.native = env.native.or(native);
    env.distributions = pyz.distributions.clone();
    let mut value = json!(env);
    value["path"] = json!(pyz.path);
    value["size"] = json!(pyz.size);
    value["needs"] = json!(needs);
    value
}

fn human_view(pyz: &Pyz) -> String {
    let env = &pyz.environment;
    let made_by = match pyz.builder {
        Builder::Rshiv => format!(
            "an rshiv zip app ({}, rshiv {})",
            given(&env.format).unwrap_or("?"),
            env.rshiv_version
        ),
        Builder::Shiv => format!(
            "a shiv zip app (shiv {})",
            given(&env.shiv_version).unwrap_or("?")
        ),
    };
    let mut text = format!("{}: {made_by}\n", pyz.path.display());
    let mut row = |key: &str, value: String| text.push_str(&format!("  {key:<11}  {value}\n"));
    match (given_opt(&env.entry_point), given_opt(&env.script)) {
        (Some(entry_point), _) => {
            let script = given_opt(&env.console_script)
                .map(|s| format!(" (console script {s})"))
                .unwrap_or_default();
            row("entry point", format!("{entry_point}{script}"));
        }
        (None, Some(script)) => row("script", script.to_string()),
        (None, None) => row("entry point", "none (runs the interpreter)".into()),
    }
    row(
        "shebang",
        pyz.shebang.clone().unwrap_or_else(|| "none".into()),
    );
    row("build id", given(&env.build_id).unwrap_or("?").to_string());
    row("built at", given(&env.built_at).unwrap_or("?").to_string());
    let compression = given(&env.compression)
        .map(|c| format!(", {c}"))
        .unwrap_or_default();
    row(
        "size",
        format!(
            "{} ({} files, {} unpacked{compression})",
            human_bytes(pyz.size),
            pyz.files,
            human_bytes(pyz.unpacked_bytes)
        ),
    );
    if env.targets.is_empty() {
        let native = crate::tags::native_needs(&pyz.distributions);
        row("needs", crate::tags::describe(native.as_ref()));
    } else {
        row("needs", "per target, below".into());
    }
    if let Some(preamble) = given_opt(&env.preamble) {
        row("preamble", preamble.to_string());
    }
    if let Some(root) = given_opt(&env.root) {
        row("cache root", root.to_string());
    }
    let options: Vec<&str> = [
        ("compile-pyc", env.compile_pyc),
        ("extend-pythonpath", env.extend_pythonpath),
        ("no-modify", env.no_modify),
        ("isolated", env.isolated),
        ("prune-old-builds", env.prune_old_builds),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if !options.is_empty() {
        row("options", options.join(", "));
    }
    if let Some(provenance) = &pyz.environment.provenance {
        row(
            "lock",
            format!(
                "{} ({}, sha256 {})",
                provenance.lock, provenance.lock_kind, provenance.lock_sha256
            ),
        );
        row("installer", provenance.installer.clone());
        if !provenance.index_urls.is_empty() {
            row("indexes", provenance.index_urls.join(", "));
        }
    }

    if !env.targets.is_empty() {
        text.push_str(&targets_view(&env.targets));
        return text;
    }
    let count = pyz.distributions.len();
    let noun = if count == 1 {
        "distribution"
    } else {
        "distributions"
    };
    text.push_str(&format!("\n{count} {noun}\n"));
    if count > 0 {
        text.push_str(&distributions_table(&pyz.distributions, "  "));
    }
    text
}

/// NAME, VERSION, LICENSE of each distribution, the first column indented by `indent`;
/// a locked build adds FILE, the lock's file each came from.
fn distributions_table(distributions: &[Distribution], indent: &str) -> String {
    let files = distributions.iter().any(|d| d.file.is_some());
    let mut header = vec![format!("{indent}NAME"), "VERSION".into(), "LICENSE".into()];
    header.extend(files.then(|| "FILE".to_string()));
    let mut table = vec![header];
    for dist in distributions {
        let mut row = vec![
            format!("{indent}{}", dist.name),
            dist.version.clone(),
            dist.license.clone().unwrap_or_else(|| "-".into()),
        ];
        if files {
            row.push(dist.file.clone().unwrap_or_else(|| "-".into()));
        }
        table.push(row);
    }
    human::table(&table)
}

/// The targets of a multi-target pyz, each with its distributions.
fn targets_view(targets: &[TargetRecord]) -> String {
    let mut text = format!("\n{} targets\n", targets.len());
    for target in targets {
        let files = match target.files {
            1 => "1 file".to_string(),
            n => format!("{n} files"),
        };
        text.push_str(&format!(
            "  CPython {} on {}: build id {}, {files}, {} unpacked, needs {}\n",
            target.python,
            target.platform,
            target.build_id,
            human_bytes(target.unpacked_bytes),
            crate::tags::describe(target.native.as_ref())
        ));
        text.push_str(&distributions_table(&target.distributions, "    "));
    }
    text
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
