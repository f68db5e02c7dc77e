//! The architecture, checked on every `cargo test`: data flows one way through `src/`.
//!
//! 1. **No import cycle** between files, nor between top-level modules. Every `use` statement
//!    and every inline `crate::`/`super::`/`self::` path in code (comments and doc links
//!    aside) is resolved to the file that *defines* the item, following `pub use`
//!    re-exports; a `pub use` itself forwards and is not a dependency. A folder's `mod.rs`
//!    declaring its children (and `policy/mod.rs`'s list of built-in halves) is the module
//!    tree, not an import.
//! 2. **Policy knowledge stays in `src/policy/`**: no string literal outside it names a
//!    registered policy half or alias (the CLI's help text is doc comments, not literals).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file: its module path (`["policy", "elsa"]`; `[]` for lib.rs) and its code with
/// comments removed.
struct File {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Remove `//` comments (doc comments included) and block comments; keep string literals.
fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c as char);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        // A char literal such as '"' must not open a string.
        if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            out.push_str(&s[i..i + 3]);
            i += 3;
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c as char);
        i += 1;
    }
    out
}

fn load() -> Vec<File> {
    let mut paths = Vec::new();
    walk(Path::new("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p != Path::new("src/main.rs"))
        .map(|p| {
            let rel: Vec<String> = p
                .strip_prefix("src")
                .unwrap()
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let mut module: Vec<String> = rel.clone();
            let last = module.pop().unwrap();
            if last != "mod.rs" && last != "lib.rs" {
                module.push(last.trim_end_matches(".rs").to_string());
            }
            let code = strip_comments(&std::fs::read_to_string(&p).unwrap());
            File {
                path: p,
                module,
                code,
            }
        })
        .collect()
}

/// Expand a use tree (`a::{b, c::{d as e, self}}`) into paths of segments.
fn expand(tree: &str) -> Vec<Vec<String>> {
    // One space between words, none around punctuation: `a::{b as c,d}`.
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut tree = words.join(" ");
    for p in ["::", "{", "}", ","] {
        tree = tree
            .replace(&format!(" {p}"), p)
            .replace(&format!("{p} "), p);
    }
    fn go(prefix: &[String], t: &str, out: &mut Vec<Vec<String>>) {
        // Split at top-level commas.
        let mut depth = 0;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in t.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&t[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&t[start..]);
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            if let Some(open) = part.find('{') {
                let head = part[..open].trim_end_matches("::");
                let mut p = prefix.to_vec();
                p.extend(head.split("::").filter(|s| !s.is_empty()).map(String::from));
                go(&p, &part[open + 1..part.len() - 1], out);
            } else {
                let part = part.split(" as ").next().unwrap();
                let mut p = prefix.to_vec();
                p.extend(part.split("::").filter(|s| !s.is_empty()).map(String::from));
                if p.last().is_some_and(|s| s == "self") {
                    p.pop();
                }
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    go(&[], &tree, &mut out);
    out
}

/// The `use` statements of a file: (is `pub use`, expanded paths).
fn uses(code: &str) -> Vec<(bool, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let at_start = before.is_empty()
            || before.ends_with('\n')
            || before.ends_with(' ')
            || before.ends_with(';');
        let line_start = before.rfind('\n').map_or(0, |k| k + 1);
        let lead = before[line_start..].trim();
        let is_pub = lead.starts_with("pub");
        let ok = at_start && (lead.is_empty() || is_pub || lead.starts_with('#'));
        let tail = &rest[i + 4..];
        let Some(end) = tail.find(';') else { break };
        if ok {
            out.push((is_pub, expand(&tail[..end])));
        }
        rest = &tail[end..];
    }
    out
}

/// Inline `crate::a::b` / `super::x` / `self::y` paths in code outside `use` statements.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in code.lines() {
        let t = line.trim_start();
        if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            continue;
        }
        for root in ["crate::", "super::", "self::"] {
            let mut from = 0;
            while let Some(k) = line[from..].find(root) {
                let at = from + k;
                let prev = line[..at].chars().last();
                from = at + root.len();
                if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let path: String = line[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                out.push(
                    path.split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
        }
    }
    out
}

struct Crate {
    files: Vec<File>,
    /// Module path -> file index.
    modules: BTreeMap<Vec<String>, usize>,
    /// (module, name bound by a `use` there) -> the absolute path it stands for.
    reexports: BTreeMap<(Vec<String>, String), Vec<String>>,
}

impl Crate {
    fn new() -> Crate {
        let files = load();
        let modules = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        let mut c = Crate {
            files,
            modules,
            reexports: BTreeMap::new(),
        };
        // Every `use` binds a name in its module (a child reaches its parent's private
        // imports through `super::`), so resolution follows them all.
        for i in 0..c.files.len() {
            for (_, paths) in uses(&c.files[i].code) {
                for p in paths {
                    let abs = c.absolute(i, &p);
                    if let Some(name) = abs.last() {
                        c.reexports
                            .insert((c.files[i].module.clone(), name.clone()), abs.clone());
                    }
                }
            }
        }
        c
    }

    /// A path as written in file `i`, made absolute (without the `crate` root).
    fn absolute(&self, i: usize, p: &[String]) -> Vec<String> {
        let f = &self.files[i];
        let is_mod_file = f.path.ends_with("mod.rs") || f.path.ends_with("lib.rs");
        let mut base: Vec<String> = f.module.clone();
        let mut segs = p;
        match segs.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                segs = &segs[1..];
            }
            Some("super") => {
                while segs.first().is_some_and(|s| s == "super") {
                    base.pop();
                    segs = &segs[1..];
                }
            }
            Some("self") => segs = &segs[1..],
            // A path relative to this module (`use child::X` in a mod.rs).
            Some(first)
                if is_mod_file
                    && self
                        .modules
                        .contains_key(&[&base[..], &[first.to_string()]].concat()) => {}
            _ => return Vec::new(),
        }
        base.extend(segs.iter().cloned());
        base
    }

    /// The file that defines the item at absolute path `p`.
    fn resolve(&self, p: &[String], depth: usize) -> Option<usize> {
        let mut m: Vec<String> = Vec::new();
        for (k, s) in p.iter().enumerate() {
            let mut next = m.clone();
            next.push(s.clone());
            if self.modules.contains_key(&next) {
                m = next;
                continue;
            }
            if depth < 8
                && let Some(target) = self.reexports.get(&(m.clone(), s.clone()))
            {
                let mut t = target.clone();
                t.extend(p[k + 1..].iter().cloned());
                return self.resolve(&t, depth + 1);
            }
            break;
        }
        self.modules.get(&m).copied()
    }

    /// File -> the files it depends on.
    fn edges(&self) -> Vec<BTreeSet<usize>> {
        (0..self.files.len())
            .map(|i| {
                let code = &self.files[i].code;
                let mut paths: Vec<Vec<String>> = uses(code)
                    .into_iter()
                    .filter(|(is_pub, _)| !is_pub)
                    .flat_map(|(_, p)| p)
                    .collect();
                paths.extend(inline_paths(code));
                paths
                    .iter()
                    .map(|p| self.absolute(i, p))
                    .filter(|a| !a.is_empty())
                    .filter_map(|a| self.resolve(&a, 0))
                    .filter(|&j| j != i)
                    .collect()
            })
            .collect()
    }
}

/// Every cycle's members (strongly connected components with more than one node).
fn cycles(n: usize, edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    // Tarjan's algorithm.
    struct T<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.edges[v].clone().iter() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_cycle_between_files_or_top_level_modules() {
    let c = Crate::new();
    let edges = c.edges();
    // The checker itself must see the imports it is meant to check.
    let find = |p: &str| c.files.iter().position(|f| f.path == Path::new(p)).unwrap();
    let (sim, instance, policy, view, batcher, elsa) = (
        find("src/engine/sim.rs"),
        find("src/engine/instance.rs"),
        find("src/policy/mod.rs"),
        find("src/server/view.rs"),
        find("src/server/batcher.rs"),
        find("src/policy/elsa.rs"),
    );
    assert!(
        edges[sim].contains(&policy),
        "the loop calls the Scheduler trait"
    );
    assert!(
        edges[instance].contains(&batcher) && edges[view].contains(&batcher),
        "the batching instance and the view both apply the batcher's rules"
    );
    assert!(
        edges[elsa].contains(&view),
        "ELSA reads the server through the view"
    );
    let names = |v: &[usize]| {
        v.iter()
            .map(|&i| c.files[i].path.display().to_string())
            .collect::<Vec<_>>()
            .join(" <-> ")
    };
    let file_cycles = cycles(c.files.len(), &edges);
    assert!(
        file_cycles.is_empty(),
        "import cycles between files: {}",
        file_cycles
            .iter()
            .map(|v| names(v))
            .collect::<Vec<_>>()
            .join("; ")
    );
    // Top-level modules (`engine`, `policy`, `server`, ...; lib.rs's own items as `lib`).
    let top = |i: usize| {
        c.files[i]
            .module
            .first()
            .cloned()
            .unwrap_or_else(|| "lib".into())
    };
    let tops: Vec<String> = {
        let s: BTreeSet<String> = (0..c.files.len()).map(top).collect();
        s.into_iter().collect()
    };
    let id = |s: &str| tops.iter().position(|t| t == s).unwrap();
    let mut tedges = vec![BTreeSet::new(); tops.len()];
    for (i, e) in edges.iter().enumerate() {
        for &j in e {
            let (a, b) = (id(&top(i)), id(&top(j)));
            if a != b && top(i) != "lib" {
                tedges[a].insert(b);
            }
        }
    }
    let top_cycles = cycles(tops.len(), &tedges);
    assert!(
        top_cycles.is_empty(),
        "import cycles between top-level modules: {:?}",
        top_cycles
            .iter()
            .map(|v| v.iter().map(|&k| tops[k].clone()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    // The flow, spot-checked: the engine reads no report, the server no policy, the policies
    // no engine internals but the view.
    let depends = |a: &str, b: &str| tedges[id(a)].contains(&id(b));
    assert!(!depends("server", "policy") && !depends("server", "engine"));
    assert!(!depends("policy", "engine") && !depends("engine", "metrics"));
    assert!(!depends("service", "policy") && !depends("metrics", "report"));
}

#[test]
fn no_policy_name_in_a_string_literal_outside_src_policy() {
    let reg = mig_replay::policy::Registry::builtin();
    let mut names: Vec<&str> = reg.partitioners().iter().map(|e| e.name).collect();
    names.extend(reg.schedulers().iter().map(|e| e.name));
    names.extend(reg.aliases().iter().map(|a| a.name));
    let c = Crate::new();
    let mut found = Vec::new();
    for f in c.files.iter().filter(|f| !f.path.starts_with("src/policy")) {
        // Every string literal of the code.
        let mut rest = f.code.as_str();
        while let Some(a) = rest.find('"') {
            let tail = &rest[a + 1..];
            let mut end = 0;
            let b = tail.as_bytes();
            while end < b.len() && b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            let lit = &tail[..end.min(tail.len())];
            let words: Vec<&str> = lit
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '-' || ch == '_'))
                .collect();
            for n in &names {
                if words.contains(n) {
                    found.push(format!("{}: \"{lit}\" names '{n}'", f.path.display()));
                }
            }
            rest = &tail[(end + 1).min(tail.len())..];
        }
    }
    assert!(
        found.is_empty(),
        "policy names outside src/policy/: {found:#?}"
    );
    // The check sees literals: the policy files themselves name their halves.
    let elsa = c
        .files
        .iter()
        .find(|f| f.path == Path::new("src/policy/elsa.rs"))
        .unwrap();
    assert!(elsa.code.contains("name: \"elsa\""));
}

#[test]
fn the_checker_finds_a_cycle_and_resolves_reexports() {
    // 0 -> 1 -> 2 -> 0 is a cycle; 3 -> 0 is not part of it.
    let e: Vec<BTreeSet<usize>> = vec![[1].into(), [2].into(), [0].into(), [0].into()];
    let mut c = cycles(4, &e);
    c[0].sort();
    assert_eq!(c, vec![vec![0, 1, 2]]);
    assert!(cycles(2, &[[1].into(), BTreeSet::new()]).is_empty());
    assert_eq!(
        expand("crate::a::{b as c, d::{self, E}, F}"),
        [
            vec!["crate", "a", "b"],
            vec!["crate", "a", "d"],
            vec!["crate", "a", "d", "E"],
            vec!["crate", "a", "F"]
        ]
    );
    // `crate::server::ServerView` is defined in server/view.rs, re-exported by server/mod.rs.
    let k = Crate::new();
    let p: Vec<String> = ["server", "ServerView"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let f = k.resolve(&p, 0).unwrap();
    assert_eq!(k.files[f].path, Path::new("src/server/view.rs"));
}
