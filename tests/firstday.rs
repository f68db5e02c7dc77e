//! A researcher's first day: what the command line says where the words are the point.
//! Policy labels as the report writes them, shortcut flags that cannot silently go to the
//! wrong policy, `partition`'s output, an unknown parameter's list, plurals and phase names,
//! `peak` refusing before its header, the verdict explaining its ±, `analyze` in the default
//! build, and an unambiguous regression gate.

mod common;

use common::{path_str, run};

const SERVER: [&str; 6] = [
    "--trace",
    "traces/quickstart.parquet",
    "--profiles",
    "profiles/a100-80gb.parquet",
    "--gpu",
    "A100-80GB",
];

fn with_server(head: &[&str], tail: &[&str]) -> common::Out {
    let mut a: Vec<&str> = head.to_vec();
    a.extend(SERVER);
    a.extend(tail);
    run(&a)
}

#[test]
fn policy_labels_are_accepted_and_shortcuts_cannot_reach_the_wrong_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = with_server(
        &["run", "--policy", "homogeneous[slice=2g]", "--gpus", "2"],
        &["--out", path_str(&out), "--quiet"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["policy"], "homogeneous[slice=2g]");
    assert_eq!(s["params"]["slice"], "2g");
    assert_eq!(s["layout"][0], "2g.20gb+2g.20gb+2g.20gb");
    // Two policies in one peak search, each with its own parameters.
    let o = with_server(
        &[
            "peak",
            "--policy",
            "fcfs",
            "--policy",
            "homogeneous[slice=1g]",
        ],
        &["--gpus", "2", "--sla-ms", "60"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("\nfcfs ") && o.stdout.contains("\nhomogeneous[slice=1g] "));
    // A shortcut applies to every --policy: refused for one that does not take it, saying how
    // to write it.
    let o = with_server(
        &[
            "peak",
            "--policy",
            "fcfs",
            "--policy",
            "homogeneous",
            "--slice",
            "1g",
        ],
        &["--gpus", "2", "--sla-ms", "60"],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("unknown parameter 'slice' for policy 'fcfs'")
            && o.stderr.contains("e.g. homogeneous[slice=1g]"),
        "{}",
        o.stderr
    );
    assert!(
        o.stdout.is_empty(),
        "no table before the error: {}",
        o.stdout
    );
    // The same key two ways must agree.
    let o = with_server(
        &["run", "--policy", "homogeneous[slice=2g]", "--slice", "1g"],
        &["--out", path_str(&out)],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("'slice' of policy 'homogeneous[slice=2g]' is given twice"),
        "{}",
        o.stderr
    );
    let o = with_server(
        &["run", "--policy", "homogeneous[slice=2g"],
        &["--out", path_str(&out)],
    );
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no closing ']'"), "{}", o.stderr);
    // An unknown parameter lists each valid key once.
    let o = with_server(
        &["run", "--policy", "paris+elsa", "--param", "bogus=1"],
        &["--out", path_str(&out)],
    );
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr.matches("sla.<model>").count(), 1, "{}", o.stderr);
}

#[test]
fn partition_prints_the_partitioner_and_its_explanation_as_text() {
    let o = with_server(
        &["partition", "--policy", "paris", "--gpus", "2"],
        &["--sla-ms", "60"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("paris on 2 x A100-80GB\ntheta 0.8\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("SLA resnet50: 60 ms (--sla-ms)"),
        "{}",
        o.stdout
    );
    let o = with_server(&["partition", "--policy", "random", "--gpus", "2"], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "random on 2 x A100-80GB");
    assert_eq!(
        lines[1],
        "seed 1: each GPU's layout drawn uniformly from the 19 maximal legal layouts"
    );
    assert!(!o.stdout.contains('{'), "no raw JSON: {}", o.stdout);
    // A policy's label carries the partitioner's parameters here too.
    let o = with_server(
        &[
            "partition",
            "--policy",
            "random+elsa[seed=7]",
            "--gpus",
            "2",
        ],
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("\nseed 7: "), "{}", o.stdout);
}

#[test]
fn peak_checks_its_settings_before_the_header() {
    for (flag, value, says) in [
        (
            "--tolerance",
            "0",
            "--tolerance must be a fraction in [1e-9, 1)",
        ),
        (
            "--tolerance",
            "NaN",
            "--tolerance must be a fraction in [1e-9, 1)",
        ),
        // Found by the fuzz harness: a positive tolerance below an f64's resolution bisected
        // forever.
        (
            "--tolerance",
            "1e-300",
            "--tolerance must be a fraction in [1e-9, 1)",
        ),
        ("--percentile", "0", "--percentile must be in (0, 100]"),
    ] {
        let o = with_server(
            &["peak", "--policy", "fcfs", "--gpus", "2"],
            &["--sla-ms", "60", flag, value],
        );
        assert_eq!(o.code, 2, "{flag} {value}");
        assert!(o.stdout.is_empty(), "{flag} {value}: {}", o.stdout);
        assert!(o.stderr.contains(says), "{}", o.stderr);
    }
}

#[test]
fn analyze_in_the_default_build_says_how_to_get_it() {
    if cfg!(feature = "analyze") {
        return;
    }
    let o = run(&["analyze", "reports/*/results.parquet", "--by", "policy"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--features analyze"), "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
}

const SWEEP: &str = r#"
name = "firstday"
gpu = "A100-80GB"
gpus = 2
profiles = "profiles/a100-80gb.parquet"
seeds = [1]
tolerance = 0.05
loads = [0.5]

[[workload]]
name = "q"
trace = "traces/quickstart.parquet"
sla_ms = 60

[[policy]]
name = "fcfs"

[[policy]]
name = "homogeneous[slice=4g]"
"#;

#[test]
fn sweep_words_the_gate_and_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, SWEEP).unwrap();
    let a = dir.path().join("a");
    let o = run(&["sweep", "--config", path_str(&cfg), "--out", path_str(&a)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(": 1 workload x 2 policies x 1 seed, 1 load, on "),
        "{}",
        o.stdout
    );
    // The label in `name` is the policy's label, with its parameters.
    assert!(
        o.stdout
            .contains("\nq                      homogeneous[slice=4g] "),
        "{}",
        o.stdout
    );
    // One seed: no interval, said as such, and the legend says what ± means.
    assert!(o.stdout.contains(" ± — (n=1)"), "{}", o.stdout);
    assert!(
        o.stdout.contains(
            "(mean ± the 95 % interval of the mean over the 1 seed (Student t); ± — when"
        ),
        "{}",
        o.stdout
    );
    let o = run(&[
        "sweep",
        "--config",
        path_str(&cfg),
        "--phase",
        "peaks",
        "--shard",
        "0/1",
        "--out",
        path_str(&dir.path().join("sh")),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("shard 0/1 of phase peaks in "),
        "{}",
        o.stdout
    );

    // The gate's threshold: 5% and 0.05 are the same; a bare 5 is refused.
    for t in ["5%", "0.05"] {
        let o = run(&["compare", path_str(&a), path_str(&a), "--max-regression", t]);
        assert_eq!(o.code, 0, "{t}: {}", o.stderr);
        assert!(
            o.stdout.contains("0 worse by more than 5.0%"),
            "{}",
            o.stdout
        );
    }
    let o = run(&[
        "compare",
        path_str(&a),
        path_str(&a),
        "--max-regression",
        "5",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("a bare 5 would mean 500%; write 5% for a percentage"),
        "{}",
        o.stderr
    );
    // A policy only in the new report is listed as not compared; one only in the baseline is
    // exit 2.
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    let mut more = s.clone();
    let mut extra = more["verdict"][0].clone();
    extra["policy"] = "paris+elsa".into();
    more["verdict"].as_array_mut().unwrap().push(extra);
    let m = dir.path().join("more.json");
    std::fs::write(&m, serde_json::to_string(&more).unwrap()).unwrap();
    let o = run(&["compare", path_str(&a), path_str(&m)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("not compared (only in the new report, no baseline): q/paris+elsa"),
        "{}",
        o.stdout
    );
    let o = run(&["compare", path_str(&m), path_str(&a)]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("lacks 1 of the baseline's rows"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("q/paris+elsa"), "{}", o.stderr);
}

#[test]
fn every_flag_and_argument_of_every_command_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&mig_replay::cli::Cli::command(), "mig-replay", &mut missing);
    assert!(missing.is_empty(), "options without help: {missing:#?}");
}
