//! `peak` and `plan` on an LLM trace, judged by goodput: hand-computed answers on a replica
//! whose every step costs the same (c0 only) and that serves one request at a time
//! (`max_num_seqs = 1`), so that it is a deterministic single-server queue; bad inputs exit 2
//! naming the flag.
//!
//! The queue, by hand. A request of p = 16 prompt tokens and o = 4 output tokens takes one
//! prefill step (its 16 tokens fit the 64-token budget; the step emits the first token) and
//! three decode steps: with c0 = 10 ms a step, its service time is S = 4 x 10 = 40 ms, its TTFT
//! alone 10 ms and its TPOT (40 - 10) / 3 = 10 ms. With one request at a time, request i (from 0)
//! of arrivals every D <= S ms starts when request i - 1 finishes, at i S (the replica is busy
//! from the first arrival on), so its TTFT is 10 + i (S - D) ms and its TPOT stays 10 ms. At
//! D = S exactly, each request arrives as the previous finishes (a step end comes before an
//! arrival at the same instant) and starts at once.

mod common;

use common::{path_str, run};
use mig_replay::drive::capacity::Search;
use mig_replay::drive::llm::LlmScenario;
use mig_replay::drive::llm_search::{find_llm_peak, plan_llm};
use mig_replay::llm::params::LlmParams;
use mig_replay::llm::profile::LlmProfiles;
use mig_replay::metrics::llm::Slo;
use mig_replay::policy::router::LlmPolicy;
use mig_replay::trace::Trace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MS: u64 = 1_000_000;

/// One RTXPRO6000 profile of model `m`: every step 10 ms, one request at a time.
const PROFILE: &str = r#"
[[profile]]
gpu = "RTXPRO6000"
slice = "whole"
model = "m"
gpu_memory_gib = 96.0
tp = 1
weights_bytes = 1000
kv_bytes_per_token = 1000
kv_blocks = 100
activation_bytes = 0
max_num_seqs = 1
max_num_batched_tokens = 64
block_size = 16
source = "hand"
fit = "hand"

[profile.step]
c0 = 10000.0
dense = []
p0 = 0.0
p1 = 0.0
p2 = 0.0
d0 = 0.0
d1 = 0.0
d2 = 0.0
s0 = 0.0
s1 = 0.0
"#;

fn profiles(dir: &Path) -> PathBuf {
    let p = dir.join("llm.toml");
    std::fs::write(&p, PROFILE).unwrap();
    p
}

/// `n` requests of 16 prompt and 4 output tokens, every `gap_ms`.
fn trace(dir: &Path, n: u64, gap_ms: u64) -> PathBuf {
    let t = Trace::from_llm_rows((0..n).map(|i| (i * gap_ms * MS, "m", 16, 4)));
    let p = dir.join(format!("t{n}-{gap_ms}.parquet"));
    t.write(&p).unwrap();
    p
}

fn slo(ttft_ms: f64, tpot_ms: f64) -> BTreeMap<String, Slo> {
    BTreeMap::from([(
        "m".to_string(),
        Slo {
            ttft_ms: Some(ttft_ms),
            tpot_ms: Some(tpot_ms),
        },
    )])
}

fn scenario<'a>(
    t: &'a Trace,
    p: &'a LlmProfiles,
    gpus: usize,
    slos: BTreeMap<String, Slo>,
) -> LlmScenario<'a> {
    LlmScenario {
        trace: t,
        profiles: p,
        gpu: "RTXPRO6000".into(),
        gpus,
        policy: LlmPolicy::parse("fcfs").unwrap(),
        params: LlmParams::defaults(),
        slos,
    }
}

#[test]
fn peak_every_request_is_where_arrivals_meet_the_service_time() {
    // Every request within TTFT 10 ms (attainment 1): no request may wait, so D >= S = 40 ms,
    // and the trace's D = 100 ms scales to it at k = 100 / 40 = 2.5 exactly, a scale the
    // search reaches (1, 2, 4, then 3, 2.5, ...). There 20 requests arrive over 19 x 40 ms:
    // 25 requests/s; all meet, the last finishing at 19 x 40 + 40 = 800 ms: goodput 20 / 0.8.
    let dir = tempfile::tempdir().unwrap();
    let t = Trace::load(&trace(dir.path(), 20, 100)).unwrap();
    let p = LlmProfiles::load(&profiles(dir.path())).unwrap();
    let r = find_llm_peak(&scenario(&t, &p, 1, slo(10.0, 10.0)), 1.0, 0.01).unwrap();
    assert_eq!(r.rate_scale, 2.5);
    assert!((r.rate_rps - 25.0).abs() < 1e-9, "{}", r.rate_rps);
    assert!((r.goodput_rps - 25.0).abs() < 1e-9, "{}", r.goodput_rps);
    assert_eq!(r.binding_attainment, 1.0);
    assert!(!r.lower_bound);
    assert_eq!(r.models[0].ttft.max_ms, 10.0);
    assert_eq!(r.models[0].tpot.max_ms, 10.0);
}

#[test]
fn peak_at_ninety_percent_lets_the_queue_grow_to_the_bound() {
    // TTFT within 27 ms for 90 % of 20 requests: requests 0..=17 must meet, and request i
    // meets when 10 + i (40 - D) <= 27. So 17 (40 - D) <= 17: D >= 39 ms, k* = 100 / 39. The
    // search ends with k* / (1 + tolerance) <= k <= k*; the goodput there is the requests
    // meeting (counted by the formula over the scaled arrivals) over the 800 ms window (the
    // replica is busy from 0 to 20 x 40 ms when D < 40).
    let dir = tempfile::tempdir().unwrap();
    let t = Trace::load(&trace(dir.path(), 20, 100)).unwrap();
    let p = LlmProfiles::load(&profiles(dir.path())).unwrap();
    let tol = 0.01;
    let r = find_llm_peak(&scenario(&t, &p, 1, slo(27.0, 10.0)), 0.9, tol).unwrap();
    let k_star = 100.0 / 39.0;
    assert!(r.rate_scale <= k_star, "{} > {k_star}", r.rate_scale);
    assert!(
        r.rate_scale >= k_star / (1.0 + tol),
        "{} < {k_star}",
        r.rate_scale
    );
    let met = (0..20u64)
        .filter(|&i| {
            let arrival = (i as f64 * 100.0 * MS as f64 / r.rate_scale).round() as u64;
            i * 40 * MS + 10 * MS - arrival <= 27 * MS
        })
        .count();
    assert!(met >= 18);
    assert!(
        (r.goodput_rps - met as f64 / 0.8).abs() < 1e-9,
        "{} vs {met}",
        r.goodput_rps
    );
    assert_eq!(r.binding_attainment, met as f64 / 20.0);
}

#[test]
fn peak_is_zero_when_no_load_meets_the_slo() {
    // A TTFT bound below one step (10 ms) is never met.
    let dir = tempfile::tempdir().unwrap();
    let t = Trace::load(&trace(dir.path(), 5, 100)).unwrap();
    let p = LlmProfiles::load(&profiles(dir.path())).unwrap();
    let r = find_llm_peak(&scenario(&t, &p, 1, slo(9.0, 10.0)), 0.9, 0.01).unwrap();
    assert_eq!(r.rate_scale, 0.0);
    assert_eq!(r.goodput_rps, 0.0);
    assert_eq!(r.binding_attainment, 0.0);
}

#[test]
fn plan_needs_replicas_enough_for_round_robin_to_space_arrivals_by_the_service_time() {
    // Arrivals every 15 ms, round robin over R replicas: each sees one every 15 R ms, and
    // every request meets TTFT 10 ms iff 15 R >= 40: R = ceil(40 / 15) = 3 (2 gives 30 ms).
    // auto (no LLM policy is monotone by design) gallops 1, 2, 4, bisects to 3, then tries
    // every count below 3 (already replayed). At 3 GPUs, $2 each: $6/hour; the offered rate
    // is 1 / 15 ms = 66.67 requests/s, so $6 / (66.67 x 3600) per request = $25 per million.
    // Goodput: 24 requests by the last finish, 23 x 15 + 40 = 385 ms.
    let dir = tempfile::tempdir().unwrap();
    let t = Trace::load(&trace(dir.path(), 24, 15)).unwrap();
    let p = LlmProfiles::load(&profiles(dir.path())).unwrap();
    let r = plan_llm(
        &scenario(&t, &p, 99, slo(10.0, 10.0)),
        1.0,
        16,
        Search::Auto,
        Some(2.0),
    )
    .unwrap();
    assert_eq!(r.gpus, Some(3));
    assert!(r.exact);
    let probes: Vec<(usize, bool)> = r.probes.iter().map(|p| (p.gpus, p.meets)).collect();
    assert_eq!(probes, vec![(1, false), (2, false), (3, true), (4, true)]);
    assert_eq!(r.cost_per_hour, Some(6.0));
    assert!((r.cost_per_million_requests.unwrap() - 25.0).abs() < 1e-9);
    assert!(
        (r.goodput_rps - 24.0 / 0.385).abs() < 1e-9,
        "{}",
        r.goodput_rps
    );
    assert_eq!(r.replicas.len(), 3);
    // scan tries 1, 2, 3 and then the bisection's 4: the same answer.
    let s = plan_llm(
        &scenario(&t, &p, 1, slo(10.0, 10.0)),
        1.0,
        16,
        Search::Scan,
        None,
    )
    .unwrap();
    assert_eq!(s.gpus, Some(3));
    // A TTFT bound below one step: no count meets it; the galloping stops at the bound.
    let none = plan_llm(
        &scenario(&t, &p, 1, slo(9.0, 10.0)),
        1.0,
        4,
        Search::Auto,
        None,
    )
    .unwrap();
    assert_eq!(none.gpus, None);
    let tried: Vec<usize> = none.probes.iter().map(|p| p.gpus).collect();
    assert_eq!(tried, vec![1, 2, 4]);
}

#[test]
fn cli_peak_and_plan_on_an_llm_trace() {
    let dir = tempfile::tempdir().unwrap();
    let t = trace(dir.path(), 20, 100);
    let p = profiles(dir.path());
    let o = run(&[
        "peak",
        "--trace",
        path_str(&t),
        "--profiles",
        path_str(&p),
        "--gpu",
        "RTXPRO6000",
        "--gpus",
        "1",
        "--policy",
        "fcfs",
        "--slo",
        "m:ttft_ms=10,tpot_ms=10",
        "--attainment",
        "1",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["rate_scale"], 2.5);
    let t2 = trace(dir.path(), 24, 15);
    let out = dir.path().join("plan");
    let o = run(&[
        "plan",
        "--trace",
        path_str(&t2),
        "--profiles",
        path_str(&p),
        "--gpu",
        "RTXPRO6000",
        "--policy",
        "fcfs",
        "--slo",
        "m:ttft_ms=10,tpot_ms=10",
        "--attainment",
        "1",
        "--max-gpus",
        "16",
        "--cost",
        "rtxpro6000=2",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("1- 2- 3+ 4+"), "{}", o.stdout);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(v[0]["gpus"], 3);
    // No count meets a bound below one step: exit 1, saying so.
    let o = run(&[
        "plan",
        "--trace",
        path_str(&t2),
        "--profiles",
        path_str(&p),
        "--gpu",
        "RTXPRO6000",
        "--policy",
        "fcfs",
        "--slo",
        "m:ttft_ms=9,tpot_ms=10",
        "--max-gpus",
        "4",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("not met"), "{}", o.stderr);
}

#[test]
fn bad_criteria_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let t = trace(dir.path(), 4, 100);
    let p = profiles(dir.path());
    let base = |cmd: &str| -> Vec<String> {
        let mut v: Vec<String> = vec![
            cmd.into(),
            "--trace".into(),
            path_str(&t).into(),
            "--profiles".into(),
            path_str(&p).into(),
            "--gpu".into(),
            "RTXPRO6000".into(),
            "--policy".into(),
            "fcfs".into(),
        ];
        if cmd == "peak" {
            v.extend(["--gpus".into(), "1".into()]);
        }
        v
    };
    for cmd in ["peak", "plan"] {
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--slo", "m:ttft_ms=10", "--attainment", "0"],
                "--attainment",
            ),
            (
                vec!["--slo", "m:ttft_ms=10", "--attainment", "1.5"],
                "--attainment",
            ),
            (
                vec!["--slo", "m:ttft_ms=10", "--attainment", "NaN"],
                "--attainment",
            ),
            (
                vec!["--slo", "m:ttft_ms=10", "--attainment", "-0.5"],
                "--attainment",
            ),
            (vec![], "--slo m:"),
            (vec!["--slo", "other:ttft_ms=10"], "--slo"),
            (vec!["--slo", "m:ttft_ms=nan"], "--slo"),
            (vec!["--slo", "m:ttft_ms=10", "--sla-ms", "5"], "--sla-ms"),
            (
                vec!["--slo", "m:ttft_ms=10", "--percentile", "90"],
                "--percentile",
            ),
            (
                vec!["--slo", "m:ttft_ms=10", "--layout", "7g.80gb"],
                "--layout",
            ),
            (
                vec!["--slo", "m:ttft_ms=10", "--param", "llm.max_num_seqs=0"],
                "llm.max_num_seqs",
            ),
        ];
        for (extra, needle) in cases {
            let mut args = base(cmd);
            args.extend(extra.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = run(&refs);
            assert_eq!(o.code, 2, "{cmd} {extra:?}: {}", o.stderr);
            assert!(o.stderr.contains(needle), "{cmd} {extra:?}: {}", o.stderr);
        }
    }
    // The LLM flags on a DNN trace.
    let g = common::good_trace(dir.path());
    let gp = common::good_profile(dir.path());
    let o = run(&[
        "peak",
        "--trace",
        path_str(&g),
        "--profiles",
        path_str(&gp),
        "--gpu",
        "A100-40GB",
        "--policy",
        "fcfs",
        "--sla-ms",
        "100",
        "--attainment",
        "0.9",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--attainment"), "{}", o.stderr);
}
