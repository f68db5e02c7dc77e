//! The README cannot drift: every command in its ```bash blocks runs here, and what the README
//! says a command prints, it prints.
//!
//! Commands run in a scratch folder that sees the repository's inputs (`traces/`, `profiles/`,
//! `experiments/`, `examples/`), so their outputs (`reports/...`) stay out of the checkout.
//! `cargo run --release -- ARGS` runs the test build of the binary, `cargo run --release
//! --example NAME -- ARGS` the example's; `cargo test` is this very suite and is not run again.
//! One substitution keeps the suite fast: `bench-all` without `--config` runs on
//! `experiments/ci.toml` (the README says so). After a ```bash block, a ```text block lists
//! lines the block's last command prints, and a "prints `X`" sentence a text it prints
//! (whitespace aside).

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

#[test]
fn every_readme_command_runs_and_prints_what_the_readme_says() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for d in ["traces", "profiles", "experiments", "examples"] {
        link(scratch.path(), d);
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mig-replay"));
    let bs = blocks(&readme);
    let mut ran = 0;
    let mut checked = 0;
    let mut last_out = String::new();
    for (k, b) in bs.iter().enumerate() {
        match b.lang.as_str() {
            "bash" => {}
            "text" => {
                // Lines the previous bash block's last command printed.
                assert!(
                    k > 0 && bs[k - 1].lang == "bash",
                    "a text block follows a bash block"
                );
                for l in b.lines.iter().filter(|l| l.trim() != "...") {
                    assert!(
                        last_out.lines().any(|o| o.trim_end() == l.trim_end()),
                        "the README quotes a line the command does not print:\n{l}\n--- it printed:\n{last_out}"
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
                    other => panic!("a README command this test cannot run: {other:?}"),
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
                "README command failed: {cmd}\n{}\n{}",
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
                "the README says the command prints `{}`; it printed:\n{last_out}",
                &tail[..end]
            );
            checked += 1;
            rest = &tail[end..];
        }
    }
    // The README's two commands are among them, and so are its quotes.
    assert!(readme.contains("cargo run --release -- bench-all") && readme.contains("cargo test"));
    assert!(ran >= 10, "{ran} commands ran");
    assert!(checked >= 12, "{checked} quoted lines checked");
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
