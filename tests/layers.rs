//! The house's layers, read from the source as a reviewer would: no module imports a module
//! that imports it back, the wizard reaches neither the adapters nor the command line, and the
//! core does no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the crate: `core::answers` → its file.
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let module = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}::{name}")
            };
            if path.is_dir() {
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = match name.as_str() {
                    "mod" => prefix.to_string(),
                    "lib" | "main" if prefix.is_empty() => continue,
                    _ => module,
                };
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), "", &mut out);
    out
}

/// The code of a file without its `#[cfg(test)]` tail and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a module's code names, by `crate::` and `super::` paths (the longest known
/// module prefix of each path).
fn imports(module: &str, path: &Path, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let text = code(path);
    let is_mod_rs = path.file_name().is_some_and(|n| n == "mod.rs");
    let parent = if is_mod_rs {
        module.rsplit_once("::").map(|(p, _)| p).unwrap_or("")
    } else {
        module.rsplit_once("::").map(|(p, _)| p).unwrap_or("")
    };
    let own = if is_mod_rs { module } else { parent };
    let mut out = BTreeSet::new();
    let word =
        |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '{' || c == ',' || c == ' ';
    for (marker, base) in [("crate::", String::new()), ("super::", own.to_string())] {
        let base = if marker == "super::" && is_mod_rs {
            parent.to_string()
        } else {
            base
        };
        for (i, _) in text.match_indices(marker) {
            let rest: String = text[i + marker.len()..]
                .chars()
                .take_while(|c| word(*c))
                .collect();
            // Expand one level of braces: `crate::engine::{seed::X, error::E}`.
            let (head, group) = match rest.split_once('{') {
                Some((h, g)) => (h.trim_end_matches("::").to_string(), Some(g.to_string())),
                None => (rest.clone(), None),
            };
            let mut paths = vec![head.clone()];
            if let Some(g) = group {
                for part in g.split(',') {
                    let part = part.trim();
                    if !part.is_empty() {
                        paths.push(format!("{head}::{part}"));
                    }
                }
            }
            for p in paths {
                let full: Vec<&str> = p
                    .split("::")
                    .filter_map(|s| s.split_whitespace().next())
                    .collect();
                let mut candidate: Vec<String> = Vec::new();
                if !base.is_empty() {
                    candidate.push(base.clone());
                }
                let mut best = None;
                for seg in full {
                    candidate.push(seg.to_string());
                    let name = candidate.join("::");
                    if known.contains_key(&name) {
                        best = Some(name);
                    }
                }
                if let Some(b) = best
                    && b != module
                {
                    out.insert(b);
                }
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    known
        .iter()
        .map(|(m, p)| (m.clone(), imports(m, p, &known)))
        .collect()
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let g = graph();
    assert!(g.contains_key("core::answers") && g.contains_key("engine::runner"));
    assert!(
        g["engine::runner"].contains("engine::seed"),
        "the reader finds imports: {:?}",
        g["engine::runner"]
    );
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in g.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in g.keys() {
        if let Some(cycle) = visit(node, &g, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_wizard_reaches_neither_adapters_nor_the_command_line() {
    let g = graph();
    for (module, imports) in g.iter().filter(|(m, _)| m.starts_with("tui")) {
        for i in imports {
            assert!(
                !i.starts_with("adapters") && !i.starts_with("cli"),
                "{module} imports {i}: the wizard talks to the engine only"
            );
        }
    }
}

#[test]
fn the_core_imports_only_the_core_and_does_no_io() {
    let g = graph();
    let known = modules();
    for (module, imports) in g.iter().filter(|(m, _)| m.starts_with("core")) {
        for i in imports {
            assert!(
                i.starts_with("core") || i == "exit",
                "{module} imports {i}: the core depends on nothing above it"
            );
        }
        let text = code(&known[module]);
        for io in [
            "std::fs",
            "TcpStream",
            "UdpSocket",
            "to_socket_addrs",
            "std::process",
            "std::env",
            "std::io::stdin",
            "tokio::",
            "reqwest",
            "File::",
            "println!",
            "eprintln!",
        ] {
            assert!(!text.contains(io), "{module} does I/O: {io}");
        }
    }
}
