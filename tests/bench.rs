//! The sweep, its report and the regression gate, through the real binary: identical results
//! with 1 and 2 jobs, `results.parquet` round-trips, every plot is a valid PNG/SVG naming its
//! series, the HTML references nothing external, `compare` exits 0 on identical reports and 1
//! on a planted 10 % throughput loss, a bad sweep file is exit 2 naming the key, and the
//! verdict reports the sweep's own percentile (p97, hand-computed).

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

const CONFIG: &str = r#"
name = "tiny"
gpu = "A100-80GB"
gpus = 2
profiles = "profiles/a100-80gb.parquet"
seeds = [1, 2]
percentile = 99
tolerance = 0.05
loads = [0.3, 1.0]
reference_load = 0.6

[[workload]]
name = "resnet50"
generate = { rate = 160, queries = 3000, models = ["resnet50"], batch_mu = 2.0, batch_sigma = 1.0, max_batch = 128 }
sla_ms = 53.61

[[policy]]
name = "fcfs"

[[policy]]
name = "paris+fifo"

[[policy]]
name = "paris+elsa"
"#;

fn sweep(dir: &Path, name: &str, jobs: &str) -> std::path::PathBuf {
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = dir.join(name);
    let o = common::run(&[
        "sweep",
        "--config",
        common::path_str(&cfg),
        "--out",
        common::path_str(&out),
        "--jobs",
        jobs,
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("paris+elsa"), "{}", o.stdout);
    out
}

#[test]
fn sweep_report_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep(dir.path(), "a", "1");
    let b = sweep(dir.path(), "b", "2");
    // The same results whatever the thread count.
    for f in ["results.parquet", "peaks.parquet", "summary.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between 1 and 2 jobs"
        );
    }

    // results.parquet: one row per (seed, policy, load) with the summary figures.
    let f = std::fs::File::open(a.join("results.parquet")).unwrap();
    let rows: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let n: usize = rows.iter().map(|b| b.num_rows()).sum();
    // 2 seeds x 3 policies x 3 loads (0.3, 0.6 = the reference, 1.0).
    assert_eq!(n, 18);
    let batch = &rows[0];
    for c in [
        "workload",
        "policy",
        "params",
        "gpu",
        "gpus",
        "sla_ms",
        "seed",
        "load_fraction",
        "rate_scale",
        "offered_qps",
        "queries",
        "p99_ms",
        "utilization",
        "invariants_ok",
        "layout",
    ] {
        assert!(batch.column_by_name(c).is_some(), "column {c}");
    }
    let q = batch
        .column_by_name("queries")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(q.values().iter().all(|&v| v == 3000));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    // The p99 of the runs in the file are the ones the verdict aggregates: per policy, the two
    // seeds' rows at the reference load (0.6), whose mean, min and max are computed here.
    let verdict = summary["verdict"].as_array().unwrap();
    assert_eq!(verdict.len(), 3);
    let mut at_ref: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for b in &rows {
        let col = |c: &str| b.column_by_name(c).unwrap().clone();
        let (policy, load, p99) = (col("policy"), col("load_fraction"), col("p99_ms"));
        let policy = arrow_cast::cast(&policy, &arrow_schema::DataType::Utf8).unwrap();
        let policy = policy.as_string::<i32>();
        let load = load.as_primitive::<Float64Type>();
        let p99 = p99.as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            assert!(p99.value(i).is_finite() && p99.value(i) > 0.0);
            if load.value(i) == 0.6 {
                at_ref
                    .entry(policy.value(i).to_string())
                    .or_default()
                    .push(p99.value(i));
            }
        }
    }
    assert_eq!(at_ref.len(), 3, "{at_ref:?}");
    for v in verdict {
        let p = &at_ref[v["policy"].as_str().unwrap()];
        assert_eq!(p.len(), 2, "two seeds at the reference load");
        let agg = &v["latency_ms_at_reference"];
        let mean = (p[0] + p[1]) / 2.0;
        assert!(
            (agg["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{v} vs {p:?}"
        );
        assert_eq!(agg["min"].as_f64().unwrap(), p[0].min(p[1]), "{v}");
        assert_eq!(agg["max"].as_f64().unwrap(), p[0].max(p[1]), "{v}");
        assert_eq!(agg["n"], 2);
    }
    assert_eq!(summary["validity"]["runs"], 18);
    assert_eq!(summary["validity"]["runs_with_invariants_ok"], 18);
    assert_eq!(summary["inputs"][0]["sha256"].as_str().unwrap().len(), 64);

    // Every plot is a valid PNG and SVG, and the SVGs name their series.
    let plots = a.join("plots");
    let mut pngs = 0;
    for e in std::fs::read_dir(&plots).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("png") => {
                let dec =
                    png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
                let mut r = dec.read_info().unwrap();
                let mut buf = vec![0; r.output_buffer_size().unwrap()];
                let info = r.next_frame(&mut buf).unwrap();
                assert!(info.width >= 600 && info.height >= 200, "{}", p.display());
                // Not a blank image.
                assert!(buf.iter().any(|&x| x < 200), "{}", p.display());
                pngs += 1;
            }
            Some("svg") => {
                let s = std::fs::read_to_string(&p).unwrap();
                assert!(s.starts_with("<svg"), "{}", p.display());
                assert!(s.trim_end().ends_with("</svg>"), "{}", p.display());
            }
            _ => {}
        }
    }
    // peaks, and per workload latency, p50, utilization, CDF; 2 heat maps x 2 policies.
    assert_eq!(pngs, 1 + 4 + 4);
    let svg = |n: &str| std::fs::read_to_string(plots.join(n)).unwrap();
    for name in ["fcfs", "paris+fifo", "paris+elsa"] {
        for p in [
            "latency-resnet50.svg",
            "cdf-resnet50.svg",
            "utilization-resnet50.svg",
            "peaks.svg",
        ] {
            assert!(svg(p).contains(name), "{p} lacks {name}");
        }
    }
    assert!(svg("latency-resnet50.svg").contains("SLA 53.61 ms"));
    assert!(svg("latency-resnet50.svg").contains("offered load (% of the best policy"));
    assert!(svg("batch-resnet50-paris-elsa.svg").contains("1g.10gb"));

    // The page is self-contained.
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("paris+elsa") && html.contains("Verdict"));
    // The only URLs allowed are the SVG namespace names, identifiers browsers never fetch.
    let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for bad in [
        "http://", "https://", "<script", "<link", "src=", "url(", "@import", "href=",
    ] {
        assert!(!stripped.contains(bad), "index.html references {bad}");
    }

    // The gate: identical reports pass.
    let o = common::run(&["compare", common::path_str(&a), common::path_str(&b)]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("0 worse by more than 5.0%"),
        "{}",
        o.stdout
    );
    assert!(b.join("compare.html").exists());
    // A planted 10 % loss of paris+elsa's throughput fails it, and the table says which.
    let mut s = summary.clone();
    for v in s["verdict"].as_array_mut().unwrap() {
        if v["policy"] == "paris+elsa" {
            let m = v["peak_qps"]["mean"].as_f64().unwrap();
            v["peak_qps"]["mean"] = serde_json::json!(m * 0.9);
        }
    }
    let worse = dir.path().join("worse.json");
    std::fs::write(&worse, serde_json::to_string(&s).unwrap()).unwrap();
    let o = common::run(&["compare", common::path_str(&a), common::path_str(&worse)]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("REGRESSION"))
        .unwrap_or_else(|| panic!("{}", o.stdout));
    assert!(
        line.contains("paris+elsa") && line.contains("peak_qps") && line.contains("-10.00%"),
        "{line}"
    );
    // A 10 % loss passes a 15 % threshold.
    let o = common::run(&[
        "compare",
        common::path_str(&a),
        common::path_str(&worse),
        "--max-regression",
        "15%",
    ]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    // Missing or mismatched reports are exit 2.
    let o = common::run(&["compare", common::path_str(&a), "/nonexistent/summary.json"]);
    assert_eq!(o.code, 2);
    s["gpus"] = serde_json::json!(4);
    std::fs::write(&worse, serde_json::to_string(&s).unwrap()).unwrap();
    let o = common::run(&["compare", common::path_str(&a), common::path_str(&worse)]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("mismatched reports"), "{}", o.stderr);
}

#[test]
fn bad_sweep_files_are_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 7] = [
        (
            &CONFIG.replace("percentile = 99", "percentile = 99\nbogus = 1"),
            &["unknown field `bogus`", "line"],
        ),
        (
            &CONFIG.replace("gpus = 2", "gpus = \"two\""),
            &["gpus", "line 4"],
        ),
        (
            &CONFIG.replace("loads = [0.3, 1.0]", "loads = [0.3, -1.0]"),
            &["key 'loads'", "-1"],
        ),
        (
            &CONFIG.replace("name = \"paris+elsa\"", "name = \"paris+magic\""),
            &["paris+magic", "unknown scheduler 'magic'"],
        ),
        (
            &CONFIG.replace("sla_ms = 53.61", "sla_ms = 53.61\ntrace = \"x.parquet\""),
            &[
                "workload 'resnet50'",
                "exactly one of `trace` and `generate`",
            ],
        ),
        (
            &CONFIG.replace(
                "reference_load = 0.6",
                "reference_load = 0.6\nbaseline = \"fifo\"",
            ),
            &[
                "key 'baseline'",
                "'fifo' is not a policy of this sweep",
                "paris+elsa",
            ],
        ),
        (
            &CONFIG.replace(
                "reference_load = 0.6",
                "reference_load = 0.6\nheat_maps = [\"paris\"]",
            ),
            &["key 'heat_maps'", "'paris' is not a policy of this sweep"],
        ),
    ];
    for (k, (text, parts)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("bad{k}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let o = common::run(&[
            "sweep",
            "--config",
            common::path_str(&cfg),
            "--out",
            common::path_str(&dir.path().join("o")),
        ]);
        assert_eq!(o.code, 2, "case {k}: {}\n{}", o.stdout, o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "case {k}: {}", o.stderr);
        for p in *parts {
            assert!(o.stderr.contains(p), "case {k}: {p:?} in {}", o.stderr);
        }
    }
}

/// The sweep file's `baseline` and `heat_maps`: the ratios are relative to the named policy,
/// and heat maps are drawn for the named policies only.
#[test]
fn baseline_and_heat_maps_are_sweep_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("b.toml");
    let text = CONFIG.replace("seeds = [1, 2]", "seeds = [1]").replace(
        "reference_load = 0.6",
        "reference_load = 0.6\nbaseline = \"paris+elsa\"\nheat_maps = [\"fcfs\"]",
    );
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("o");
    let o = common::run(&[
        "sweep",
        "--config",
        common::path_str(&cfg),
        "--out",
        common::path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("vs paris+elsa"), "{}", o.stdout);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["baseline"], "paris+elsa");
    let row = |p: &str| {
        s["verdict"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["policy"] == p)
            .unwrap()
            .clone()
    };
    // One seed: the ratio is the division of the two peaks.
    let (f, e) = (row("fcfs"), row("paris+elsa"));
    assert_eq!(e["peak_ratio"]["mean"], 1.0);
    let want = f["peak_qps"]["mean"].as_f64().unwrap() / e["peak_qps"]["mean"].as_f64().unwrap();
    assert!((f["peak_ratio"]["mean"].as_f64().unwrap() - want).abs() < 1e-12);
    let plots = out.join("plots");
    assert!(plots.join("busy-resnet50-fcfs.svg").exists());
    assert!(plots.join("batch-resnet50-fcfs.svg").exists());
    assert!(!plots.join("busy-resnet50-paris-elsa.svg").exists());
    assert!(!plots.join("busy-resnet50-paris-fifo.svg").exists());
}

#[test]
fn the_verdict_reports_the_sweeps_own_percentile() {
    // 100 queries of model `m`, one per second, on one whole A100-40GB (fcfs): no query waits,
    // so each latency is its batch's service time on 7g.40gb: 10, 12, 14, 16 ms at batches
    // 1-4. 95 queries of batch 1, two of batch 2, two of batch 3, one of batch 4 (spread over
    // the trace). Sorted: ranks 1-95 are 10 ms, 96-97 12 ms, 98-99 14 ms, 100 16 ms. The
    // nearest-rank p97 is rank ceil(0.97 x 100) = 97: 12 ms, where p95 is 10 ms and p99 14 ms,
    // so the verdict's figure is the sweep's percentile (97) and none of the headline ones.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut batch = vec![1i32; 100];
    for (k, b) in [(20, 2), (70, 2), (10, 3), (50, 3), (3, 4)] {
        batch[k] = b;
    }
    let arrival: Vec<i64> = (0..100).map(|k| k * 1_000_000).collect();
    let trace = d.join("trace.parquet");
    common::write_batch(
        &trace,
        vec![
            ("arrival_us", common::i64s(&arrival)),
            ("model", common::strs(&["m"; 100])),
            ("batch", common::i32s(&batch)),
        ],
    );
    let (mut gpu, mut slice, mut b, mut lat) = (vec![], vec![], vec![], vec![]);
    for (s, f) in [
        ("1g.5gb", 4.0),
        ("2g.10gb", 2.0),
        ("3g.20gb", 1.5),
        ("4g.20gb", 1.2),
        ("7g.40gb", 1.0),
    ] {
        for k in 1..=4 {
            gpu.push("A100-40GB");
            slice.push(s);
            b.push(k);
            lat.push((10.0 + 2.0 * (k - 1) as f64) * f);
        }
    }
    let profile = d.join("profile.parquet");
    common::write_batch(
        &profile,
        vec![
            ("gpu", common::strs(&gpu)),
            ("slice", common::strs(&slice)),
            ("model", common::strs(&vec!["m"; gpu.len()])),
            ("batch", common::i32s(&b)),
            ("latency_ms", common::f64s(&lat)),
        ],
    );
    let cfg = d.join("p97.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
name = "p97"
gpu = "A100-40GB"
gpus = 1
profiles = '{}'
seeds = [1]
percentile = 97
loads = [0.5]

[[workload]]
name = "m"
trace = '{}'
sla_ms = 50
reference_qps = 1.0

[[policy]]
name = "fcfs"
"#,
            common::path_str(&profile),
            common::path_str(&trace)
        ),
    )
    .unwrap();
    let out = d.join("out");
    let o = common::run(&[
        "sweep",
        "--config",
        common::path_str(&cfg),
        "--out",
        common::path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("p97 ms at reference"), "{}", o.stdout);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let agg = &summary["verdict"][0]["latency_ms_at_reference"];
    assert_eq!(agg["n"], 1, "{summary}");
    assert_eq!(agg["mean"].as_f64(), Some(12.0), "{summary}");
}
