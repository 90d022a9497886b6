//! The crate's shape. Its module graph: no two modules depend on each other, directly or
//! round a longer loop, so each can be read (and changed) after the ones it uses. And one
//! voice on stderr: only `diagnostics` (and `progress`, for its bars) writes there.
//!
//! The graph comes from the `crate::` and `super::` paths in `src/`: a file is a module
//! (`src/install/early.rs` is `install::early`, a `mod.rs` its folder), and a path names the
//! deepest module it reaches. A module using its own ancestor or descendant is not an edge:
//! a folder's `mod.rs` and its files are one unit. Test code (`tests.rs`, an inline
//! `#[cfg(test)] mod tests`) is left out: it uses what it tests and nothing uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Cycles tolerated for now, by the modules on them, sorted: none (the last one,
/// `install::early` <-> `install::project`, is gone).
const ALLOWED: &[&[&str]] = &[];

#[test]
fn the_crate_has_no_module_cycles() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let cycles: Vec<Vec<String>> = strongly_connected(&graph)
        .into_iter()
        .filter(|component| component.len() > 1)
        .filter(|component| {
            !ALLOWED.iter().any(|allowed| {
                allowed
                    .iter()
                    .copied()
                    .eq(component.iter().map(String::as_str))
            })
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "modules that depend on each other (each group is one cycle or more): {cycles:?}\n\
         edges: {}",
        cycles
            .iter()
            .flatten()
            .flat_map(|from| graph[from].iter().map(move |to| (from, to)))
            .filter(|(_, to)| cycles.iter().any(|c| c.contains(to)))
            .map(|(from, to)| format!("{from} -> {to}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Files that still write to stderr themselves, by path under `src/`, until their owners
/// move them to `diagnostics` (the installer's relayed output among them).
const OWN_STDERR: &[&str] = &["cache/mod.rs"];

#[test]
fn only_diagnostics_writes_to_stderr() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut writers = Vec::new();
    for entry in walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        let path = entry.path();
        let relative = path
            .strip_prefix(&src)
            .expect("under src/")
            .to_string_lossy()
            .into_owned();
        let allowed = ["diagnostics.rs", "progress.rs"].contains(&relative.as_str())
            || OWN_STDERR.contains(&relative.as_str())
            || relative == "tests.rs"
            || relative.ends_with("/tests.rs");
        if allowed || path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read a source file");
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        for (number, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            if ["eprintln!", "eprint!", "stderr()"]
                .iter()
                .any(|w| line.contains(w))
            {
                writers.push(format!("src/{relative}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        writers.is_empty(),
        "write to stderr through rshiv::diagnostics (note, warning, error):\n{}",
        writers.join("\n")
    );
}

/// Module -> the modules it uses, for every `.rs` file under `src` but `main.rs` (the
/// binary, which reaches the library by its name).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<(String, String)> = walkdir::WalkDir::new(src)
        .into_iter()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|entry| {
            let relative = entry.path().strip_prefix(src).ok()?.with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|last| last == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            match name.as_str() {
                "main" => None,
                _ if name == "tests" || name.ends_with("::tests") => None,
                "lib" => Some((String::new(), entry)),
                _ => Some((name, entry)),
            }
        })
        .map(|(name, entry)| {
            let mut text = std::fs::read_to_string(entry.path()).expect("read a source file");
            if let Some(tests) = text.find("#[cfg(test)]\nmod tests") {
                text.truncate(tests);
            }
            (name, text)
        })
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(name, _)| name.clone()).collect();
    let mut graph = BTreeMap::new();
    for (name, text) in &files {
        let parent = name.rsplit_once("::").map_or("", |(parent, _)| parent);
        let mut uses = BTreeSet::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (prefix, base) in [("crate::", ""), ("super::", parent)] {
                for path in paths_after(code, prefix) {
                    let full = if base.is_empty() {
                        path
                    } else {
                        format!("{base}::{path}")
                    };
                    let target = deepest_module(&full, &modules);
                    if !related(name, &target) {
                        uses.insert(target);
                    }
                }
            }
        }
        graph.insert(name.clone(), uses);
    }
    graph
}

/// The paths written after each `prefix` on a line: `crate::a::b::C` gives `a::b::C`,
/// `super::{x, y::z}` gives `x` and `y::z`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut paths = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            paths.extend(
                group
                    .split(',')
                    .map(|item| item.trim().split(' ').next().unwrap_or("").to_owned())
                    .filter(|item| !item.is_empty()),
            );
        } else {
            let end = rest.find(|c| !is_path(c)).unwrap_or(rest.len());
            paths.push(rest[..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The longest prefix of `path` that is one of `modules` (the crate root, `""`, at least).
fn deepest_module(path: &str, modules: &BTreeSet<String>) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    (0..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
        .unwrap_or_default()
}

/// Whether one module is the other or contains it.
fn related(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
    };
    within(a, b) || within(b, a)
}

/// Tarjan's strongly connected components, each sorted.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for target in graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_owned());
                if member == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components
}
