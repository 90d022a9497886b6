//! One build, start to finish: install, stage, resolve the entry point, write the pyz.
//!
//! The pyz is written to a temporary file beside the output and renamed into place, so a
//! failed build leaves an existing file untouched and nothing half-written, and a running
//! copy of the old file keeps its inode.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::archive::environment::{Baked, BakedTarget, Environment, TargetRecord};
use crate::archive::{self, fleet, PackOptions, PayloadFile, PayloadSummary};
use crate::diagnostics;
use crate::install::{self, Installer, Interpreter, Target, TargetName};
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

/// One target's install: its directories, removed when dropped (and on Ctrl-C).
struct Stage {
    target: Target,
    /// Its name, for a build of several targets.
    name: Option<TargetName>,
    staging: (tempfile::TempDir, interrupt::Pending),
    /// What a lock pins goes into a directory of its own: pip's `--target` would not merge
    /// a second install's `bin/` into the first's.
    locked_dir: (tempfile::TempDir, interrupt::Pending),
    locked: Option<install::lock::Locked>,
}

impl Stage {
    fn new(target: Target) -> Result<Stage> {
        Ok(Stage {
            target,
            name: None,
            staging: scratch_dir("rshiv-stage-")?,
            locked_dir: scratch_dir("rshiv-locked-")?,
            locked: None,
        })
    }

    fn staging(&self) -> &Path {
        self.staging.0.path()
    }

    fn locked_dir(&self) -> &Path {
        self.locked_dir.0.path()
    }
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
    let mut request = settings.install.clone();
    let mut stages = request
        .targets
        .iter()
        .map(|target| Stage::new(target.clone()))
        .collect::<Result<Vec<_>>>()?;
    let mut interpreter = None;
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
            native::retarget(&mut stages[0].target, dist, &installer.python.version);
        }
        if stages.len() > 1 {
            for stage in &mut stages {
                stage.name = Some(stage.target.name(&installer.python.version)?);
            }
        }
        if let Some(lock) = &request.lock {
            diagnostics::note(&format!("using {}", lock.path.display()));
            for_each_target(&mut stages, settings, |stage| {
                let locked = install::lock::install(
                    &installer,
                    stage.locked_dir(),
                    lock,
                    (&request.args, &stage.target),
                    settings.verbose,
                    progress,
                )?;
                stage::normalize_installed(stage.locked_dir())?;
                stage.locked = Some(locked);
                Ok(())
            })?;
        } else {
            hashed = install::lock::hashed_requirements(&request.args, || {
                install::lock::recorded_installer(&installer)
            })?;
        }
        request.targets = stages.iter().map(|stage| stage.target.clone()).collect();
        // A lock alone (`--lock pylock.toml`, no project) leaves nothing else to install.
        if request.lock.is_none() || request.args.names_requirements() {
            let mut prepared = install::build_local_projects(
                &installer,
                stages[0].staging(),
                &request,
                settings.verbose,
                progress,
                &diagnostics::note,
            )?;
            diagnostics::note(&format!("installing with {}", installer.describe()));
            for_each_target(&mut stages, settings, |stage| {
                if let Some(name) = &stage.name {
                    diagnostics::note(&format!("installing for {name}"));
                }
                installer.install_prepared(
                    stage.staging(),
                    &mut prepared,
                    &stage.target,
                    settings.verbose,
                    progress,
                )?;
                stage::normalize_installed(stage.staging())
            })?;
        }
        if let (Some(lock), Some(locked)) = (&request.lock, &stages[0].locked) {
            let project = request.local_projects.first().map(|p| p.dir.clone());
            provenance = Some(locked.provenance(
                lock,
                project.as_deref().unwrap_or(Path::new(".")),
                install::lock::recorded_installer(&installer),
            ));
        }
        interpreter = Some(installer.python);
    }
    let mut trees = Vec::with_capacity(stages.len());
    for stage in &stages {
        let mut roots = vec![
            stage.staging().to_path_buf(),
            stage.locked_dir().to_path_buf(),
        ];
        roots.extend(settings.site_packages.iter().cloned());
        let mut tree = stage::collect(&roots)?;
        if let Some(locked) = &stage.locked {
            for dist in &mut tree.distributions {
                locked.record(dist);
            }
        }
        trees.push(tree);
    }
    let mut preamble = None;
    let mut entry = None;
    for (tree, stage) in trees.iter_mut().zip(&stages) {
        preamble = add_preamble(tree, settings)?;
        let resolved = resolve_entry(tree, settings, &mut interpreter)?;
        match &entry {
            None => entry = Some(resolved),
            Some(first) if *first == resolved => {}
            Some(_) => bail!(
                "the entry point differs between targets: {} runs something else than the first target; give -e MODULE:FUNCTION",
                stage.name.as_ref().map_or_else(String::new, ToString::to_string)
            ),
        }
        if tree.files.is_empty() {
            bail!("the payload is empty: the installer installed nothing");
        }
    }
    let (entry_point, script, console_script) = entry.context("no target to build for")?;

    let timestamp = archive::build_timestamp()?;
    let first = &trees[0];
    let baked = Baked {
        format: 1,
        name: settings.name.clone(),
        build_id: String::new(),
        entry_point,
        script,
        console_scripts: first.console_scripts.clone(),
        root: settings.root.clone(),
        pth: first.pth.clone(),
        compile_pyc: settings.compile_pyc,
        extend_pythonpath: settings.extend_pythonpath,
        no_modify: settings.no_modify,
        preamble,
        isolated: settings.isolated,
        prune_old_builds: settings.prune_old_builds,
        files: first.files.len() as u64,
        unpacked_bytes: 0,
        native: tags::native_needs(&first.distributions),
        targets: Vec::new(),
    };
    let options = PackOptions {
        shebang: settings.shebang.clone(),
        compression: settings.compression,
        timestamp,
        threads: settings.jobs,
        build_id: settings.build_id.clone(),
    };
    let distributions = first.distributions.clone();
    let (payload, fleet) = match trees.len() {
        1 => {
            let tree = trees.pop().context("no target to build for")?;
            (tree.files.into_values().collect(), None)
        }
        _ => {
            let mut fleet = fleet_payload(&stages, trees)?;
            (std::mem::take(&mut fleet.merged.payload), Some(fleet))
        }
    };
    let provenance = provenance.or(hashed);
    // The start-up files' bytecode is for the build interpreter; without one (or if it
    // cannot compile), the pyz compiles them at each start, as any other version does.
    let python =
        interpreter.or_else(|| Interpreter::find(settings.install.build_python.as_deref()).ok());
    let compile =
        |sources: &[(&str, &str)]| install::precompile::compile(python.as_ref()?, sources).ok();
    let mut tail = |summary: &PayloadSummary| {
        let baked = match &fleet {
            Some(fleet) => Baked {
                build_id: summary.build_id.clone(),
                unpacked_bytes: fleet.baked[0].unpacked_bytes,
                targets: fleet.baked.clone(),
                ..baked.clone()
            },
            None => Baked {
                build_id: summary.build_id.clone(),
                unpacked_bytes: summary.unpacked_bytes,
                ..baked.clone()
            },
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
            targets: fleet
                .as_ref()
                .map(|f| f.records.clone())
                .unwrap_or_default(),
            ..Environment::from_baked(&baked)
        };
        let manifest = fleet.as_ref().map(|f| &f.merged.manifest);
        archive::bootstrap::tail_members(&baked, &environment, manifest, compile)
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

/// Run `step` for every target in order. With several targets, a target that no
/// distribution of some package fits fails the build with one line naming both, or, with
/// `--skip-unsatisfiable`, is dropped with a warning; dropping all of them is an error.
fn for_each_target(
    stages: &mut Vec<Stage>,
    settings: &Settings,
    mut step: impl FnMut(&mut Stage) -> Result<()>,
) -> Result<()> {
    let several = stages.len() > 1;
    let mut kept = Vec::with_capacity(stages.len());
    for mut stage in std::mem::take(stages) {
        let Err(err) = step(&mut stage) else {
            kept.push(stage);
            continue;
        };
        let (Some(name), Some(unsatisfiable)) = (
            stage.name.as_ref().filter(|_| several),
            err.downcast_ref::<install::Unsatisfiable>(),
        ) else {
            return Err(err);
        };
        let package = &unsatisfiable.package;
        if !settings.skip_unsatisfiable {
            bail!("cannot build for {name}: no distribution of {package} fits it (--skip-unsatisfiable drops such a target)");
        }
        diagnostics::warning(&format!(
            "dropping the target {name}: no distribution of {package} fits it"
        ));
    }
    if kept.is_empty() {
        bail!("no target is left to build for: every one was dropped as unsatisfiable");
    }
    *stages = kept;
    Ok(())
}

/// A payload for several targets: the merged files, and each target's baked and recorded
/// fields.
struct Fleet {
    merged: fleet::Merged,
    baked: Vec<BakedTarget>,
    records: Vec<TargetRecord>,
}

fn fleet_payload(stages: &[Stage], trees: Vec<Tree>) -> Result<Fleet> {
    let files: Vec<Vec<PayloadFile>> = trees
        .iter()
        .map(|tree| tree.files.values().cloned().collect())
        .collect();
    let merged = fleet::merge(&files)?;
    let mut baked = Vec::with_capacity(trees.len());
    let mut records = Vec::with_capacity(trees.len());
    for ((stage, tree), summary) in stages.iter().zip(trees).zip(&merged.trees) {
        let name = stage
            .name
            .clone()
            .context("a target of several has no name")?;
        let target = BakedTarget {
            build_id: summary.build_id.clone(),
            python: name.python,
            platform: name.platform,
            native: tags::native_needs(&tree.distributions),
            files: summary.files,
            unpacked_bytes: summary.unpacked_bytes,
            console_scripts: tree.console_scripts,
            pth: tree.pth,
        };
        records.push(TargetRecord::of(&target, tree.distributions));
        baked.push(target);
    }
    Ok(Fleet {
        merged,
        baked,
        records,
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
