//! One build, start to finish: install, stage, resolve the entry point, write the pyz.
//!
//! The pyz is written to a temporary file beside the output and renamed into place, so a
//! failed build leaves an existing file untouched and nothing half-written, and a running
//! copy of the old file keeps its inode.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::archive::environment::{Baked, Environment};
use crate::archive::{self, PackOptions, PayloadSummary};
use crate::diagnostics;
use crate::install::{self, Installer, Interpreter};
use crate::interrupt;
use crate::native;
use crate::progress::Progress;
use crate::settings::{Entry, Settings};
use crate::stage::{self, ConsoleTarget, Tree};
use crate::tags;

/// What a finished build reports.
#[derive(Debug)]
pub struct Outcome {
    pub output: PathBuf,
    pub size: u64,
    pub summary: PayloadSummary,
    pub seconds: f64,
}

/// A staging directory named `<prefix>...` in the temp dir, removed when dropped and, until
/// then, on Ctrl-C too.
fn scratch_dir(prefix: &str) -> Result<(tempfile::TempDir, interrupt::Pending)> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("could not create a staging directory")?;
    let pending = interrupt::Pending::new(dir.path());
    Ok((dir, pending))
}

/// Build the pyz that `settings` describe.
pub fn build(settings: &Settings, progress: &dyn Progress) -> Result<Outcome> {
    let started = Instant::now();
    let bundle = settings
        .python_dist
        .as_deref()
        .map(native::write::Bundle::prepare)
        .transpose()?;
    if let Some(dir) = &settings.install.implicit_project {
        diagnostics::note(&format!(
            "no requirements given: building the project in {}",
            dir.display()
        ));
    }
    let (staging, _staging_pending) = scratch_dir("rshiv-stage-")?;
    let mut interpreter = None;
    let mut request = settings.install.clone();
    // What a lock pins goes into a directory of its own: pip's `--target` would not merge
    // a second install's `bin/` into the first's.
    let (locked_dir, _locked_pending) = scratch_dir("rshiv-locked-")?;
    let mut provenance = None;
    let mut hashed = None;
    if request.installs_anything() {
        let installer = Installer::detect(request.installer, request.build_python.as_deref())?;
        if let Some(bundle) = &bundle {
            let dist = &bundle.dist;
            diagnostics::note(&format!(
                "bundling CPython {} for {}",
                dist.version, dist.platform
            ));
            native::retarget(&mut request.target, dist, &installer.python.version);
        }
        let request = &request;
        if let Some(lock) = &request.lock {
            diagnostics::note(&format!("using {}", lock.path.display()));
            let locked = install::lock::install(
                &installer,
                locked_dir.path(),
                lock,
                (&request.args, &request.target),
                settings.verbose,
                progress,
            )?;
            stage::normalize_installed(locked_dir.path())?;
            let project = request.local_projects.first().map(|p| p.dir.clone());
            provenance = Some((
                locked.provenance(
                    lock,
                    project.as_deref().unwrap_or(Path::new(".")),
                    install::lock::recorded_installer(&installer),
                ),
                locked,
            ));
        } else {
            hashed = install::lock::hashed_requirements(&request.args, || {
                install::lock::recorded_installer(&installer)
            })?;
        }
        // A lock alone (`--lock pylock.toml`, no project) leaves nothing else to install.
        if request.lock.is_none() || request.args.names_requirements() {
            let prepared = install::build_local_projects(
                &installer,
                staging.path(),
                request,
                settings.verbose,
                progress,
                &diagnostics::note,
            )?;
            diagnostics::note(&format!("installing with {}", installer.describe()));
            installer.install_prepared(staging.path(), prepared, settings.verbose, progress)?;
            stage::normalize_installed(staging.path())?;
        }
        interpreter = Some(installer.python);
    }
    let mut roots = vec![
        staging.path().to_path_buf(),
        locked_dir.path().to_path_buf(),
    ];
    roots.extend(settings.site_packages.iter().cloned());
    let mut tree = stage::collect(&roots)?;
    let preamble = add_preamble(&mut tree, settings)?;
    let (entry_point, script, console_script) = resolve_entry(&tree, settings, &mut interpreter)?;
    if tree.files.is_empty() {
        bail!("the payload is empty: the installer installed nothing");
    }

    let timestamp = archive::build_timestamp()?;
    let baked = Baked {
        format: 1,
        name: settings.name.clone(),
        build_id: String::new(),
        entry_point,
        script,
        console_scripts: tree.console_scripts.clone(),
        root: settings.root.clone(),
        pth: tree.pth.clone(),
        compile_pyc: settings.compile_pyc,
        extend_pythonpath: settings.extend_pythonpath,
        no_modify: settings.no_modify,
        preamble,
        isolated: settings.isolated,
        prune_old_builds: settings.prune_old_builds,
        files: tree.files.len() as u64,
        unpacked_bytes: 0,
        native: tags::native_needs(&tree.distributions),
    };
    let options = PackOptions {
        shebang: settings.shebang.clone(),
        compression: settings.compression,
        timestamp,
        threads: settings.jobs,
        build_id: settings.build_id.clone(),
    };
    let mut distributions = tree.distributions;
    if let Some((_, locked)) = &provenance {
        for dist in &mut distributions {
            locked.record(dist);
        }
    }
    let provenance = provenance.map(|(record, _)| record).or(hashed);
    let payload: Vec<_> = tree.files.into_values().collect();
    let mut tail = |summary: &PayloadSummary| {
        let baked = Baked {
            build_id: summary.build_id.clone(),
            unpacked_bytes: summary.unpacked_bytes,
            ..baked.clone()
        };
        let hashes = if settings.no_modify {
            summary.py_hashes.clone()
        } else {
            Default::default()
        };
        let environment = Environment {
            built_at: archive::format_utc(timestamp),
            hashes,
            console_script: console_script.clone(),
            shebang: settings.shebang.clone(),
            compression: settings.compression.to_string(),
            distributions: distributions.clone(),
            provenance: provenance.clone(),
            ..Environment::from_baked(&baked)
        };
        archive::bootstrap::tail_members(&baked, &environment)
    };
    let summary = write_atomically(&settings.output, |file| match &bundle {
        Some(bundle) => bundle.write(file, settings.root.as_deref(), |file| {
            archive::write_pyz(file, &payload, &options, progress, &mut tail)
        }),
        None => archive::write_pyz(file, &payload, &options, progress, &mut tail),
    })?;
    let size = fs_err::metadata(&settings.output)?.len();
    Ok(Outcome {
        output: settings.output.clone(),
        size,
        summary,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// shiv copies the preamble into the payload's `bin/`; so do we.
fn add_preamble(tree: &mut Tree, settings: &Settings) -> Result<Option<String>> {
    let Some(path) = &settings.preamble else {
        return Ok(None);
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("--preamble {}: needs a UTF-8 file name", path.display()))?;
    let payload_path = format!("bin/{name}");
    tree.add_file(payload_path.clone(), path.clone())?;
    Ok(Some(payload_path))
}

/// (entry point, script, console script name) for environment.json and the bootstrap.
fn resolve_entry(
    tree: &Tree,
    settings: &Settings,
    interpreter: &mut Option<Interpreter>,
) -> Result<(Option<String>, Option<String>, Option<String>)> {
    match &settings.entry {
        Entry::Interpreter => Ok((None, None, None)),
        Entry::ConsoleScript(name) => match tree.resolve_console_script(name)? {
            ConsoleTarget::EntryPoint(entry_point) => {
                Ok((Some(entry_point), None, Some(name.clone())))
            }
            ConsoleTarget::Script(script) => Ok((None, Some(script), Some(name.clone()))),
        },
        Entry::EntryPoint(entry_point) => {
            let module = entry_point.split(':').next().unwrap_or(entry_point);
            if !tree.has_module(module) {
                let python = match interpreter.take() {
                    Some(python) => python,
                    None => Interpreter::find(settings.install.build_python.as_deref())?,
                };
                let in_stdlib = python.has_stdlib_module(module)?;
                *interpreter = Some(python);
                if !in_stdlib {
                    bail!(
                        "entry point module {module:?} is neither in the payload nor in the standard library"
                    );
                }
            }
            Ok((Some(entry_point.clone()), None, None))
        }
    }
}

/// Write through `write` into a temporary file beside `output`, make it executable and
/// rename it into place. On any error the temporary file is removed and `output` is
/// untouched.
fn write_atomically<T>(
    output: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<T>,
) -> Result<T> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
    let _pending = interrupt::Pending::new(temp.path());
    let value = write(temp.as_file_mut())?;
    temp.as_file()
        .sync_all()
        .with_context(|| format!("could not write {}", temp.path().display()))?;
    fs_err::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755))?;
    temp.persist(output)
        .map_err(|e| e.error)
        .with_context(|| format!("could not write {}", output.display()))?;
    Ok(value)
}
