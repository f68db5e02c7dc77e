//! Every bad input gives a one-line error naming the file, column and row, exit code 2, no panic.

mod common;

use common::*;
use std::path::{Path, PathBuf};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn run(&self, trace: &Path, prof: &Path, extra: &[&str]) -> Out {
        let out = self.p("out");
        let mut args = vec![
            "run",
            "--trace",
            path_str(trace),
            "--profiles",
            path_str(prof),
            "--gpu",
            "A100-40GB",
            "--gpus",
            "1",
            "--out",
            path_str(&out),
        ];
        if !extra.contains(&"--policy") {
            args.extend(["--policy", "fcfs"]);
        }
        args.extend(extra);
        run(&args)
    }
}

fn expect_err(o: &Out, parts: &[&str]) {
    assert_eq!(o.code, 2, "exit code; stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "panic: {}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line: {}", o.stderr);
    for p in parts {
        assert!(o.stderr.contains(p), "expected {p:?} in: {}", o.stderr);
    }
}

fn trace_with(c: &Case, cols: Vec<(&str, arrow_array::ArrayRef)>) -> PathBuf {
    let p = c.p("t.parquet");
    write_batch(&p, cols);
    p
}

#[test]
fn trace_missing_column() {
    let c = Case::new();
    let t = trace_with(
        &c,
        vec![("arrival_us", i64s(&[0])), ("model", strs(&["m"]))],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(
        &o,
        &[
            "t.parquet",
            "column 'batch'",
            "missing column",
            "found columns: arrival_us, model",
        ],
    );
}

#[test]
fn trace_wrong_type() {
    let c = Case::new();
    let t = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[0])),
            ("model", strs(&["m"])),
            ("batch", strs(&["4"])),
        ],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(
        &o,
        &[
            "t.parquet",
            "column 'batch'",
            "wrong type Utf8",
            "expected an integer",
        ],
    );
}

#[test]
fn trace_null_model() {
    let c = Case::new();
    let model: arrow_array::ArrayRef =
        std::sync::Arc::new(arrow_array::StringArray::from(vec![Some("m"), None]));
    let t = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[0, 1])),
            ("model", model),
            ("batch", i32s(&[1, 1])),
        ],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(&o, &["t.parquet", "column 'model', row 1", "null value"]);
}

#[test]
fn trace_negative_arrival() {
    let c = Case::new();
    let t = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[0, 10, -5])),
            ("model", strs(&["m", "m", "m"])),
            ("batch", i32s(&[1, 1, 1])),
        ],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(
        &o,
        &[
            "column 'arrival_us', row 2",
            "negative value -5",
            "expected >= 0",
        ],
    );
}

#[test]
fn trace_zero_batch() {
    let c = Case::new();
    let t = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[0, 10])),
            ("model", strs(&["m", "m"])),
            ("batch", i32s(&[1, 0])),
        ],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(
        &o,
        &[
            "column 'batch', row 1",
            "value 0",
            "expected an integer >= 1",
        ],
    );
}

#[test]
fn empty_file_and_not_parquet_and_no_rows_and_missing_file() {
    let c = Case::new();
    let prof = good_profile(c.dir.path());
    let empty = c.p("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    expect_err(
        &c.run(&empty, &prof, &[]),
        &["empty.parquet", "file is empty"],
    );
    let csv = c.p("trace.csv");
    std::fs::write(&csv, b"arrival_us,model,batch\n0,m,1\n").unwrap();
    expect_err(
        &c.run(&csv, &prof, &[]),
        &["trace.csv", "not a Parquet file"],
    );
    let none = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[])),
            ("model", strs(&[])),
            ("batch", i32s(&[])),
        ],
    );
    expect_err(&c.run(&none, &prof, &[]), &["t.parquet", "no rows"]);
    expect_err(
        &c.run(&c.p("nope.parquet"), &prof, &[]),
        &["nope.parquet", "No such file"],
    );
}

fn profile_with(c: &Case, slice: &str, gpu: &str, lat: f64) -> PathBuf {
    let p = c.p("prof.parquet");
    write_batch(
        &p,
        vec![
            ("gpu", strs(&["A100-40GB", gpu])),
            ("slice", strs(&["7g.40gb", slice])),
            ("model", strs(&["m", "m"])),
            ("batch", i32s(&[1, 2])),
            ("latency_ms", f64s(&[1.0, lat])),
        ],
    );
    p
}

#[test]
fn profile_nan_latency() {
    let c = Case::new();
    let o = c.run(
        &good_trace(c.dir.path()),
        &profile_with(&c, "7g.40gb", "A100-40GB", f64::NAN),
        &[],
    );
    expect_err(
        &o,
        &[
            "prof.parquet",
            "column 'latency_ms', row 1",
            "value NaN",
            "expected a finite number > 0",
        ],
    );
}

#[test]
fn profile_zero_and_negative_latency() {
    let c = Case::new();
    for v in [0.0, -1.0] {
        let o = c.run(
            &good_trace(c.dir.path()),
            &profile_with(&c, "7g.40gb", "A100-40GB", v),
            &[],
        );
        expect_err(
            &o,
            &["column 'latency_ms', row 1", "expected a finite number > 0"],
        );
    }
}

#[test]
fn profile_unknown_gpu_and_slice() {
    let c = Case::new();
    let o = c.run(
        &good_trace(c.dir.path()),
        &profile_with(&c, "7g.40gb", "B300", 2.0),
        &[],
    );
    expect_err(
        &o,
        &[
            "column 'gpu', row 1",
            "unknown GPU 'B300'",
            "expected one of A100-40GB",
        ],
    );
    let o = c.run(
        &good_trace(c.dir.path()),
        &profile_with(&c, "5g.25gb", "A100-40GB", 2.0),
        &[],
    );
    expect_err(
        &o,
        &[
            "column 'slice', row 1",
            "unknown MIG slice '5g.25gb'",
            "1g.5gb, 2g.10gb",
        ],
    );
}

#[test]
fn profile_duplicate_row() {
    let c = Case::new();
    let p = c.p("dup.parquet");
    write_batch(
        &p,
        vec![
            ("gpu", strs(&["A100-40GB", "A100-40GB"])),
            ("slice", strs(&["7g.40gb", "7g.40gb"])),
            ("model", strs(&["m", "m"])),
            ("batch", i32s(&[1, 1])),
            ("latency_ms", f64s(&[1.0, 1.1])),
        ],
    );
    let o = c.run(&good_trace(c.dir.path()), &p, &[]);
    expect_err(
        &o,
        &["dup.parquet", "row 1", "duplicate row", "first at row 0"],
    );
}

#[test]
fn model_or_slice_without_profile() {
    let c = Case::new();
    let t = trace_with(
        &c,
        vec![
            ("arrival_us", i64s(&[0, 1])),
            ("model", strs(&["m", "gpt"])),
            ("batch", i32s(&[1, 1])),
        ],
    );
    let o = c.run(&t, &good_profile(c.dir.path()), &[]);
    expect_err(
        &o,
        &[
            "profile.parquet",
            "no profile for model 'gpt' on slice 7g.40gb",
            "profiled models on A100-40GB: m",
        ],
    );
    // The profile has only 7g: homogeneous 1g must fail before replaying.
    let o = c.run(
        &good_trace(c.dir.path()),
        &profile_with(&c, "7g.40gb", "A100-40GB", 2.0),
        &["--policy", "homogeneous", "--slice", "1g"],
    );
    expect_err(&o, &["no profile for model 'm' on slice 1g.5gb"]);
}

#[test]
fn usage_errors() {
    let c = Case::new();
    let (t, p) = (good_trace(c.dir.path()), good_profile(c.dir.path()));
    expect_err(
        &c.run(&t, &p, &["--policy", "homogeneous"]),
        &["needs --slice"],
    );
    expect_err(
        &c.run(&t, &p, &["--policy", "homogeneous", "--slice", "5g"]),
        &["unknown MIG slice '5g'"],
    );
    expect_err(
        &c.run(&t, &p, &["--rate-scale", "0"]),
        &["--rate-scale must be a positive number"],
    );
    expect_err(
        &c.run(&t, &p, &["--sla-ms", "-3"]),
        &["--sla-ms must be a positive number"],
    );
    let o = run(&[
        "run",
        "--trace",
        path_str(&t),
        "--profiles",
        path_str(&p),
        "--gpu",
        "Z80",
        "--policy",
        "fcfs",
        "--out",
        "x",
    ]);
    expect_err(&o, &["unknown GPU 'Z80'"]);
    let o = run(&[
        "run",
        "--trace",
        path_str(&t),
        "--profiles",
        path_str(&p),
        "--gpu",
        "A100-40GB",
        "--policy",
        "lottery",
        "--out",
        "x",
    ]);
    expect_err(
        &o,
        &[
            "unknown policy 'lottery'",
            "PART+SCHED",
            "paris",
            "elsa",
            "alias: fcfs",
        ],
    );
    let o = run(&[
        "run",
        "--trace",
        path_str(&t),
        "--profiles",
        path_str(&p),
        "--gpu",
        "H100-80GB",
        "--policy",
        "fcfs",
        "--out",
        "x",
    ]);
    expect_err(
        &o,
        &["profile.parquet", "no rows for GPU H100-80GB", "A100-40GB"],
    );
}

/// Found by the fuzz harness (seed 1, input 5358): a trace whose bytes were damaged so that the
/// Parquet decoder itself panics ("offset + len out of bounds"). The product says the file is
/// corrupt, exit 2, and prints no panic.
#[test]
fn a_file_the_parquet_decoder_panics_on_is_a_clear_error() {
    let c = Case::new();
    let prof = good_profile(c.dir.path());
    let bad = Path::new("tests/data/corrupt-trace.parquet");
    expect_err(
        &c.run(bad, &prof, &[]),
        &[
            "corrupt-trace.parquet",
            "corrupt file",
            "expected a valid Parquet file",
        ],
    );
    let o = run(&["trace", "inspect", "tests/data/corrupt-trace.parquet"]);
    expect_err(&o, &["corrupt-trace.parquet", "corrupt file"]);
}

/// Found by the fuzz harness: a batching delay of 2^62 us overflowed the engine's clock.
#[test]
fn a_batching_delay_beyond_2_62_ns_is_refused() {
    let c = Case::new();
    let prof = good_profile(c.dir.path());
    let trace = good_trace(c.dir.path());
    expect_err(
        &c.run(
            &trace,
            &prof,
            &["--batching", "max_batch=8,max_delay_us=4611686018427387904"],
        ),
        &["max_delay_us", "2^62 ns"],
    );
}
