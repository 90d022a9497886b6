//! rshiv's integration tests: the real binary builds real pyz files with real pip and uv,
//! and real CPythons run them. One module per topic.

// The harness: temp dirs, commands, fixture wheels and projects, reading a pyz.
mod support;

// The command line itself: --help and --version.
mod cli;

// The crate's shape: no module cycles.
mod modules;

// Building: the pyz file, its bytes on disk, compression.
mod build;

// One fixed build whose build id and bytes are checked in: refactors change nothing.
mod golden;

// The installers and their arguments, the current directory's project, --site-packages.
mod install;

// Locked builds: uv.lock pins the payload, hashes enforced.
mod lock;

// Local projects built by rshiv in its reused build environment, or left to the installer.
mod project_build;

// What a pyz runs: -c and -e at build time, dispatch at run time.
mod entry;

// Native console scripts: a compiled bin/NAME exec'd in place of the bootstrap.
mod native_scripts;

// Build options baked into the pyz: --root, --build-id, --preamble, --compile-pyc, ...
mod baked;

// The fixtures themselves, checked with pip and uv alone.
mod fixtures;

// The app's world at run time: sys.path, .pth files, file fidelity, metadata.
mod run;

// The extraction cache: reuse, crashes, concurrent first runs.
mod cache;

// Cross-target builds, and compiled extensions for another interpreter refused at run time.
mod cross;

// Multi-target builds: one payload for several Python versions and platforms.
mod fleet;

// One multi-target pyz run by every CPython: each picks and unpacks its own target.
mod fleet_run;

// The runtime under stress: crowds, kills, unwritable roots, full disks, huge payloads.
mod reliability;

// A pyz among others: the extraction lock, forced re-extraction and rebuilds while running.
mod concurrency;

// Bytecode of the extraction: warm starts import .pyc whatever PYTHONDONTWRITEBYTECODE says.
mod bytecode;

// The SHIV_*/RSHIV_* variables a pyz reads at run time.
mod env;

// Bad input: one clear error naming the culprit, no panic, nothing left behind.
mod errors;

// Operating: rshiv info, rshiv cache, [tool.rshiv], the deployment examples.
mod ops;

// The package index: the simple_api example built and served (RSHIV_TEST_OFFLINE=1 skips).
mod network;

// rshiv as a Python package: the wheel and sdist maturin builds, installed with pip and uv.
mod wheel;

// Safe on a shared machine: issue 12's attacks by a second local user, each refused.
mod shared_machine;

// Native executables (--python-dist): the bundled interpreter, run with the host's hidden.
mod native;
