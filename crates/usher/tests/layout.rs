//! The shape of the code, checked so it stays as ARCHITECTURE.md describes it: no source file
//! under `crates/*/src` is over 500 lines (one file, one idea), and no two files of a crate use
//! each other, directly or around a longer circle (a reader can start at the bottom of a crate
//! and read up).
//!
//! Edges are read from the text: `crate::a::b` and `super::x` paths anywhere outside comments,
//! and a parent module's `child::` paths to the modules it declares. The crate root (`lib.rs`,
//! `main.rs`) is a facade of re-exports and is left out; test modules (`tests.rs`, `tests/`)
//! may use what they test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed.
const MAX_LINES: usize = 500;

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src` (`a/b.rs` and `a/b/mod.rs` → `["a", "b"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The text without `//` comments (doc comments name paths that are not uses) and without an
/// inline `mod tests { … }` (whose `super` is the file itself).
fn code(text: &str) -> String {
    let text = match text.find("mod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each run of path segments after `prefix` in `text` (`crate::a::b::C` → `["a", "b", "C"]`).
fn paths_after<'t>(text: &'t str, prefix: &str) -> Vec<Vec<&'t str>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segments: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        // `use super::{a, b}`: each name in the braces is a path of its own.
        if segments.is_empty() && rest.starts_with('{') {
            let close = rest.find('}').unwrap_or(rest.len());
            for name in rest[1..close].split(',') {
                let name = name.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    out.push(vec![name]);
                }
            }
        } else {
            out.push(segments);
        }
    }
    out
}

/// The longest known module that `path` (segments from the crate root) falls in.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[&str]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .find(|m| modules.contains(m))
}

fn is_test_module(module: &[String]) -> bool {
    module.iter().any(|m| m == "tests")
}

/// The circles among `edges`, each as the modules around it.
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in edges.keys() {
        // Depth-first search for a way back to `start`.
        let mut stack = vec![(start.clone(), vec![start.join("::")])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    found.push(trail.clone());
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.join("::"));
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(crates_dir()).unwrap().flatten() {
        rust_files(&krate.path().join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines, split by idea: {long:#?}"
    );
}

#[test]
fn no_two_files_of_a_crate_use_each_other() {
    let mut checked = 0;
    let mut all = Vec::new();
    for krate in std::fs::read_dir(crates_dir()).unwrap().flatten() {
        let src = krate.path().join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeMap<Vec<String>, String> = files
            .iter()
            .map(|f| {
                (
                    module_of(&src, f),
                    code(&std::fs::read_to_string(f).unwrap()),
                )
            })
            .collect();
        let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (module, text) in &modules {
            if module.is_empty() || is_test_module(module) {
                continue;
            }
            let mut targets = BTreeSet::new();
            for path in paths_after(text, "crate::") {
                targets.extend(resolve(&known, &path));
            }
            let parent = &module[..module.len() - 1];
            for path in paths_after(text, "super::") {
                let mut full: Vec<&str> = parent.iter().map(String::as_str).collect();
                full.extend(path);
                targets.extend(resolve(&known, &full));
            }
            for child in known.iter().filter(|m| m.len() == module.len() + 1) {
                let name = child.last().unwrap();
                if child.starts_with(module) && !paths_after(text, &format!("{name}::")).is_empty()
                {
                    targets.insert(child.clone());
                }
            }
            targets.retain(|t| t != module && !t.is_empty() && !is_test_module(t));
            checked += targets.len();
            edges.insert(module.clone(), targets);
        }
        let name = krate.file_name().to_string_lossy().into_owned();
        all.extend(
            circles(&edges)
                .into_iter()
                .map(|c| format!("{name}: {}", c.join(" → "))),
        );
    }
    assert!(checked > 50, "read only {checked} uses");
    assert!(
        all.is_empty(),
        "files that use each other in a circle: {all:#?}"
    );
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let m = |s: &str| vec![s.to_owned()];
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(
        circles(&edges).len(),
        3,
        "a→b→c→a seen from each of its files"
    );
    edges.insert(m("c"), BTreeSet::new());
    assert!(circles(&edges).is_empty());
    let known = BTreeSet::from([m("a"), vec!["a".to_owned(), "b".to_owned()]]);
    assert_eq!(
        resolve(&known, &["a", "b", "Thing"]),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(
        paths_after("use super::{x, y::Z};", "super::"),
        [vec!["x"], vec!["y"]]
    );
    assert_eq!(
        paths_after("mycrate::a", "crate::"),
        Vec::<Vec<&str>>::new()
    );
}
