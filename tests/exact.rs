//! The simulator is exact: hand-computed tiny traces, closed forms (M/G/1 Pollaczek-Khinchine,
//! M/M/c Erlang-C), invariants and byte-identical outputs.

mod common;

use mig_replay::drive::replay::{Replay, replay};
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PolicyParams, Registry};
use mig_replay::profile::Profiles;
use mig_replay::service::ServiceModel;
use mig_replay::trace::Trace;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};

const MS: u64 = 1_000_000;

fn run_policy(
    trace: &Trace,
    prof: &Profiles,
    gpus: usize,
    policy: &str,
    slice: Option<&str>,
) -> Replay {
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let mut params = PolicyParams::default();
    if let Some(s) = slice {
        params.set("slice", s);
    }
    let p = common::built(&Registry::builtin(), policy, &params);
    let r = replay(
        &common::scenario(
            trace,
            prof,
            (&gpu, gpus),
            p,
            &ServiceModel::default(),
            &Default::default(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(r.invariants.all_ok(), "{:?}", r.invariants);
    r
}

fn whole_gpu_profile(points: &[(u32, f64)]) -> Profiles {
    let mut p = Profiles::default();
    p.insert("A100-40GB", "m", "7g.40gb", points);
    p
}

#[test]
fn fcfs_one_gpu_hand_computed() {
    // 7g: batch 1 = 10 ms, batch 2 = 15 ms.
    let prof = whole_gpu_profile(&[(1, 10.0), (2, 15.0)]);
    let t = Trace::from_rows([
        (0, "m", 1),
        (5 * MS, "m", 2),
        (5 * MS, "m", 1),
        (40 * MS, "m", 1),
    ]);
    let r = run_policy(&t, &prof, 1, "fcfs", None);
    assert_eq!(r.records.start_ns, vec![0, 10 * MS, 25 * MS, 40 * MS]);
    assert_eq!(
        r.records.finish_ns,
        vec![10 * MS, 25 * MS, 35 * MS, 50 * MS]
    );
    let m = &r.metrics.headline;
    // Latencies 10, 20, 30, 10 ms; queueing 0, 5, 20, 0 ms.
    assert_eq!(m.latency.mean_ms, 17.5);
    assert_eq!(m.latency.max_ms, 30.0);
    assert_eq!(r.metrics.queue.mean_ms, 6.25);
    // Window 0..50 ms, busy 45 ms on the only (7-GPC) instance.
    assert_eq!(m.duration_s, 0.05);
    assert!((m.utilization - 0.9).abs() < 1e-12);
    assert_eq!(m.extrapolated, 0);
}

#[test]
fn fcfs_ties_lowest_index_and_completion_before_arrival() {
    let prof = whole_gpu_profile(&[(1, 10.0)]);
    // q0, q1 start at 0 on instances 0 and 1; q2 waits; both free at 10 ms: q2 takes instance 0
    // (lowest index), and q3 arriving at exactly 10 ms finds instance 1 free (completions first).
    let t = Trace::from_rows([(0, "m", 1), (0, "m", 1), (MS, "m", 1), (10 * MS, "m", 1)]);
    let r = run_policy(&t, &prof, 2, "fcfs", None);
    assert_eq!(r.records.instance, vec![0, 1, 0, 1]);
    assert_eq!(r.records.start_ns, vec![0, 0, 10 * MS, 10 * MS]);
    assert_eq!(
        r.records.finish_ns,
        vec![10 * MS, 10 * MS, 20 * MS, 20 * MS]
    );
}

#[test]
fn homogeneous_1g_hand_computed_with_interpolation_and_extrapolation() {
    let mut prof = Profiles::default();
    prof.insert("A100-40GB", "m", "1g.5gb", &[(2, 20.0), (4, 30.0)]);
    // 8 queries at t=0 on 7 x 1g: batch 3 is interpolated (25 ms); batch 8 is extrapolated from
    // the last two points (30 + 4 * 5 = 50 ms); batch 1 is clamped to batch 2 (20 ms).
    let rows: Vec<(u64, &str, u32)> = vec![
        (0, "m", 3),
        (0, "m", 8),
        (0, "m", 1),
        (0, "m", 2),
        (0, "m", 2),
        (0, "m", 2),
        (0, "m", 2),
        (0, "m", 4),
    ];
    let t = Trace::from_rows(rows);
    let r = run_policy(&t, &prof, 1, "homogeneous", Some("1g.5gb"));
    assert_eq!(r.server.instances.len(), 7);
    assert_eq!(
        r.server.layout_names(),
        vec!["1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb"]
    );
    assert_eq!(
        &r.records.finish_ns[..7],
        &[
            25 * MS,
            50 * MS,
            20 * MS,
            20 * MS,
            20 * MS,
            20 * MS,
            20 * MS
        ]
    );
    // The 8th waits for the first completion (instances 2..6 all at 20 ms: lowest is 2).
    assert_eq!(r.records.instance[7], 2);
    assert_eq!(r.records.start_ns[7], 20 * MS);
    assert_eq!(r.records.finish_ns[7], 50 * MS);
    assert_eq!(r.metrics.headline.extrapolated, 2);
    // Utilization: busy 25+50+20*5+30 = 205 ms x 1 GPC over 7 GPCs x 50 ms.
    assert!((r.metrics.headline.utilization - 205.0 / 350.0).abs() < 1e-12);
}

#[test]
fn rate_scale_halves_arrivals() {
    let mut t = Trace::from_rows([(0, "m", 1), (3, "m", 1), (10_000, "m", 1)]);
    t.scale_rate(2.0).unwrap();
    assert_eq!(t.arrival_ns, vec![0, 2, 5000]);
    assert!(t.scale_rate(0.0).is_err());
}

/// Batch sizes 1..=4 with service 2, 3, 5, 8 ms, weighted: a general service distribution.
fn mg1_setup() -> (Profiles, BatchSpec, f64, f64) {
    let pts = [(1, 2.0), (2, 3.0), (3, 5.0), (4, 8.0)];
    let prof = whole_gpu_profile(&pts);
    let batch = BatchSpec::Histogram(vec![(1, 0.4), (2, 0.3), (3, 0.2), (4, 0.1)]);
    let pmf = batch.pmf().unwrap();
    let es: f64 = pmf
        .iter()
        .map(|&(b, p)| p * pts[b as usize - 1].1 / 1e3)
        .sum();
    let es2: f64 = pmf
        .iter()
        .map(|&(b, p)| p * (pts[b as usize - 1].1 / 1e3).powi(2))
        .sum();
    (prof, batch, es, es2)
}

fn check_pk(rho: f64, queries: u64, seed: u64) {
    let (prof, batch, es, es2) = mg1_setup();
    let lambda = rho / es;
    let cfg = GenConfig {
        rate: lambda,
        queries: Some(queries),
        duration_s: None,
        models: vec![("m".into(), 1.0)],
        arrivals: Arrivals::Poisson,
        batch,
        seed,
    };
    let t = generate(&cfg).unwrap();
    let r = run_policy(&t, &prof, 1, "fcfs", None);
    let wq = lambda * es2 / (2.0 * (1.0 - rho)) * 1e3; // ms
    let got = r.metrics.queue.mean_ms;
    let err = (got - wq).abs() / wq;
    println!(
        "rho {rho}: P-K mean wait {wq:.4} ms, simulated {got:.4} ms, error {:.2}%",
        100.0 * err
    );
    assert!(
        err < 0.02,
        "rho {rho}: P-K {wq} ms vs simulated {got} ms ({:.2}%)",
        100.0 * err
    );
}

#[test]
fn mg1_pollaczek_khinchine_rho_0_5() {
    check_pk(0.5, 1_000_000, 11);
}

#[test]
fn mg1_pollaczek_khinchine_rho_0_8() {
    check_pk(0.8, 6_000_000, 12);
}

/// Erlang-C mean wait for M/M/c with arrival rate `lambda` and mean service `es` (seconds).
fn erlang_c_wait(c: u32, lambda: f64, es: f64) -> f64 {
    let a = lambda * es;
    let rho = a / c as f64;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / k as f64;
        sum += term;
    }
    let last = term * a / c as f64 / (1.0 - rho);
    let pc = last / (sum + last);
    pc * es / (c as f64 * (1.0 - rho))
}

#[test]
fn mmc_erlang_c_on_seven_1g_slices() {
    // Exponential service (mean 10 ms) discretized on K batch quantiles, batches uniform.
    let k = 4000u32;
    let mean_ms = 10.0;
    let pts: Vec<(u32, f64)> = (1..=k)
        .map(|b| (b, -mean_ms * (1.0 - (b as f64 - 0.5) / k as f64).ln()))
        .collect();
    let mut prof = Profiles::default();
    prof.insert("A100-40GB", "m", "1g.5gb", &pts);
    let es = pts.iter().map(|p| p.1).sum::<f64>() / k as f64 / 1e3;
    let es2 = pts.iter().map(|p| (p.1 / 1e3).powi(2)).sum::<f64>() / k as f64;
    let scv = es2 / (es * es) - 1.0;
    assert!(
        (scv - 1.0).abs() < 0.01,
        "service is close to exponential (SCV {scv})"
    );
    // Run lengths are set by the noise of the mean wait: at 1M queries and rho 0.7, five seeds
    // scattered by +-1.5%; 4M (rho 0.5) and 8M (rho 0.8) keep one standard error near 0.8%.
    for (rho, n, seed) in [(0.5, 4_000_000, 21), (0.8, 8_000_000, 22)] {
        let lambda = rho * 7.0 / es;
        let cfg = GenConfig {
            rate: lambda,
            queries: Some(n),
            duration_s: None,
            models: vec![("m".into(), 1.0)],
            arrivals: Arrivals::Poisson,
            batch: BatchSpec::Histogram((1..=k).map(|b| (b, 1.0)).collect()),
            seed,
        };
        let t = generate(&cfg).unwrap();
        let r = run_policy(&t, &prof, 1, "homogeneous", Some("1g"));
        let wq = erlang_c_wait(7, lambda, es) * 1e3;
        let got = r.metrics.queue.mean_ms;
        let err = (got - wq).abs() / wq;
        println!(
            "M/M/7 rho {rho}: Erlang-C {wq:.4} ms, simulated {got:.4} ms ({:.2}%)",
            100.0 * err
        );
        assert!(
            err < 0.03,
            "rho {rho}: Erlang-C {wq} vs {got} ({:.2}%)",
            100.0 * err
        );
        // Utilization of the whole GPU equals rho (7 x 1g use all 7 GPCs).
        assert!(
            (r.metrics.headline.utilization - rho).abs() < 0.01,
            "{}",
            r.metrics.headline.utilization
        );
    }
}

#[test]
fn conservation_causality_no_overlap_on_a_busy_run() {
    let mut prof = Profiles::default();
    for s in ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"] {
        prof.insert("A100-40GB", "a", s, &[(1, 3.0), (8, 9.0), (64, 40.0)]);
        prof.insert("A100-40GB", "b", s, &[(1, 1.0), (32, 7.0)]);
    }
    let cfg = GenConfig {
        rate: 4000.0,
        queries: Some(50_000),
        duration_s: None,
        models: vec![("a".into(), 1.0), ("b".into(), 3.0)],
        arrivals: Arrivals::Gamma { cv: 3.0 },
        batch: BatchSpec::LogNormal {
            mu: 1.5,
            sigma: 1.0,
            max: 64,
        },
        seed: 3,
    };
    let t = generate(&cfg).unwrap();
    for (policy, slice) in [
        ("fcfs", None),
        ("homogeneous", Some("2g")),
        ("homogeneous", Some("1g.5gb")),
    ] {
        let r = run_policy(&t, &prof, 4, policy, slice);
        let rec = &r.records;
        // Conservation: every query was assigned once and the instance counts add up.
        assert_eq!(
            r.metrics.instances.iter().map(|i| i.queries).sum::<u64>(),
            t.len() as u64
        );
        // Busy time equals the sum of service times.
        let total: u64 = (0..t.len())
            .map(|q| rec.finish_ns[q] - rec.start_ns[q])
            .sum();
        assert_eq!(total, rec.busy_ns.iter().sum::<u64>());
        // Percentiles are exact nearest-rank order statistics: the value of rank
        // ceil(p x n) in sorted order, the rank computed in integers (per mille).
        let mut lat: Vec<u64> = (0..t.len())
            .map(|q| rec.finish_ns[q] - t.arrival_ns[q])
            .collect();
        lat.sort_unstable();
        let m = &r.metrics.headline.latency;
        for (per_mille, got) in [
            (500, m.p50_ms),
            (900, m.p90_ms),
            (950, m.p95_ms),
            (990, m.p99_ms),
            (999, m.p999_ms),
        ] {
            let rank = (per_mille * lat.len()).div_ceil(1000).max(1);
            let exact = lat[rank - 1] as f64 / 1e6;
            assert_eq!(got, exact, "{policy}: p{per_mille}/1000");
        }
    }
}

#[test]
fn cli_outputs_are_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let trace = common::good_trace(dir.path());
    let prof = common::good_profile(dir.path());
    let mut outs = vec![];
    for k in 0..2 {
        let out = dir.path().join(format!("out{k}"));
        let o = common::run(&[
            "run",
            "--trace",
            common::path_str(&trace),
            "--profiles",
            common::path_str(&prof),
            "--gpu",
            "A100-40GB",
            "--gpus",
            "2",
            "--policy",
            "homogeneous",
            "--slice",
            "2g.10gb",
            "--sla-ms",
            "12",
            "--out",
            common::path_str(&out),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stdout
                .contains("invariants: conservation ok, causality ok, no overlap ok"),
            "{}",
            o.stdout
        );
        outs.push(out);
    }
    for f in ["summary.json", "queries.parquet"] {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        let b = std::fs::read(outs[1].join(f)).unwrap();
        assert_eq!(a, b, "{f} differs between two identical runs");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[0].join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["policy"], "homogeneous");
    assert_eq!(s["layout"][0], "2g.10gb+2g.10gb+2g.10gb");
    assert_eq!(s["queries"], 4);
    // The one SLA, per model with its source, and the figures judged by it.
    assert_eq!(s["sla"][0]["model"], "m");
    assert_eq!(s["sla"][0]["sla_ms"], 12.0);
    assert_eq!(s["sla"][0]["source"], "--sla-ms");
    assert_eq!(s["per_model"]["m"]["sla_ms"], 12.0);
    // By hand: 2 GPUs of three 2g.10gb instances each (6 instances), 4 queries (arrivals 0, 5,
    // 5, 40 ms; batches 1, 2, 1, 1): every query finds an idle instance, so its latency is its
    // service time on 2g (the fixture's 1g..7g factors: 2.0 x 10 ms for batch 1, 2.0 x 15 ms
    // for batch 2): 20, 30, 20, 20 ms. Against a 12 ms SLA every query misses: violation rate
    // 1, goodput 0; p99 (nearest rank ceil(0.99 x 4) = 4th of 20, 20, 20, 30) is 30 ms.
    assert_eq!(s["instances"].as_array().unwrap().len(), 6);
    assert_eq!(s["sla_violation_rate"].as_f64(), Some(1.0));
    assert_eq!(s["goodput_qps"].as_f64(), Some(0.0));
    assert_eq!(
        s["per_model"]["m"]["sla_violation_rate"].as_f64(),
        Some(1.0)
    );
    assert_eq!(s["per_model"]["m"]["p99_ms"].as_f64(), Some(30.0));
    assert_eq!(s["inputs"]["trace"]["sha256"].as_str().unwrap().len(), 64);
    // The per-query file reads back through the trace loader's own reader.
    let q = mig_replay::io::ParquetInput::open(&outs[0].join("queries.parquet")).unwrap();
    let names: Vec<_> = q.schema.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        [
            "id",
            "model",
            "batch",
            "arrival_us",
            "arrival_ns",
            "start_us",
            "finish_us",
            "gpu",
            "instance",
            "slice"
        ]
    );
    assert_eq!(q.rows, 4);
    // It is a trace: loaded as one, it has the replay's queries, arrivals, batches and ids.
    let t = Trace::load(&trace).unwrap();
    let again = Trace::load(&outs[0].join("queries.parquet")).unwrap();
    assert_eq!(again.arrival_ns, t.arrival_ns);
    assert_eq!(again.batch, t.batch);
    let ids = |x: &Trace| (0..x.len()).map(|q| x.id_of(q)).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&t));
}

#[test]
fn trace_loader_accepts_other_integer_widths_and_string_encodings() {
    use arrow_array::types::Int16Type;
    use arrow_array::{
        ArrayRef, DictionaryArray, Int8Array, LargeStringArray, StringViewArray, UInt32Array,
    };
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let arrival: ArrayRef = Arc::new(UInt32Array::from(vec![10u32, 0, 5]));
    let batch: ArrayRef = Arc::new(Int8Array::from(vec![2i8, 1, 1]));
    let models: [ArrayRef; 3] = [
        Arc::new(LargeStringArray::from(vec!["m", "m", "n"])),
        Arc::new(StringViewArray::from(vec!["m", "m", "n"])),
        Arc::new(DictionaryArray::<Int16Type>::from_iter(["m", "m", "n"])),
    ];
    for (k, model) in models.into_iter().enumerate() {
        let p = dir.path().join(format!("t{k}.parquet"));
        common::write_batch(
            &p,
            vec![
                ("arrival_us", arrival.clone()),
                ("model", model),
                ("batch", batch.clone()),
            ],
        );
        let t = Trace::load(&p).unwrap();
        // Sorted stably by arrival; ids are the original row indices.
        assert_eq!(t.arrival_ns, vec![0, 5000, 10_000], "encoding {k}");
        assert_eq!(t.id, vec![1, 2, 0]);
        assert_eq!(t.batch, vec![1, 1, 2]);
        let names: Vec<&str> = t
            .model
            .iter()
            .map(|&m| t.models[m as usize].as_str())
            .collect();
        assert_eq!(names, ["m", "n", "m"]);
    }
}
