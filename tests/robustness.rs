//! The second robustness pass (issue 31): nothing aborts, hangs, mixes or half-writes. Each
//! family is refused with exit 2 and one line naming the path or flag (or completes with a
//! stated clamp) within seconds, and a refusal writes nothing.

mod common;

use common::{Out, path_str, run};
use std::path::Path;
use std::time::{Duration, Instant};

/// A refusal: exit 2, one line, no panic, every part named.
fn refused(o: &Out, parts: &[&str]) {
    assert_eq!(o.code, 2, "exit code; stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "panic: {}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line: {}", o.stderr);
    for p in parts {
        assert!(o.stderr.contains(p), "expected {p:?} in: {}", o.stderr);
    }
}

/// `run` with `args`, timed.
fn timed(args: &[&str]) -> (Out, Duration) {
    let t = Instant::now();
    let o = run(args);
    (o, t.elapsed())
}

/// Everything under `dir`, as relative paths (empty when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn gen_trace(path: &Path, queries: &str, seed: &str) {
    let o = run(&[
        "trace",
        "gen",
        "--rate",
        "100",
        "--queries",
        queries,
        "--model",
        "resnet50",
        "--batch-mu",
        "1",
        "--max-batch",
        "16",
        "--seed",
        seed,
        "--out",
        path_str(path),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// A sweep over one trace file: 2 policies, one seed, one load.
fn sweep_config(dir: &Path, trace: &Path) -> std::path::PathBuf {
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"name = "robust"
gpu = "A100-80GB"
gpus = 1
profiles = "profiles/a100-80gb.parquet"
tolerance = 0.2
loads = [0.6]

[[workload]]
name = "w"
trace = "{}"
sla_ms = 80

[[policy]]
name = "fcfs"

[[policy]]
name = "paris+elsa"
"#,
            trace.display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_shard_count_is_bounded_by_the_work_it_could_split() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.parquet");
    gen_trace(&trace, "300", "1");
    let cfg = sweep_config(dir.path(), &trace);
    let out = dir.path().join("out");
    // 2 peak tasks; loads 0.6 (also the reference load): 2 runs, and the heat maps.
    for (phase, spec) in [
        ("peaks", "0/4294967296"),
        ("peaks", "0/1000000000"),
        ("loads", "0/3000000000"),
    ] {
        let (o, took) = timed(&[
            "sweep",
            "--config",
            path_str(&cfg),
            "--phase",
            phase,
            "--shard",
            spec,
            "--out",
            path_str(&out),
        ]);
        refused(&o, &["--shard", spec, "2 peak tasks", "at most"]);
        assert!(took < Duration::from_secs(10), "{spec}: {took:?}");
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn merge_refuses_shards_that_read_different_traces() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.parquet");
    let cfg = sweep_config(dir.path(), &trace);
    let out = dir.path().join("out");
    let shard = |phase: &str, spec: &str| {
        run(&[
            "sweep",
            "--config",
            path_str(&cfg),
            "--phase",
            phase,
            "--shard",
            spec,
            "--out",
            path_str(&out),
        ])
    };
    gen_trace(&trace, "300", "1");
    assert_eq!(shard("peaks", "0/2").code, 0);
    // The trace is regenerated between the two shards of one sweep.
    gen_trace(&trace, "300", "2");
    assert_eq!(shard("peaks", "1/2").code, 0);
    let o = run(&["merge", path_str(&out)]);
    refused(
        &o,
        &[
            "peaks-1-of-2.json",
            "t.parquet",
            "sha256",
            "peaks-0-of-2.json",
        ],
    );
    assert!(!out.join("summary.json").exists(), "no report written");
    // The loads phase refuses the mixed peaks as well, naming the peaks shard that differs.
    let o = shard("loads", "0/1");
    refused(&o, &["peaks-0-of-2.json", "t.parquet", "this shard"]);
}

#[test]
fn bounded_work_on_tiny_periods_windows_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tgen = |extra: &[&str]| {
        let mut a = vec![
            "trace",
            "gen",
            "--rate",
            "100",
            "--queries",
            "2000",
            "--model",
            "resnet50",
        ];
        a.extend_from_slice(extra);
        timed(&a)
    };
    let out = d.join("d.parquet");
    // A diurnal period below the trace's microsecond resolution: refused at once.
    let (o, took) = tgen(&[
        "--diurnal-amplitude",
        "0.5",
        "--diurnal-period",
        "1e-9",
        "--out",
        path_str(&out),
    ]);
    refused(&o, &["--diurnal-period", "1e-9", "resolution"]);
    assert!(took < Duration::from_secs(10));
    assert!(!out.exists());
    // At the resolution: 2000 queries over about 20 s, 8e7 quarter periods, in seconds.
    let (o, took) = tgen(&[
        "--diurnal-amplitude",
        "0.5",
        "--diurnal-period",
        "1e-6",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("2000 queries"), "{}", o.stdout);
    assert!(took < Duration::from_secs(20), "{took:?}");
    // A rate shape compressed to a 2e-12 s period: its steps are below the resolution.
    let shape = d.join("shape.csv");
    std::fs::write(&shape, "start_s,multiplier\n0,1\n1,2\n").unwrap();
    let out2 = d.join("s.parquet");
    let (o, took) = tgen(&[
        "--rate-shape",
        path_str(&shape),
        "--shape-compress",
        "1e12",
        "--shape-period",
        "2e-12",
        "--out",
        path_str(&out2),
    ]);
    refused(&o, &["shape.csv", "resolution"]);
    assert!(took < Duration::from_secs(10));
    assert!(!out2.exists());
    // Thousands of threads for a sweep that fails at once: clamped with a note, then the
    // sweep's own error, in seconds.
    let cfg = d.join("c.toml");
    std::fs::write(
        &cfg,
        r#"name = "x"
gpu = "A100-80GB"
gpus = 1
profiles = "no-such-profiles.parquet"
loads = [0.5]
[[workload]]
name = "w"
generate = { rate = 10, queries = 10, models = ["resnet50"] }
sla_ms = 50
[[policy]]
name = "fcfs"
"#,
    )
    .unwrap();
    let (o, took) = timed(&[
        "sweep",
        "--config",
        path_str(&cfg),
        "--jobs",
        "20000",
        "--out",
        path_str(&d.join("sw")),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--jobs 20000"), "{}", o.stderr);
    assert!(
        o.stderr.contains("no-such-profiles.parquet"),
        "{}",
        o.stderr
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn timeline_windows_are_bounded_by_the_queries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let (o, took) = timed(&[
        "run",
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "2",
        "--policy",
        "paris+elsa",
        "--sla-ms",
        "60",
        "--timeline-s",
        "1e-9",
        "--quiet",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("note: --timeline-s 1e-9"), "{}", o.stderr);
    assert!(took < Duration::from_secs(30), "{took:?}");
    // The quickstart trace has 2,000 queries of three models: at most 2,000 windows, each a
    // row per model and one for all (4 rows a window).
    let f = std::fs::File::open(out.join("timeline.parquet")).unwrap();
    let rows = parquet::file::reader::SerializedFileReader::new(f)
        .map(|r| {
            use parquet::file::reader::FileReader;
            r.metadata().file_metadata().num_rows()
        })
        .unwrap();
    assert!(rows > 0 && rows <= 4 * 2000 && rows % 4 == 0, "{rows} rows");
}

#[test]
fn a_refused_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    for v in ["0", "-1", "NaN", "inf", "1e-12", "5e-324"] {
        let o = run(&[
            "run",
            "--trace",
            "traces/quickstart.parquet",
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--policy",
            "fcfs",
            "--timeline-s",
            v,
            "--out",
            path_str(&out),
        ]);
        refused(&o, &["--timeline-s"]);
        assert!(!out.exists(), "--timeline-s {v}: {:?}", listing(&out));
    }
}

#[test]
fn io_errors_are_exit_2_naming_the_path_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let non_utf8 = d.join("bad.toml");
    std::fs::write(&non_utf8, b"name = \"x\"\n\xff\xfe\n").unwrap();
    let folder = d.join("folder");
    std::fs::create_dir(&folder).unwrap();
    let a_file = d.join("file");
    std::fs::write(&a_file, "x").unwrap();
    #[cfg(unix)]
    let looped = {
        let (a, b) = (d.join("loop-a"), d.join("loop-b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        a
    };
    let sweep = |cfg: &Path| {
        run(&[
            "sweep",
            "--config",
            path_str(cfg),
            "--out",
            path_str(&d.join("sw")),
        ])
    };
    refused(
        &sweep(&non_utf8),
        &["bad.toml", "expected a UTF-8 text file"],
    );
    refused(&sweep(&folder), &["folder", "expected a file"]);
    #[cfg(unix)]
    refused(&sweep(&looped), &["loop-a", "symbolic link loop"]);
    let tgen = |extra: &[&str]| {
        let mut a = vec![
            "trace",
            "gen",
            "--rate",
            "100",
            "--queries",
            "10",
            "--model",
            "resnet50",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let t = d.join("t.parquet");
    for flag in ["--segments", "--rate-shape"] {
        refused(
            &tgen(&[flag, path_str(&non_utf8), "--out", path_str(&t)]),
            &["bad.toml", "UTF-8"],
        );
    }
    // A CSV input (trace import here; profile sources go through the same reader) that is not
    // UTF-8: the file, and the line and field of the first bad byte.
    let csv = d.join("bad.csv");
    std::fs::write(
        &csv,
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,4\xff4\n",
    )
    .unwrap();
    refused(
        &run(&[
            "trace",
            "import",
            "azure",
            "--csv",
            path_str(&csv),
            "--out",
            path_str(&t),
        ]),
        &["bad.csv", "invalid UTF-8", "line 2 and field 3"],
    );
    refused(
        &tgen(&["--out", path_str(&folder)]),
        &["folder", "is a folder; expected a file"],
    );
    let run_args = |extra: &[&str]| {
        let mut a = vec![
            "run",
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--policy",
            "fcfs",
            "--quiet",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let q = "traces/quickstart.parquet";
    let out = d.join("o");
    refused(
        &run_args(&[
            "--trace",
            q,
            "--policy-config",
            path_str(&non_utf8),
            "--out",
            path_str(&out),
        ]),
        &["bad.toml", "UTF-8"],
    );
    #[cfg(unix)]
    refused(
        &run_args(&["--trace", path_str(&looped), "--out", path_str(&out)]),
        &["loop-a", "symbolic link loop"],
    );
    refused(
        &run_args(&["--trace", q, "--out", path_str(&a_file)]),
        &["--out", "file", "expected a folder"],
    );
    // A folder where run writes summary.json: refused before the replay, nothing written.
    std::fs::create_dir_all(out.join("summary.json")).unwrap();
    refused(
        &run_args(&["--trace", q, "--out", path_str(&out)]),
        &["summary.json", "is a folder"],
    );
    assert_eq!(listing(&out), vec!["summary.json".to_string()]);
    refused(&sweep_out(&a_file), &["--out", "file", "expected a folder"]);
    refused(
        &run(&[
            "plan",
            "--trace",
            q,
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--policy",
            "fcfs",
            "--sla-ms",
            "60",
            "--out",
            path_str(&a_file),
        ]),
        &["--out", "file", "expected a folder"],
    );
    // merge when `shards` is a file.
    let m = d.join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("shards"), "x").unwrap();
    refused(
        &run(&["merge", path_str(&m)]),
        &["shards", "is a file; expected a folder"],
    );
    // compare's summary.json, not UTF-8.
    let c = d.join("c");
    std::fs::create_dir(&c).unwrap();
    std::fs::write(c.join("summary.json"), b"\xff\xfe").unwrap();
    refused(
        &run(&["compare", path_str(&c), path_str(&c)]),
        &["summary.json", "UTF-8"],
    );
}

fn sweep_out(out: &Path) -> Out {
    run(&[
        "sweep",
        "--config",
        "experiments/ci.toml",
        "--out",
        path_str(out),
    ])
}

#[test]
fn batches_the_schema_cannot_hold_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let segs = dir.path().join("segs.toml");
    std::fs::write(
        &segs,
        "[[segment]]\nstart_s = 0\nbatch_hist = \"4294967295:1\"\n",
    )
    .unwrap();
    let base = [
        "trace",
        "gen",
        "--rate",
        "100",
        "--queries",
        "10",
        "--model",
        "resnet50",
        "--out",
        path_str(&out),
    ];
    for extra in [
        &["--batch-hist", "4294967295:1"][..],
        &["--batch-hist", "4294967295:1", "--stream"],
        &["--batch-hist", "65537:1"],
        &["--segments", path_str(&segs)],
    ] {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        let o = run(&a);
        assert_eq!(o.code, 2, "{extra:?}: {}", o.stderr);
        assert!(o.stderr.contains("65536"), "{}", o.stderr);
        assert!(!out.exists(), "{extra:?}: nothing written");
    }
    // The largest batch the docs allow (docs/model.md, Bounds) is written as it is.
    let mut a = base.to_vec();
    a.extend_from_slice(&["--batch-hist", "65536:1"]);
    assert_eq!(run(&a).code, 0);
    let o = run(&["trace", "inspect", path_str(&out), "--json"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(j["batch_max"], 65536, "{}", o.stdout);
}

#[test]
fn short_or_empty_generated_traces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("t.parquet");
    let tgen = |extra: &[&str]| {
        let mut a = vec!["trace", "gen", "--rate", "100", "--model", "resnet50"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--out", path_str(&out)]);
        run(&a)
    };
    // The rate falls to 0 at 1 s for good: about 100 of 2000 queries would arrive.
    let ends_in_zero = d.join("z.csv");
    std::fs::write(&ends_in_zero, "start_s,multiplier\n0,1\n1,0\n").unwrap();
    let o = tgen(&["--queries", "2000", "--rate-shape", path_str(&ends_in_zero)]);
    refused(&o, &["of the 2000 queries", "--shape-period"]);
    assert!(!out.exists());
    // With a period the shape repeats: all 2000 arrive.
    let o = tgen(&[
        "--queries",
        "2000",
        "--rate-shape",
        path_str(&ends_in_zero),
        "--shape-period",
        "2",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::fs::remove_file(&out).unwrap();
    // A multiplier of 1e-300 over 10 s: about 1e-297 queries expected, none arrives.
    let tiny = d.join("tiny.csv");
    std::fs::write(&tiny, "start_s,multiplier\n0,1e-300\n").unwrap();
    let o = tgen(&["--duration", "10", "--rate-shape", path_str(&tiny)]);
    refused(&o, &["no query arrives", "--duration 10 s"]);
    assert!(!out.exists());
    refused(&tgen(&["--queries", "0"]), &["--queries"]);
    // A trace whose arrivals share one time: its shape would be all zero.
    let same = d.join("same.parquet");
    common::write_batch(
        &same,
        vec![
            ("arrival_us", common::i64s(&[5, 5, 5])),
            ("model", common::strs(&["resnet50"; 3])),
            ("batch", common::i32s(&[1, 1, 1])),
        ],
    );
    let csv = d.join("shape.csv");
    let o = run(&[
        "trace",
        "shape",
        "--trace",
        path_str(&same),
        "--out",
        path_str(&csv),
    ]);
    refused(&o, &["same.parquet", "share one time"]);
    assert!(!csv.exists());
    // --shape-period without a rate shape is a usage error.
    let o = tgen(&["--queries", "10", "--shape-period", "5"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--rate-shape"), "{}", o.stderr);
}

#[test]
fn sweep_files_that_would_mix_or_escape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("c.toml");
    let sweep = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        run(&[
            "sweep",
            "--config",
            path_str(&cfg),
            "--phase",
            "peaks",
            "--shard",
            "0/1",
            "--out",
            path_str(&d.join("out")),
        ])
    };
    let base = |name: &str, seeds: &str, loads: &str, w2: &str, params: &str| {
        format!(
            r#"name = "{name}"
gpu = "A100-80GB"
gpus = 1
profiles = "profiles/a100-80gb.parquet"
seeds = {seeds}
loads = {loads}
[[workload]]
name = "a/b"
generate = {{ rate = 10, queries = 10, models = ["resnet50"] }}
sla_ms = 50
[[workload]]
name = "{w2}"
generate = {{ rate = 10, queries = 10, models = ["resnet50"] }}
sla_ms = 50
[[policy]]
name = "paris+elsa"
params = {params}
"#
        )
    };
    refused(
        &sweep(&base("x", "[1]", "[0.5]", "a-b", "{}")),
        &["c.toml", "'a/b'", "'a-b'", "same plot files"],
    );
    refused(
        &sweep(&base("../../x", "[1]", "[0.5]", "c", "{}")),
        &["c.toml", "key 'name'", "../../x"],
    );
    refused(
        &sweep(&base("x", "[1, 1]", "[0.5]", "c", "{}")),
        &["c.toml", "key 'seeds'", "seed 1 appears twice"],
    );
    refused(
        &sweep(&base("x", "[1]", "[0.5, 0.5]", "c", "{}")),
        &["c.toml", "key 'loads'", "0.5 appears twice"],
    );
    refused(
        &sweep(&base("x", "[1]", "[0.5]", "c", "{ theta = \"0.5\" }")),
        &["c.toml", "policy.params", "theta", "expected a number"],
    );
    assert!(!d.join("out").exists());
}

#[test]
fn conflicting_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let r = |extra: &[&str]| {
        let mut a = vec![
            "run",
            "--trace",
            "traces/quickstart.parquet",
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--gpu",
            "A100-80GB",
            "--quiet",
            "--out",
            path_str(&out),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    refused(
        &r(&[
            "--policy",
            "paris+elsa",
            "--repartition",
            "periodic",
            "--param",
            "repartition.name=oracle",
        ]),
        &["--repartition periodic", "repartition.name=oracle"],
    );
    refused(
        &r(&["--policy", "fcfs", "--seed", "3", "--param", "seed=4"]),
        &["--seed 3", "seed=4"],
    );
    refused(
        &r(&["--policy", "fcfs", "--batching", "max_batch=8,max_batch=9"]),
        &["max_batch", "twice"],
    );
    refused(
        &r(&[
            "--policy",
            "paris+elsa",
            "--param",
            "theta=0.5",
            "--param",
            "theta=0.6",
        ]),
        &["theta", "twice"],
    );
    assert!(!out.exists());
    let plan = |extra: &[&str]| {
        let mut a = vec![
            "plan",
            "--trace",
            "traces/quickstart.parquet",
            "--profiles",
            "profiles/a100-80gb.parquet",
            "--policy",
            "fcfs",
            "--sla-ms",
            "60",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    refused(
        &plan(&["--gpu", "A100-80GB", "--gpu", "a100-80gb"]),
        &["--gpu A100-80GB", "twice"],
    );
    refused(
        &plan(&[
            "--gpu",
            "A100-80GB",
            "--cost",
            "A100-80GB=1",
            "--cost",
            "A100-80GB=2",
        ]),
        &["--cost", "twice"],
    );
}

#[test]
fn messages_print_huge_and_tiny_numbers_briefly() {
    assert_eq!(mig_replay::error::num(1e308), "1e308");
    assert_eq!(mig_replay::error::num(5e-324), "5e-324");
    assert_eq!(mig_replay::error::num(0.5), "0.5");
    assert_eq!(mig_replay::error::num(120.0), "120");
    let o = run(&[
        "run",
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--policy",
        "fcfs",
        "--rate-scale",
        "-1e308",
        "--out",
        "/nonexistent/never",
    ]);
    refused(&o, &["-1e308"]);
    assert!(o.stderr.len() < 200, "{}", o.stderr);
}

#[test]
fn an_out_of_range_parameter_is_printed_briefly() {
    let o = run(&[
        "run",
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--policy",
        "paris+elsa",
        "--repartition",
        "periodic",
        "--param",
        "reconfig.cost_s=1e308",
        "--out",
        "/nonexistent/never",
    ]);
    refused(&o, &["cost_s", "1e308 is out of range"]);
    assert!(o.stderr.len() < 300, "{}", o.stderr);
}
