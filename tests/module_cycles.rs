//! Guards the layering of `src/`: at every level of the module tree, the sibling modules must not
//! use each other in a cycle (`detect` → `score` → `detect`, or `a` → `b` → `c` → `a`). It reads the
//! sources as text, so it needs no build of the crate and names the files that close a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module path from the crate root, e.g. `["processor", "windowed"]`.
type ModPath = Vec<String>;

/// Every `.rs` file under `src/` with its module path (`mod.rs` and `lib.rs` name their folder).
fn source_files() -> Vec<(ModPath, PathBuf)> {
    fn walk(dir: &Path, prefix: &ModPath, out: &mut Vec<(ModPath, PathBuf)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut inner = prefix.clone();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.clone();
                if name != "mod" && name != "lib" && name != "main" {
                    module.push(name);
                }
                out.push((module, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &Vec::new(),
        &mut out,
    );
    out
}

/// Removes comments and string literals, so paths in docs and messages do not count.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A char literal such as 'x' or '\n' (lifetimes have no closing quote).
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b => {
                out.push(b as char);
                i += 1;
            }
        }
    }
    out
}

/// Expands a `use` tree such as `crate::{a::B, c::{d, e}}` into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let close = tree.rfind('}').expect("a balanced use tree");
    let prefix = &tree[..open];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for (i, c) in tree.char_indices().take(close).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..close]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand_use(&format!("{prefix}{p}")))
        .collect()
}

/// Every module path a file refers to, resolved from the crate root.
/// `super` is the parent of the file's module whether the file is `x.rs` or `x/mod.rs`.
fn references(module: &ModPath, code: &str) -> BTreeSet<ModPath> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let stmt = &rest[at + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            paths.extend(expand_use(&stmt[..end]));
        }
        rest = &stmt[end..];
    }
    // Paths written inline in code: `crate::a::b::f()`, `super::x::Y`.
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            let mut end = at;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || b"_:".contains(&bytes[end]))
            {
                end += 1;
            }
            let preceded = at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':');
            if !preceded {
                paths.push(code[at..end].to_string());
            }
            from = end.max(at + 1);
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let mut resolved: ModPath = match *segs.first()? {
                "crate" => Vec::new(),
                "super" => module[..module.len().saturating_sub(1)].to_vec(),
                "self" => module.clone(),
                _ => return None,
            };
            let mut rest = &segs[1..];
            while rest.first() == Some(&"super") {
                resolved.pop();
                rest = &rest[1..];
            }
            resolved.extend(rest.iter().map(|s| s.to_string()));
            Some(resolved)
        })
        .collect()
}

/// The edges between siblings: `(parent, from child, to child)` with the file that makes each.
fn sibling_edges() -> BTreeMap<(ModPath, String, String), BTreeSet<String>> {
    let files = source_files();
    let modules: BTreeSet<ModPath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges: BTreeMap<(ModPath, String, String), BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        let code = code_only(&fs::read_to_string(path).expect("a readable source file"));
        for target in references(module, &code) {
            // The longest prefix of the path that is a module (the rest names items).
            let Some(target) = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            // Where the two paths part: siblings under their common parent.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                let parent = module[..common].to_vec();
                let rel = path
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(path);
                edges
                    .entry((parent, module[common].clone(), target[common].clone()))
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    edges
}

/// The cycles among the children of each parent, each as the list of modules around it.
fn cycles(
    edges: &BTreeMap<(ModPath, String, String), BTreeSet<String>>,
) -> Vec<(ModPath, Vec<String>)> {
    let mut graphs: BTreeMap<&ModPath, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for (parent, from, to) in edges.keys() {
        graphs
            .entry(parent)
            .or_default()
            .entry(from)
            .or_default()
            .insert(to);
    }
    let mut found = Vec::new();
    for (parent, graph) in graphs {
        // Each strongly connected component with more than one module is a cycle (Tarjan).
        struct Tarjan<'a> {
            graph: &'a BTreeMap<&'a str, BTreeSet<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            components: Vec<Vec<String>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a str) {
                let n = self.index.len();
                self.index.insert(v, n);
                self.low.insert(v, n);
                self.stack.push(v);
                for &w in self.graph.get(v).into_iter().flatten() {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let low = self.low[v].min(self.low[w]);
                        self.low.insert(v, low);
                    } else if self.stack.contains(&w) {
                        let low = self.low[v].min(self.index[w]);
                        self.low.insert(v, low);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        component.push(w.to_string());
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        self.components.push(component);
                    }
                }
            }
        }
        let mut t = Tarjan {
            graph: &graph,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            components: Vec::new(),
        };
        for &v in graph.keys() {
            if !t.index.contains_key(v) {
                t.visit(v);
            }
        }
        found.extend(t.components.into_iter().map(|c| (parent.clone(), c)));
    }
    found
}

#[test]
fn no_module_uses_a_sibling_that_uses_it_back() {
    let edges = sibling_edges();
    let found = cycles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|(parent, members)| {
            let at = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            let mut lines = vec![format!("cycle under {at}: {}", members.join(" ⇄ "))];
            for ((p, from, to), files) in &edges {
                if p == parent && members.contains(from) && members.contains(to) {
                    lines.push(format!(
                        "  {from} → {to}: {}",
                        files.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            lines.join("\n")
        })
        .collect();
    assert!(
        found.is_empty(),
        "modules use each other in a cycle; move the shared types down a layer:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_and_grouped_imports() {
    let paths = expand_use("crate::{a::B, c::{d, e::F}}");
    assert_eq!(paths, ["crate::a::B", "crate::c::d", "crate::c::e::F"]);
    let module = vec!["score".to_string(), "engagement".to_string()];
    let refs = references(
        &module,
        "use super::emote_list::X; fn f() { crate::detect::spike::g() }",
    );
    assert_eq!(
        refs,
        BTreeSet::from([
            vec!["score".to_string(), "emote_list".into(), "X".into()],
            vec!["detect".into(), "spike".into(), "g".into()]
        ])
    );
    let mut edges = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges.insert(
            (Vec::new(), from.to_string(), to.to_string()),
            BTreeSet::from(["f.rs".to_string()]),
        );
    }
    assert_eq!(
        cycles(&edges),
        [(Vec::new(), vec!["a".to_string(), "b".into(), "c".into()])]
    );
}
