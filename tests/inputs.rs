//! The shipped inputs: reproducible profile build, coverage, monotonicity, every shipped trace
//! replays, the generator realizes what it is asked for, importers reject malformed CSVs.

mod common;

use mig_replay::drive::replay::replay;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PolicyParams, Registry};
use mig_replay::profile::Profiles;
use mig_replay::profile::Source;
use mig_replay::profile::build::{BuildConfig, batch_grid, build, build_table, check};
use mig_replay::trace::Trace;
use mig_replay::trace::stats::stats;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};
use std::path::Path;

const MAIN_MODELS: [&str; 3] = ["bert-base", "resnet50", "mobilenet-v2"];
const SLICES_80: [&str; 5] = ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"];

#[test]
fn profile_build_is_reproducible_and_matches_the_shipped_files() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for d in &dirs {
        build(&BuildConfig {
            sources: "profiles/sources".into(),
            out_dir: d.path().into(),
            tolerance: 0.05,
        })
        .unwrap();
    }
    for f in [
        "a100-80gb.parquet",
        "a100-40gb.parquet",
        "h100-80gb.parquet",
        "h200-141gb.parquet",
        "a30-24gb.parquet",
        "build-report.md",
    ] {
        let a = std::fs::read(dirs[0].path().join(f)).unwrap();
        assert_eq!(
            a,
            std::fs::read(dirs[1].path().join(f)).unwrap(),
            "{f}: two builds differ"
        );
        assert_eq!(
            a,
            std::fs::read(Path::new("profiles").join(f)).unwrap(),
            "{f}: shipped file is stale; run `mig-replay profile build`"
        );
    }
}

/// The modeled kinds, recomputed here from the MLPerf figures (typed from the
/// mlperf_log_summary.txt files `profiles/sources/mlperf/offline_per_accelerator.csv` cites) and
/// the documented rule: latency = the A100-80GB slice of as many GPCs / (R x 7 / C).
#[test]
fn modeled_kinds_follow_the_mlperf_ratios() {
    let a100 = Profiles::load(Path::new("profiles/a100-80gb.parquet")).unwrap();
    let lat = |p: &Profiles, gpu: &str, m: &str, s: &str, b: u32| {
        p.get(gpu, m, s)
            .unwrap_or_else(|| panic!("{gpu} {m} {s}"))
            .latency_ms(b)
            .0
    };
    // (file, gpu, model, slice, its A100-80GB slice, per-compute-slice factor)
    let h100_res = 91825.7 / 42379.3;
    let h100_bert = 9369.12 / 3590.46;
    let cases = [
        (
            "h100-80gb",
            "H100-80GB",
            "resnet50",
            "1g.10gb",
            "1g.10gb",
            h100_res,
        ),
        (
            "h100-80gb",
            "H100-80GB",
            "bert-base",
            "7g.80gb",
            "7g.80gb",
            h100_bert,
        ),
        (
            "h100-80gb",
            "H100-80GB",
            "mobilenet-v2",
            "3g.40gb",
            "3g.40gb",
            h100_res,
        ),
        (
            "h200-141gb",
            "H200-141GB",
            "resnet50",
            "2g.35gb",
            "2g.20gb",
            756960.0 / 8.0 / 88714.3 * h100_res,
        ),
        (
            "h200-141gb",
            "H200-141GB",
            "bert-base",
            "4g.71gb",
            "4g.40gb",
            73309.5 / 8.0 / 9081.51 * h100_bert,
        ),
        (
            "a30-24gb",
            "A30-24GB",
            "resnet50",
            "4g.24gb",
            "4g.40gb",
            18072.9 / 39649.2 * 7.0 / 4.0,
        ),
        (
            "a30-24gb",
            "A30-24GB",
            "bert-base",
            "1g.6gb",
            "1g.10gb",
            1692.41 / 3560.73 * 7.0 / 4.0,
        ),
    ];
    for (file, gpu, m, s, from, f) in cases {
        let p = Profiles::load(&Path::new("profiles").join(format!("{file}.parquet"))).unwrap();
        for b in [1, 8, 64] {
            let want = lat(&a100, "A100-80GB", m, from, b) / f;
            let got = lat(&p, gpu, m, s, b);
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "{gpu} {m} {s} batch {b}: {got} vs {want}"
            );
        }
        let ser = p.get(gpu, m, s).unwrap();
        assert!(
            ser.source.iter().all(|&x| x == Source::Modeled),
            "{gpu} {m} {s}"
        );
    }
}

#[test]
fn main_models_cover_all_five_slices_and_the_batch_grid() {
    let p = Profiles::load(Path::new("profiles/a100-80gb.parquet")).unwrap();
    for m in MAIN_MODELS {
        for s in SLICES_80 {
            let ser = p
                .get("A100-80GB", m, s)
                .unwrap_or_else(|| panic!("{m} on {s} missing"));
            assert_eq!(ser.batches, batch_grid(), "{m} {s}");
            assert!(ser.source.iter().all(|&x| x != Source::Unspecified));
        }
    }
    // Every row says where it comes from; measured rows exist for every main model.
    for m in MAIN_MODELS {
        let measured: usize = SLICES_80
            .iter()
            .map(|s| {
                p.get("A100-80GB", m, s)
                    .unwrap()
                    .source
                    .iter()
                    .filter(|&&x| x == Source::Measured)
                    .count()
            })
            .sum();
        assert!(measured >= 20, "{m}: {measured} measured rows");
    }
}

#[test]
fn monotonicity_holds_except_for_reported_source_violations() {
    let t = build_table(Path::new("profiles/sources")).unwrap();
    let v = check(&t, 0.05);
    // What remains is in the source data: no violation involves a modeled row.
    assert!(v.iter().all(|x| !x.contains("(modeled")), "{v:#?}");
    // The A100-80GB main-model series are clean.
    assert!(v.iter().all(|x| !x.starts_with("A100-80GB")), "{v:#?}");
    // And the report lists every one of them.
    let report = std::fs::read_to_string("profiles/build-report.md").unwrap();
    for x in &v {
        assert!(report.contains(x.as_str()), "not reported: {x}");
    }
    // The checker does find a planted violation.
    let mut bad = t.clone();
    let key = (
        "A100-80GB".to_string(),
        "resnet50".to_string(),
        "7g.80gb".to_string(),
    );
    bad.get_mut(&key).unwrap().get_mut(&64).unwrap().latency_ms = 1.0;
    let found = check(&bad, 0.05);
    assert!(
        found
            .iter()
            .any(|x| x.contains("resnet50 7g.80gb: latency falls with batch")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|x| x.contains("resnet50 batch 64: larger slice slower"))
            || found.len() > v.len()
    );
}

#[test]
fn every_shipped_trace_loads_and_replays_under_fcfs() {
    let prof = Profiles::load(Path::new("profiles/a100-80gb.parquet")).unwrap();
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let mut n = 0;
    for e in std::fs::read_dir("traces").unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "parquet") {
            let t = Trace::load(&path).unwrap();
            if t.is_llm() {
                // LLM requests (prompt and output tokens) are served by the LLM replica
                // engine from an LLM profile, not by the batch profiles replayed here.
                continue;
            }
            let p = common::built(&Registry::builtin(), "fcfs", &PolicyParams::default());
            let r = replay(
                &common::scenario(
                    &t,
                    &prof,
                    (&gpu, 8),
                    p,
                    &Default::default(),
                    &Default::default(),
                )
                .unwrap(),
            )
            .unwrap();
            assert!(r.invariants.all_ok(), "{}", path.display());
            assert_eq!(r.metrics.headline.queries as usize, t.len());
            n += 1;
        }
    }
    assert!(n >= 7, "expected the 7 shipped traces, found {n}");
}

fn synth_trace(rate: f64, arrivals: Arrivals, batch: BatchSpec, n: u64, seed: u64) -> Trace {
    generate(&GenConfig {
        rate,
        queries: Some(n),
        duration_s: None,
        models: vec![("m".into(), 1.0)],
        arrivals,
        batch,
        seed,
    })
    .unwrap()
}

#[test]
fn generator_rate_and_batch_mean_within_2_percent() {
    let ln = BatchSpec::LogNormal {
        mu: 2.0,
        sigma: 1.0,
        max: 128,
    };
    // The discrete law in closed form: B = round(exp(X)), X ~ N(2, 1), clamped to [1, 128]:
    // P(B = 1) = Phi(ln 1.5 - 2), P(B = b) = Phi(ln(b + 0.5) - 2) - Phi(ln(b - 0.5) - 2),
    // P(B = 128) = 1 - Phi(ln 127.5 - 2), with Phi(z) = erfc(-z / sqrt 2) / 2.
    let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let cdf = |x: f64| phi(x.ln() - 2.0);
    let closed: Vec<f64> = (1..=128u32)
        .map(|b| match b {
            1 => cdf(1.5),
            128 => 1.0 - cdf(127.5),
            _ => cdf(b as f64 + 0.5) - cdf(b as f64 - 0.5),
        })
        .collect();
    assert!((closed.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // The generator's pmf is that law.
    let pmf = ln.pmf().unwrap();
    assert_eq!(pmf.len(), 128);
    for &(b, p) in &pmf {
        assert!(
            (p - closed[b as usize - 1]).abs() < 1e-12,
            "P(B = {b}): {p}"
        );
    }
    let want_batch: f64 = closed
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1) as f64 * p)
        .sum();
    // Below exp(2 + 1/2) = 12.18, the unclamped mean: the clamp cuts the tail above 128.
    assert!(want_batch > 11.0 && want_batch < 12.18, "{want_batch}");
    for (arr, name) in [
        (Arrivals::Poisson, "poisson"),
        (Arrivals::Gamma { cv: 3.0 }, "gamma cv 3"),
        (
            Arrivals::Mmpp {
                ratio: 4.0,
                dwell_s: 0.5,
            },
            "mmpp",
        ),
    ] {
        let t = synth_trace(2000.0, arr.clone(), ln.clone(), 400_000, 5);
        let s = stats(&t);
        // The draws' frequencies match the closed form within 5 standard errors (small batches,
        // and the clamp's mass at 128).
        let n = t.len() as f64;
        for b in [1u32, 2, 3, 5, 8, 13, 128] {
            let p = closed[b as usize - 1];
            let seen = t.batch.iter().filter(|&&x| x == b).count() as f64 / n;
            let se = (p * (1.0 - p) / n).sqrt();
            assert!(
                (seen - p).abs() < 5.0 * se,
                "{name}: P(B = {b}) drawn {seen}, closed form {p}"
            );
        }
        assert!(
            (s.mean_rate_qps / 2000.0 - 1.0).abs() < 0.02,
            "{name}: rate {}",
            s.mean_rate_qps
        );
        assert!(
            (s.batch_mean / want_batch - 1.0).abs() < 0.02,
            "{name}: batch mean {} vs {want_batch}",
            s.batch_mean
        );
        match arr {
            Arrivals::Poisson => assert!(
                (s.interarrival_cv - 1.0).abs() < 0.02,
                "{}",
                s.interarrival_cv
            ),
            Arrivals::Gamma { cv } => assert!(
                (s.interarrival_cv / cv - 1.0).abs() < 0.05,
                "{}",
                s.interarrival_cv
            ),
            Arrivals::Mmpp { .. } => assert!(
                s.interarrival_cv > 1.1,
                "MMPP is burstier than Poisson: {}",
                s.interarrival_cv
            ),
        }
    }
    // An explicit histogram is realized too.
    let h = BatchSpec::parse_histogram("1:0.5,8:0.3,32:0.2").unwrap();
    let s = stats(&synth_trace(
        100.0,
        Arrivals::Poisson,
        h.clone(),
        200_000,
        6,
    ));
    assert!((s.batch_mean / h.mean().unwrap() - 1.0).abs() < 0.02);
    assert_eq!(
        s.batch_histogram
            .iter()
            .map(|b| b.0.as_str())
            .collect::<Vec<_>>(),
        ["1", "8", "32"]
    );
}

#[test]
fn cli_trace_gen_is_deterministic_per_seed() {
    let d = tempfile::tempdir().unwrap();
    let out = |k: &str| d.path().join(k);
    for (name, seed) in [("a", "4"), ("b", "4"), ("c", "5")] {
        let o = common::run(&[
            "trace",
            "gen",
            "--rate",
            "1000",
            "--queries",
            "5000",
            "--model",
            "resnet50",
            "--seed",
            seed,
            "--out",
            common::path_str(&out(name)),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let r = |k| std::fs::read(out(k)).unwrap();
    assert_eq!(r("a"), r("b"));
    assert_ne!(r("a"), r("c"));
    let o = common::run(&["trace", "inspect", common::path_str(&out("a"))]);
    assert!(
        o.stdout.contains("queries           5000") && o.stdout.contains("inter-arrival CV"),
        "{}",
        o.stdout
    );
}

#[test]
fn malformed_csv_imports_give_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("bad.csv");
    let out = d.path().join("t.parquet");
    let import = |body: &str, kind: &str| {
        std::fs::write(&csv, body).unwrap();
        common::run(&[
            "trace",
            "import",
            kind,
            "--csv",
            common::path_str(&csv),
            "--out",
            common::path_str(&out),
        ])
    };
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,10,1\nnot-a-date,5,1\n",
            "azure",
            &[
                "bad.csv",
                "column 'TIMESTAMP'",
                "line 3",
                "'not-a-date' is not a timestamp",
            ],
        ),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,ten,1\n",
            "azure",
            &["column 'ContextTokens'", "line 2", "'ten' is not a number"],
        ),
        (
            "TIMESTAMP,GeneratedTokens\n2023-11-16 18:17:03.97,1\n",
            "azure",
            &["column 'ContextTokens'", "missing column"],
        ),
        ("", "azure", &["bad.csv", "file is empty"]),
        (
            "gmt_create,num_images_per_prompt,checkpoint_model_version_id\n2024-11-15 16:57:50,2.5,M1\n",
            "alibaba",
            &[
                "column 'num_images_per_prompt'",
                "line 2",
                "expected an integer >= 1",
            ],
        ),
    ];
    for (body, kind, parts) in cases {
        let o = import(body, kind);
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        for p in parts {
            assert!(o.stderr.contains(p), "expected {p:?} in {}", o.stderr);
        }
        assert!(!out.exists(), "no output is written on error");
    }
    // A ragged CSV is a parse error, not a panic.
    let o = import(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,1,2,3,4\n",
        "azure",
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("bad.csv"), "{}", o.stderr);
}

#[test]
fn measure_script_output_loads_as_a_profile() {
    // profiles/measure/fixture.parquet is written by measure.py --fake (same writer as real runs).
    let p = Profiles::load(Path::new("profiles/measure/fixture.parquet")).unwrap();
    let s = p.get("A100-80GB", "resnet50", "1g.10gb").unwrap();
    assert_eq!(s.batches, [1, 2, 4, 8, 16]);
    assert!(s.memory_mb.iter().all(|m| m.is_some()));
    assert!(p.get("A100-80GB", "resnet50", "7g.80gb").is_some());
    let cols =
        mig_replay::io::ParquetInput::open(Path::new("profiles/measure/fixture.parquet")).unwrap();
    let names: Vec<_> = cols
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "gpu",
            "slice",
            "model",
            "batch",
            "latency_ms",
            "source",
            "memory_mb",
            "origin"
        ]
    );
}

#[test]
fn profile_build_rejects_bad_source_numbers() {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    // (file, text to replace once, replacement, expected error parts)
    let cases: [(&str, &str, &str, &[&str]); 3] = [
        (
            "sustech-mig-schedule/latency_QUOTED.csv",
            "A100-80GB,1g.10gb,mobilenet_v2,4,5.67",
            "A100-80GB,1g.10gb,mobilenet_v2,0,5.67",
            &[
                "latency_QUOTED.csv",
                "column 'batch_size'",
                "line 2",
                "value 0; expected an integer >= 1",
            ],
        ),
        (
            "sustech-mig-schedule/latency_QUOTED.csv",
            "A100-80GB,1g.10gb,mobilenet_v2,4,5.67",
            "A100-80GB,1g.10gb,mobilenet_v2,4,-5.67",
            &[
                "column 'avg_latency_ms'",
                "line 2",
                "value -5.67; expected a number > 0",
            ],
        ),
        (
            "migprofiler/A100-80GB/infer_cv_integrated_result.csv",
            "vision_transformer,1,5.38,",
            "vision_transformer,1,0,",
            &[
                "infer_cv_integrated_result.csv",
                "column 'latency'",
                "line 2",
                "expected a number > 0",
            ],
        ),
    ];
    for (file, from, to, parts) in cases {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("sources");
        copy_dir(Path::new("profiles/sources"), &src);
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        assert!(text.contains(from), "{file}: fixture text not found");
        std::fs::write(src.join(file), text.replacen(from, to, 1)).unwrap();
        let out = d.path().join("out");
        let o = common::run(&[
            "profile",
            "build",
            "--sources",
            common::path_str(&src),
            "--out-dir",
            common::path_str(&out),
        ]);
        assert_eq!(o.code, 2, "{file}: {}", o.stderr);
        for p in parts {
            assert!(o.stderr.contains(p), "expected {p:?} in {}", o.stderr);
        }
        assert!(
            !out.join("a100-80gb.parquet").exists(),
            "nothing is written on error"
        );
    }
}
