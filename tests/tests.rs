//! rshiv's integration tests: the real binary builds real pyz files with real pip and uv,
//! and real CPythons run them. One module per topic.

// The harness: temp dirs, commands, fixture wheels and projects, reading a pyz.
mod support;

// The command line itself: --help and --version.
mod cli;

// Building: the output file, its bytes, and every build option.
mod build;

// The fixtures themselves, checked with pip and uv alone.
mod fixtures;

// Running a pyz: dispatch, sys.path, .pth files, the cache, under every CPython.
mod run;

// Cross-target builds, and compiled extensions for another interpreter refused at run time.
mod cross;

// The runtime under stress: crowds, kills, unwritable roots, full disks, huge payloads.
mod reliability;

// A pyz among others: the extraction lock, forced re-extraction and rebuilds while running.
mod concurrency;

// The SHIV_*/RSHIV_* variables a pyz reads at run time.
mod env;

// Bad input: one clear error naming the culprit, no panic, nothing left behind.
mod errors;

// Operating: rshiv info, rshiv cache, [tool.rshiv], the deployment examples.
mod ops;

// The package index: the simple_api example built and served (RSHIV_TEST_OFFLINE=1 skips).
mod network;
