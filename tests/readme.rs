//! The README and the docs cannot drift: every command in the ```bash blocks of `README.md` and
//! of every `docs/*.md` file runs here, and what a file says a command prints, it prints.
//! `docs/PLUGINS.md` is the exception: its blocks are a plugin crate's (`cargo new`, its own
//! binary), and its Rust is compiled as a doc test of `src/lib.rs`.
//!
//! Each file's commands run in order in a scratch folder of their own that sees the repository's
//! inputs (`traces/`, `profiles/`, `experiments/`, `examples/`), so their outputs (`reports/...`)
//! stay out of the checkout. `cargo run --release -- ARGS` runs the test build of the binary,
//! `cargo run --release --example NAME -- ARGS` the example's; `cargo test` is this very suite
//! and is not run again. One substitution keeps the suite fast: `bench-all` without `--config`
//! runs on `experiments/ci.toml` (the README says so). After a ```bash block, a ```text block
//! lists lines the block's last command prints, and a "prints `X`" sentence a text it prints
//! (whitespace aside). Relative links between these files lead to a file and, with `#anchor`,
//! to one of its headings.

mod common;

use std::path::{Path, PathBuf};

#[derive(Debug)]
struct Block {
    lang: String,
    lines: Vec<String>,
    /// The prose between this block and the next one.
    after: String,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut cur: Option<Block> = None;
    let mut prose = String::new();
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => {
                    if let Some(last) = out.last_mut() {
                        last.after = std::mem::take(&mut prose);
                    }
                    prose.clear();
                    cur = Some(Block {
                        lang: lang.trim().to_string(),
                        lines: Vec::new(),
                        after: String::new(),
                    });
                }
            }
            continue;
        }
        match &mut cur {
            Some(b) => b.lines.push(line.to_string()),
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    if let Some(last) = out.last_mut() {
        last.after = prose;
    }
    out
}

/// The commands of a bash block: continuation lines joined, comments and blank lines dropped.
fn commands(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for l in lines {
        let l = l.trim();
        if cur.is_empty() && (l.is_empty() || l.starts_with('#')) {
            continue;
        }
        let (body, more) = match l.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (l, false),
        };
        // A trailing `  # comment`.
        let body = match body.find("  #") {
            Some(k) => &body[..k],
            None => body,
        };
        cur.push_str(body.trim());
        cur.push(' ');
        if !more {
            out.push(cur.trim().to_string());
            cur.clear();
        }
    }
    out
}

/// Split a command line into words (single and double quotes group).
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut w = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in cmd.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => w.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !w.is_empty() {
                    out.push(std::mem::take(&mut w));
                    any = false;
                }
            }
            None => w.push(c),
        }
    }
    if any || !w.is_empty() {
        out.push(w);
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn link(scratch: &Path, name: &str) {
    let repo = std::env::current_dir().unwrap();
    std::os::unix::fs::symlink(repo.join(name), scratch.join(name)).unwrap();
}

/// What one file's blocks did: commands run, quoted lines and texts checked.
struct Checked {
    ran: usize,
    checked: usize,
}

/// Run the commands of the Markdown file `doc` (relative to the repository) in a scratch folder
/// and check what it quotes of their output; panics naming the file and the command.
fn check(doc: &str) -> Checked {
    let text = std::fs::read_to_string(doc).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for d in ["traces", "profiles", "experiments", "examples"] {
        link(scratch.path(), d);
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mig-replay"));
    let bs = blocks(&text);
    let mut ran = 0;
    let mut checked = 0;
    let mut last_out = String::new();
    for (k, b) in bs.iter().enumerate() {
        match b.lang.as_str() {
            "bash" => {}
            "sh" | "shell" | "console" | "zsh" => {
                panic!(
                    "{doc}: a ```{} block, which this test would skip: write ```bash",
                    b.lang
                )
            }
            "text" => {
                // Lines the previous bash block's last command printed.
                assert!(
                    k > 0 && bs[k - 1].lang == "bash",
                    "{doc}: a text block follows a bash block"
                );
                for l in b.lines.iter().filter(|l| l.trim() != "...") {
                    assert!(
                        last_out.lines().any(|o| o.trim_end() == l.trim_end()),
                        "{doc} quotes a line the command does not print:\n{l}\n--- it printed:\n{last_out}"
                    );
                    checked += 1;
                }
                continue;
            }
            _ => continue,
        }
        for cmd in commands(&b.lines) {
            let w = words(&cmd);
            let (exe, mut args): (PathBuf, Vec<String>) =
                match w.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    ["cargo", "test"] => continue,
                    ["cargo", "run", "--release", "--", rest @ ..] => {
                        (bin.clone(), rest.iter().map(|s| s.to_string()).collect())
                    }
                    [
                        "cargo",
                        "run",
                        "--release",
                        "--example",
                        name,
                        "--",
                        rest @ ..,
                    ] => (
                        common::example_binary(name),
                        rest.iter().map(|s| s.to_string()).collect(),
                    ),
                    other => panic!("{doc}: a command this test cannot run: {other:?}"),
                };
            if args.first().is_some_and(|a| a == "bench-all")
                && !args.iter().any(|a| a == "--config")
            {
                args.extend(["--config".into(), "experiments/ci.toml".into()]);
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = common::run_in(&exe, &argv, Some(scratch.path()));
            assert_eq!(
                o.code, 0,
                "{doc}: command failed: {cmd}\n{}\n{}",
                o.stdout, o.stderr
            );
            last_out = o.stdout;
            ran += 1;
        }
        // "prints `X`" after the block: its last command printed X.
        let mut rest = b.after.as_str();
        while let Some(i) = rest.find("prints `") {
            let tail = &rest[i + 8..];
            let end = tail.find('`').unwrap();
            assert!(
                squash(&last_out).contains(&squash(&tail[..end])),
                "{doc} says the command prints `{}`; it printed:\n{last_out}",
                &tail[..end]
            );
            checked += 1;
            rest = &tail[end..];
        }
    }
    Checked { ran, checked }
}

#[test]
fn every_readme_command_runs_and_prints_what_the_readme_says() {
    let c = check("README.md");
    // The README's two commands are among them, and so is its verdict.
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(readme.contains("cargo run --release -- bench-all") && readme.contains("cargo test"));
    assert!(c.ran >= 3, "{} commands ran", c.ran);
    assert!(c.checked >= 12, "{} quoted lines checked", c.checked);
}

/// One test per file of `docs/`, so that they run side by side and a failure names its file.
macro_rules! docs {
    ($($test:ident: $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*
        const DOCS: &[&str] = &[$($file),*];
    };
}

docs! {
    docs_architecture: "docs/architecture.md",
    docs_commands: "docs/commands.md",
    docs_correctness: "docs/correctness.md",
    docs_data: "docs/data.md",
    docs_gpu_kinds: "docs/gpu-kinds.md",
    docs_llm: "docs/llm.md",
    docs_llm_planning: "docs/llm-planning.md",
    docs_llm_profiles: "docs/llm-profiles.md",
    docs_model: "docs/model.md",
    docs_outputs: "docs/outputs.md",
    docs_performance: "docs/performance.md",
    docs_policies: "docs/policies.md",
    docs_reconfiguration: "docs/reconfiguration.md",
    docs_sweeps: "docs/sweeps.md",
}

/// The Markdown files of `docs/`, sorted.
fn docs_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("docs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn every_docs_file_is_run_here() {
    let mut want: Vec<&str> = DOCS.to_vec();
    want.push("docs/PLUGINS.md"); // its blocks: a plugin crate's, and a doc test
    want.sort();
    assert_eq!(
        docs_files(),
        want,
        "a docs/*.md file without its line on the docs! list of tests/readme.rs (or a line \
         naming a file that is gone)"
    );
    // And PLUGINS.md has no block this test would run.
    let plugins = std::fs::read_to_string("docs/PLUGINS.md").unwrap();
    for b in blocks(&plugins).iter().filter(|b| b.lang == "bash") {
        assert!(
            commands(&b.lines)
                .iter()
                .all(|c| !c.starts_with("cargo run")),
            "docs/PLUGINS.md runs mig-replay in a bash block: list it on docs! instead"
        );
    }
}

/// GitHub's anchor of a heading: lower case, spaces as `-`, punctuation but `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && l.starts_with('#') {
            out.push(anchor(l.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of a Markdown file's links that name a Markdown file or an anchor:
/// `[text](other.md#anchor)`, `[text](#anchor)`.
fn md_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let tail = &rest[i + 2..];
        let end = tail.find(')').unwrap_or(tail.len());
        let target = &tail[..end];
        if !target.contains("://")
            && !target.contains(char::is_whitespace)
            && (target.starts_with('#') || target.split('#').next().unwrap().ends_with(".md"))
        {
            out.push(target.to_string());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_link_between_the_readme_and_the_docs_leads_somewhere() {
    let mut files = vec!["README.md".to_string()];
    files.extend(docs_files());
    let mut n = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let dir = Path::new(f).parent().unwrap();
        for target in md_links(&text) {
            let (path, frag) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let to = if path.is_empty() {
                PathBuf::from(f)
            } else {
                dir.join(path)
            };
            let body = std::fs::read_to_string(&to)
                .unwrap_or_else(|e| panic!("{f}: the link ({target}) leads to no file: {e}"));
            if let Some(a) = frag {
                assert!(
                    anchors(&body).iter().any(|h| h == a),
                    "{f}: the link ({target}) names no heading of {}",
                    to.display()
                );
            }
            n += 1;
        }
    }
    // The README's map names every file of docs/.
    let readme = std::fs::read_to_string("README.md").unwrap();
    for d in docs_files() {
        assert!(
            readme.contains(&format!("]({d})")),
            "the README's map lacks {d}"
        );
    }
    assert!(n >= 20, "{n} links checked");
}

#[test]
fn the_anchors_and_links_are_read_as_github_does() {
    assert_eq!(
        anchor(" Replaying a day of traffic: `run --stream`"),
        "replaying-a-day-of-traffic-run---stream"
    );
    assert_eq!(
        anchor("Sweeps that outgrow one machine: shards, Slurm, merge"),
        "sweeps-that-outgrow-one-machine-shards-slurm-merge"
    );
    assert_eq!(
        md_links("see [a](b.md#c), [d](#e), [f](https://x.md) and `g[h](i)`"),
        ["b.md#c", "#e"]
    );
}

#[test]
fn the_command_parser_joins_continuations_and_drops_comments() {
    let lines: Vec<String> = [
        "# a comment",
        "cargo run --release -- peak --trace t.parquet \\",
        "  --policy 'a b' --sla-ms 5   # why",
        "",
        "cargo test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let c = commands(&lines);
    assert_eq!(
        c,
        [
            "cargo run --release -- peak --trace t.parquet --policy 'a b' --sla-ms 5",
            "cargo test"
        ]
    );
    assert_eq!(
        words(&c[0])[7..],
        ["--policy", "a b", "--sla-ms", "5"].map(String::from)
    );
}
