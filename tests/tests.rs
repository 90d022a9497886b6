//! rshiv's integration tests: the real binary builds real pyz files with real pip and uv,
//! and real CPythons run them. One module per topic.

// The harness: temp dirs, commands, fixture wheels and projects, reading a pyz.
mod support;

// Building: the output file, its bytes, and every build option.
mod build;

// The fixtures themselves, checked with pip and uv alone.
mod fixtures;
