//! The instrument on mixed traffic and at its edges: every query judged by its own model's SLA
//! (hand-computed), `peak`'s per-model criterion against a closed form, a lower bound at the
//! search cap, and the sweep's honest statistics (trace windows as replicates, an absolute
//! reference load, failed peaks marked, mismatched reports refused).

mod common;

use common::{path_str, run};
use mig_replay::drive::peak::{MAX_SCALE, PeakConfig, find_peak};
use mig_replay::drive::replay::replay;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PolicyParams, Registry};
use mig_replay::profile::Profiles;
use mig_replay::sla::SlaSpec;
use mig_replay::trace::Trace;

const MS: u64 = 1_000_000;

/// One whole A100-40GB; both models take 10 ms per query.
fn two_models() -> Profiles {
    let mut p = Profiles::default();
    for m in ["a", "b"] {
        p.insert("A100-40GB", m, "7g.40gb", &[(1, 10.0)]);
    }
    p
}

#[test]
fn every_query_is_judged_by_its_own_models_sla() {
    // FCFS on one GPU: a0@0 runs 0-10 (latency 10), b0@0 10-20 (20), a1@5 20-30 (25),
    // b1@30 30-40 (10). The window is 0-40 ms.
    let t = Trace::from_rows([
        (0, "a", 1),
        (0, "b", 1),
        (5 * MS, "a", 1),
        (30 * MS, "b", 1),
    ]);
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let prof = two_models();
    let reg = Registry::builtin();
    let go = |slas: &SlaSpec| {
        let p = common::built(&reg, "fcfs", &PolicyParams::default());
        replay(&common::scenario(&t, &prof, (&gpu, 1), p, &Default::default(), slas).unwrap())
            .unwrap()
    };
    // a: 30 ms (met by both), b: 15 ms (b0 misses).
    let mut slas = SlaSpec::global(15.0);
    slas.per_model.insert("a".into(), 30.0);
    let r = go(&slas);
    assert_eq!(r.records.finish_ns, [10 * MS, 20 * MS, 30 * MS, 40 * MS]);
    let h = &r.metrics.headline;
    assert_eq!(h.sla_violation_rate, Some(0.25));
    assert_eq!(h.sla_attainment, Some(0.75));
    // 3 queries met their SLA in 0.04 s.
    assert!((h.goodput_qps.unwrap() - 75.0).abs() < 1e-9);
    let pm = &r.metrics.per_model;
    assert_eq!(
        (pm["a"].sla_ms, pm["a"].sla_violation_rate),
        (Some(30.0), Some(0.0))
    );
    assert_eq!(
        (pm["b"].sla_ms, pm["b"].sla_violation_rate),
        (Some(15.0), Some(0.5))
    );
    assert!((pm["b"].goodput_qps.unwrap() - 25.0).abs() < 1e-9);
    // The recorded SLAs name their sources.
    let src: Vec<(&str, &str)> = r
        .metrics
        .sla
        .iter()
        .map(|s| (s.model.as_str(), s.source.as_str()))
        .collect();
    assert_eq!(src, [("a", "param sla.a"), ("b", "--sla-ms")]);
    // The same trace under one 15 ms SLA: a1 (25 ms) and b0 (20 ms) miss.
    let r = go(&SlaSpec::global(15.0));
    assert_eq!(r.metrics.headline.sla_violation_rate, Some(0.5));
    // Without any SLA nothing is judged and there is no goodput.
    let r = go(&SlaSpec::default());
    let h = &r.metrics.headline;
    assert_eq!((h.sla_violation_rate, h.goodput_qps), (None, None));
    // Only a has one: only a's queries are judged; goodput needs every model judged.
    let mut only_a = SlaSpec::default();
    only_a.per_model.insert("a".into(), 20.0);
    let h = go(&only_a).metrics.headline;
    assert_eq!((h.sla_violation_rate, h.goodput_qps), (Some(0.5), None));
}

#[test]
fn peak_binds_on_the_model_that_misses_its_own_sla_first() {
    // Arrivals every 10 ms alternating a, b (1000 queries), 4 ms service, one GPU. At scale k
    // the gap is 10/k ms and, below 4 ms, query j waits j (4 - 10/k). Each model has 500
    // queries; its nearest-rank p99 is its 495th, at position j = 988 for a (even positions)
    // and 989 for b. With SLAs a 6 ms and b 100 ms, a binds: 4 + 988 (4 - 10/k) <= 6, so
    // k*_a = 10 / (4 - 2/988), while b alone would allow 10 / (4 - 96/989).
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let mut prof = Profiles::default();
    for m in ["a", "b"] {
        prof.insert("A100-40GB", m, "7g.40gb", &[(1, 4.0)]);
    }
    let t = Trace::from_rows(
        (0..1000u64).map(|j| (j * 10 * MS, if j % 2 == 0 { "a" } else { "b" }, 1)),
    );
    let reg = Registry::builtin();
    let mut slas = SlaSpec::global(100.0);
    slas.per_model.insert("a".into(), 6.0);
    let cfg = PeakConfig {
        percentile: 99.0,
        tolerance: 0.001,
        pooled: false,
    };
    let r = find_peak(
        &common::scenario(
            &t,
            &prof,
            (&gpu, 1),
            common::built(&reg, "fcfs", &PolicyParams::default()),
            &Default::default(),
            &slas,
        )
        .unwrap(),
        &cfg,
    )
    .unwrap();
    let k_a = 10.0 / (4.0 - 2.0 / 988.0);
    assert!(
        r.rate_scale <= k_a && r.rate_scale >= k_a / 1.001,
        "{} vs {k_a}",
        r.rate_scale
    );
    assert_eq!((r.binding_model.as_str(), r.sla_ms), ("a", 6.0));
    assert!(r.latency_ms_at_peak <= 6.0 && !r.lower_bound);
    // Pooled over both models needs one SLA for both.
    let pooled = PeakConfig {
        pooled: true,
        ..cfg
    };
    let e = find_peak(
        &common::scenario(
            &t,
            &prof,
            (&gpu, 1),
            common::built(&reg, "fcfs", &PolicyParams::default()),
            &Default::default(),
            &slas,
        )
        .unwrap(),
        &pooled,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("SLAs differ"), "{e}");
    // With one 6 ms SLA pooled, the pooled p99 is rank 990 of 1000, position 989:
    // k* = 10 / (4 - 2/989).
    let r = find_peak(
        &common::scenario(
            &t,
            &prof,
            (&gpu, 1),
            common::built(&reg, "fcfs", &PolicyParams::default()),
            &Default::default(),
            &SlaSpec::global(6.0),
        )
        .unwrap(),
        &pooled,
    )
    .unwrap();
    let k = 10.0 / (4.0 - 2.0 / 989.0);
    assert!(
        r.rate_scale <= k && r.rate_scale >= k / 1.001,
        "{}",
        r.rate_scale
    );
    assert_eq!(r.binding_model, "*");
    // An SLA that never binds: the cap, flagged as a lower bound, not an error.
    let r = find_peak(
        &common::scenario(
            &t,
            &prof,
            (&gpu, 1),
            common::built(&reg, "fcfs", &PolicyParams::default()),
            &Default::default(),
            &SlaSpec::global(1e12),
        )
        .unwrap(),
        &cfg,
    )
    .unwrap();
    assert!(r.lower_bound);
    assert_eq!(r.rate_scale, MAX_SCALE);
}

#[test]
fn run_and_peak_report_per_model_slas_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = run(&[
        "run",
        "--trace",
        "traces/alibaba-genai.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--policy",
        "paris+elsa",
        "--sla-ms",
        "50",
        "--param",
        "sla.bert-base=200",
        "--param",
        "sla.resnet50=15",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for want in [
        "SLA bert-base 200 ms (param sla.bert-base)",
        "SLA resnet50 15 ms (param sla.resnet50)",
        "SLA mobilenet-v2 50 ms (--sla-ms)",
        "SLA attainment",
        "goodput",
    ] {
        assert!(o.stdout.contains(want), "{want}: {}", o.stdout);
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["per_model"]["bert-base"]["sla_ms"], 200.0);
    assert_eq!(s["per_model"]["resnet50"]["sla_ms"], 15.0);
    // The scheduler enforced the same SLAs the figures are judged by.
    assert_eq!(s["scheduler_details"]["sla"], s["sla"]);
    // The overall rate is the per-model rates weighted by their queries.
    let q = |m: &str| s["per_model"][m]["queries"].as_f64().unwrap();
    let v = |m: &str| s["per_model"][m]["sla_violation_rate"].as_f64().unwrap();
    let models = ["bert-base", "resnet50", "mobilenet-v2"];
    let weighted: f64 =
        models.iter().map(|m| q(m) * v(m)).sum::<f64>() / models.iter().map(|m| q(m)).sum::<f64>();
    assert!((s["sla_violation_rate"].as_f64().unwrap() - weighted).abs() < 1e-12);
    // peak says which model binds: the one whose p99 is the largest fraction of its own SLA
    // in the replay at the peak. Computed here from that replay's queries.parquet (`run` at
    // the peak's rate scale), each model's nearest-rank p99 by sorting.
    let policy_args = [
        "--trace",
        "traces/alibaba-genai.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--policy",
        "paris+elsa",
        "--sla-ms",
        "50",
        "--param",
        "sla.resnet50=15",
    ];
    let mut a = vec!["peak"];
    a.extend(policy_args);
    a.extend(["--tolerance", "0.05"]);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("binding model"), "{}", o.stdout);
    a.push("--json");
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let p: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let k = p["rate_scale"].as_f64().unwrap().to_string();
    let at_peak = dir.path().join("at-peak");
    let mut a = vec!["run"];
    a.extend(policy_args);
    a.extend(["--rate-scale", &k, "--out", path_str(&at_peak)]);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let q = read_columns(&at_peak.join("queries.parquet"));
    let mut lat: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for i in 0..q.model.len() {
        let finish_ns = (q.finish_us[i] * 1e3).round() as u64;
        lat.entry(q.model[i].clone())
            .or_default()
            .push(finish_ns - q.arrival_ns[i]);
    }
    assert!(lat.len() >= 2, "a mixed trace: {:?}", lat.keys());
    let (binding, p99_ms, sla_ms) = lat
        .iter_mut()
        .map(|(m, l)| {
            l.sort_unstable();
            let p99 = l[(99 * l.len()).div_ceil(100) - 1] as f64 / 1e6;
            let sla = if m == "resnet50" { 15.0 } else { 50.0 };
            (m.clone(), p99, sla)
        })
        .max_by(|x, y| (x.1 / x.2).total_cmp(&(y.1 / y.2)))
        .unwrap();
    assert_eq!(p["binding_model"], binding.as_str(), "{p}");
    assert_eq!(p["sla_ms"].as_f64(), Some(sla_ms), "{p}");
    assert!(
        (p["latency_ms_at_peak"].as_f64().unwrap() - p99_ms).abs() < 1e-6,
        "{p} vs {p99_ms}"
    );
    // And an SLA that never binds is a lower bound, said so.
    let o = run(&[
        "peak",
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "2",
        "--policy",
        "fcfs",
        "--sla-ms",
        "1e12",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains(">=1073741824.0000"), "{}", o.stdout);
    assert!(o.stdout.contains("a lower bound"), "{}", o.stdout);
}

const SWEEP: &str = r#"
name = "stats"
gpu = "A100-80GB"
gpus = 2
profiles = "profiles/a100-80gb.parquet"
seeds = [1, 2, 3]
tolerance = 0.05
loads = [0.5]

[[workload]]
name = "q"
trace = "traces/quickstart.parquet"
sla_ms = 60
replicates = "windows"
reference_qps = 100

[[policy]]
name = "fcfs"

[[policy]]
name = "homogeneous[slice=1g]"
"#;

#[test]
fn replicates_from_trace_windows_an_absolute_reference_and_checked_setups() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, SWEEP).unwrap();
    let a = dir.path().join("a");
    let o = run(&["sweep", "--config", path_str(&cfg), "--out", path_str(&a)]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["workloads"][0]["replicates"], "windows (3 of the trace)");
    assert_eq!(s["workloads"][0]["reference"], "100 q/s");
    // The quickstart trace has 2000 queries: three windows of 666, 667 and 667.
    let t = Trace::load("traces/quickstart.parquet".as_ref()).unwrap();
    let f = std::fs::File::open(a.join("results.parquet")).unwrap();
    let rows: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let mut queries = std::collections::BTreeSet::new();
    let mut reference_rates = Vec::new();
    for b in &rows {
        let q = b
            .column_by_name("queries")
            .unwrap()
            .as_primitive::<Int64Type>();
        let off = b
            .column_by_name("offered_qps")
            .unwrap()
            .as_primitive::<Float64Type>();
        let r = b.column_by_name("reference").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            queries.insert(q.value(i));
            if r.value(i) {
                reference_rates.push(off.value(i));
            }
        }
    }
    // Window k holds positions floor(k n / 3) .. floor((k + 1) n / 3).
    let n = t.len() as i64;
    let sizes: std::collections::BTreeSet<i64> = [n / 3, 2 * n / 3 - n / 3, n - 2 * n / 3]
        .into_iter()
        .collect();
    assert_eq!(queries, sizes);
    // The reference runs are at the absolute rate, for every policy and seed.
    assert_eq!(reference_rates.len(), 6);
    assert!(
        reference_rates.iter().all(|&r| (r - 100.0).abs() < 1e-6),
        "{reference_rates:?}"
    );
    // Three different windows: three different peaks for fcfs, hence an interval.
    let fcfs = &s["verdict"][0];
    assert_eq!(fcfs["policy"], "fcfs");
    assert_eq!(fcfs["peak_qps"]["n"], 3);
    assert!(fcfs["peak_qps"]["ci95"].as_f64().is_some(), "{fcfs}");
    // homogeneous 1g cannot meet 60 ms with resnet50's largest batches: failed peaks, marked
    // and counted as 0.
    let h = &s["verdict"][1];
    assert_eq!(h["failed_peaks"], 3);
    assert_eq!(h["peak_qps"]["mean"], 0.0);
    assert!(o.stdout.contains("†3"), "{}", o.stdout);
    assert!(
        o.stdout.contains("3 seeds found no sustainable load")
            || o.stdout.contains("†k: k seeds found no sustainable load"),
        "{}",
        o.stdout
    );
    // Another setup does not compare: seeds, SLAs and the reference load are named.
    let mut other = s.clone();
    other["seeds"] = serde_json::json!([1, 2]);
    other["workloads"][0]["sla_ms"] = serde_json::json!(50.0);
    other["workloads"][0]["reference"] = serde_json::json!("200 q/s");
    let b = dir.path().join("other.json");
    std::fs::write(&b, serde_json::to_string(&other).unwrap()).unwrap();
    let o = run(&["compare", path_str(&a), path_str(&b)]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    for want in [
        "seeds: baseline [1, 2, 3], new [1, 2]",
        "workload q SLA: baseline 60 ms {}, new 50 ms {}",
        "workload q reference load: baseline 100 q/s, new 200 q/s",
    ] {
        assert!(o.stderr.contains(want), "{want}: {}", o.stderr);
    }
}

/// A100-40GB: model m on 1g.5gb (5,120 MB), 2g.10gb, 4g.20gb; batch 1 needs 1,000 MB and
/// batch 8 needs 6,000 MB (more than a 1g.5gb holds). Latencies (ms): batch 1 takes 2 on 1g,
/// 1.5 on 2g, 1 on 4g; batch 8 takes 8, 6, 4.
fn memory_profile() -> Profiles {
    let mut p = Profiles::default();
    for (s, l1, l8) in [
        ("1g.5gb", 2.0, 8.0),
        ("2g.10gb", 1.5, 6.0),
        ("4g.20gb", 1.0, 4.0),
    ] {
        p.insert_rows(
            "A100-40GB",
            "m",
            s,
            &[(1, l1, None, Some(1000.0)), (8, l8, None, Some(6000.0))],
        );
    }
    p
}

#[test]
fn no_batch_runs_on_a_slice_whose_memory_it_exceeds() {
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let prof = memory_profile();
    let reg = Registry::builtin();
    let go = |policy: &str, layout: &str, t: &Trace| {
        let params = if layout.is_empty() {
            PolicyParams::default()
        } else {
            PolicyParams::from_pairs(&[("layout", layout)])
        };
        let p = common::built(&reg, policy, &params);
        replay(&common::scenario(
            t,
            &prof,
            (&gpu, 1),
            p,
            &Default::default(),
            &SlaSpec::global(100.0),
        )?)
    };
    // ELSA: a batch of 8 on an idle 4g+2g+1g would go to the smallest feasible slice, the
    // 1g (8 ms <= 100 ms); its memory does not hold it, so the 2g (instance 1).
    let t = Trace::from_rows([(0, "m", 8)]);
    let r = go("fixed+elsa", "4g.20gb+2g.10gb+1g.5gb", &t).unwrap();
    assert_eq!(r.records.instance, [1]);
    // FIFO on 3 x 2g + 1g (instances 0-2 the 2g, 3 the 1g): three batch-1 queries at 0 take
    // the 2g; the batch of 8 at 0.5 ms finds only the 1g idle and waits; the batch of 1 at
    // 0.6 ms takes the 1g (2 ms); at 1.5 ms the 2g of instance 0 frees and takes the 8 (6 ms).
    let us = 1_000;
    let t = Trace::from_rows([
        (0, "m", 1),
        (0, "m", 1),
        (0, "m", 1),
        (500 * us, "m", 8),
        (600 * us, "m", 1),
    ]);
    let r = go("fixed", "2g.10gb+2g.10gb+2g.10gb+1g.5gb", &t).unwrap();
    assert_eq!(r.records.instance, [0, 1, 2, 0, 3]);
    assert_eq!(r.records.start_ns, [0, 0, 0, 1500 * us, 600 * us]);
    assert_eq!(
        r.records.finish_ns,
        [1500 * us, 1500 * us, 1500 * us, 7500 * us, 2600 * us]
    );
    // A layout with nowhere to put the batch of 8: exit 2 before the replay, naming it.
    let e = go(
        "fixed",
        "1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb",
        &t,
    )
    .err()
    .expect("refused");
    assert_eq!(e.exit_code(), 2);
    let e = e.to_string();
    assert!(
        e.contains("a batch of 8 of model 'm' exceeds the memory (memory_mb) of every slice"),
        "{e}"
    );
    // PARIS maps the batch of 8 to a slice that holds it, whatever the knees say.
    let t = Trace::from_rows((0..40u64).map(|j| (j * MS, "m", if j % 4 == 0 { 8 } else { 1 })));
    let r = go("paris+fifo", "", &t);
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let plan = serde_json::to_value(r.partition.unwrap()).unwrap();
    let b8 = plan["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["batch"] == 8)
        .unwrap()
        .clone();
    assert_ne!(b8["slice"], "1g.5gb", "{b8}");
    assert!(r.invariants.all_ok());
    // No batch of 8 ran on a 1g.
    for q in 0..t.len() {
        let inst = r.server.instances[r.records.instance[q] as usize];
        if t.batch[q] == 8 {
            assert_ne!(gpu.profiles[inst.slice].name, "1g.5gb");
        }
    }
}

/// The columns of a `queries.parquet` the binding-model check reads.
struct QueryColumns {
    model: Vec<String>,
    arrival_ns: Vec<u64>,
    finish_us: Vec<f64>,
}

fn read_columns(path: &std::path::Path) -> QueryColumns {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let f = std::fs::File::open(path).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut q = QueryColumns {
        model: vec![],
        arrival_ns: vec![],
        finish_us: vec![],
    };
    for b in r {
        let b = b.unwrap();
        let m = arrow_cast::cast(
            b.column_by_name("model").unwrap(),
            &arrow_schema::DataType::Utf8,
        )
        .unwrap();
        q.model
            .extend(m.as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
        let a = arrow_cast::cast(
            b.column_by_name("arrival_ns").unwrap(),
            &arrow_schema::DataType::Int64,
        )
        .unwrap();
        q.arrival_ns.extend(
            a.as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| v as u64),
        );
        q.finish_us.extend(
            b.column_by_name("finish_us")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values(),
        );
    }
    q
}
