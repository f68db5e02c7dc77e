//! Policies: PARIS and `random` emit legal layouts; PARIS's knees, map, shares and packing on a
//! hand-made profile equal hand-computed values; the packing matches exhaustive search on small
//! servers; a tiny ELSA trace with hand-computed latencies; `peak` on a case with a closed-form
//! answer; bad policy names, parameters and TOML files are exit 2.

mod common;

use mig_replay::drive::peak::{PeakConfig, find_peak};
use mig_replay::drive::replay::replay;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::elsa::Elsa;
use mig_replay::policy::paris::{deviation, layout_types, pack, pack_local};
use mig_replay::policy::{
    Dispatch, PartitionContext, PolicyParams, QueryInfo, Registry, RunParams, Scheduler,
};
use mig_replay::profile::Profiles;
use mig_replay::server::{Server, ServerView};
use mig_replay::service::ServiceTable;
use mig_replay::sla::{ModelSla, SlaSpec};
use mig_replay::trace::Trace;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};

const MS: u64 = 1_000_000;

fn partition(
    policy: &str,
    params: &PolicyParams,
    trace: &Trace,
    prof: &Profiles,
    gpu: &GpuSpec,
    gpus: usize,
) -> mig_replay::policy::Partition {
    // The run's keys (sla.<model>) split off, as the command line does.
    let run = RunParams::split(params.clone()).unwrap();
    let p = Registry::builtin().build_for(policy, &run).unwrap();
    let slas = run.slas.resolve(trace, prof, gpu, false).unwrap();
    p.partitioner
        .partition(&PartitionContext {
            gpu,
            gpus,
            profiles: prof,
            trace,
            slas: &slas,
        })
        .unwrap()
}

#[test]
fn paris_and_random_layouts_are_legal_and_within_the_gpcs() {
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let prof = Profiles::load("profiles/a100-80gb.parquet".as_ref()).unwrap();
    for t in [
        "paper-resnet50",
        "paper-bert-base",
        "paper-mobilenet-v2",
        "azure-conv",
        "quickstart",
    ] {
        let trace = Trace::load(format!("traces/{t}.parquet").as_ref()).unwrap();
        for gpus in [1, 2, 3, 8, 64] {
            for (policy, params) in [
                ("paris+elsa", PolicyParams::default()),
                ("paris+elsa", PolicyParams::from_pairs(&[("theta", "0.5")])),
                ("random+elsa", PolicyParams::from_pairs(&[("seed", "3")])),
            ] {
                let part = partition(policy, &params, &trace, &prof, &gpu, gpus);
                assert_eq!(part.layouts.len(), gpus);
                for l in &part.layouts {
                    assert!(l.gpcs(&gpu) <= 7, "{t} {policy}: {}", l.name(&gpu));
                }
                Server::new(gpu.clone(), part.layouts).expect("legal placement");
            }
        }
    }
    // Different seeds draw different layouts; the same seed the same.
    let trace = Trace::load("traces/quickstart.parquet".as_ref()).unwrap();
    let draw = |seed: &str| {
        partition(
            "random+fifo",
            &PolicyParams::from_pairs(&[("seed", seed)]),
            &trace,
            &prof,
            &gpu,
            8,
        )
        .layouts
    };
    assert_eq!(draw("1"), draw("1"));
    assert_ne!(draw("1"), draw("2"));
}

/// PARIS's batch -> slice map as (batch, slice, rule).
fn mapping(d: &serde_json::Value) -> Vec<(u64, String, String)> {
    d["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["batch"].as_u64().unwrap(),
                m["slice"].as_str().unwrap().to_string(),
                m["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Batches 1 x5, 2 x2, 4 x2, 8 x1.
fn hand_trace() -> Trace {
    let b = [1, 1, 1, 1, 1, 2, 2, 4, 4, 8];
    Trace::from_rows(b.iter().enumerate().map(|(i, &b)| (i as u64 * MS, "m", b)))
}

#[test]
fn paris_knees_map_shares_and_packing_by_hand() {
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let prof = common::hand_profile();
    let trace = hand_trace();
    let part = partition(
        "paris+fifo",
        &PolicyParams::default(),
        &trace,
        &prof,
        &gpu,
        2,
    );
    let d = serde_json::to_value(part.explanation.unwrap()).unwrap();
    let knees: Vec<(String, u64)> = d["knees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["slice"].as_str().unwrap().to_string(),
                k["knee_batch"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        knees,
        [("1g.5gb".to_string(), 2), ("7g.40gb".to_string(), 4)]
    );
    let map = mapping(&d);
    let e = |b, s: &str, r: &str| (b, s.to_string(), r.to_string());
    assert_eq!(
        map,
        [
            e(1, "1g.5gb", "knee"),
            e(2, "1g.5gb", "knee"),
            e(4, "7g.40gb", "knee"),
            e(8, "7g.40gb", "largest")
        ]
    );
    // Work: 1g = 0.5 x 2 x 1 + 0.2 x 3 x 1 = 1.6; 7g = 0.2 x 1.2 x 7 + 0.1 x 2 x 7 = 3.08.
    let shares = d["shares"].as_array().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(shares[0]["work"].as_f64().unwrap(), 1.6));
    assert!(close(shares[1]["work"].as_f64().unwrap(), 3.08));
    // Ideal on 14 GPCs: 1g 1.6/4.68 x 14 = 4.786 instances; 7g 3.08/4.68 x 14 / 7 = 1.316.
    let i1 = 1.6 / 4.68 * 14.0;
    let i7 = 3.08 / 4.68 * 2.0;
    assert!(close(shares[0]["ideal_instances"].as_f64().unwrap(), i1));
    assert!(close(shares[1]["ideal_instances"].as_f64().unwrap(), i7));
    // Candidates: 7g, or 7 x 1g. {7g, 7x1g} deviates |7 - 4.786| + 7 |1 - 1.316| = 4.427;
    // {7g, 7g} 9.573 and {7x1g, 7x1g} 18.43.
    let names: Vec<String> = part.layouts.iter().map(|l| l.name(&gpu)).collect();
    assert_eq!(
        names,
        [
            "7g.40gb",
            "1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb+1g.5gb"
        ]
    );
    assert!(close(
        d["deviation"].as_f64().unwrap(),
        (7.0 - i1) + 7.0 * (i7 - 1.0)
    ));

    // With an SLA of 2.5 ms: batch 2 is within 1g's knee but takes 3 ms there, so it goes to
    // the next slice whose knee covers it and meets the SLA (7g, 1 ms); batch 8 is beyond
    // every knee and goes to the largest slice meeting the SLA (7g, 2 ms).
    let part = partition(
        "paris+fifo",
        &PolicyParams::from_pairs(&[("sla.m", "2.5")]),
        &trace,
        &prof,
        &gpu,
        2,
    );
    let d = serde_json::to_value(part.explanation.unwrap()).unwrap();
    let rules = mapping(&d);
    assert_eq!(
        rules,
        [
            e(1, "1g.5gb", "knee"),
            e(2, "7g.40gb", "knee"),
            e(4, "7g.40gb", "knee"),
            e(8, "7g.40gb", "largest meeting the SLA")
        ]
    );
}

/// Every multiset of `gpus` layout types (indices into `counts`), by odometer: the
/// brute-force reference for the packing.
fn brute_force_min(counts: &[Vec<u32>], w: &[f64], target: &[f64], gpus: usize) -> f64 {
    let dims = w.len();
    let k = counts.len();
    let mut idx = vec![0usize; gpus];
    let mut best = f64::INFINITY;
    loop {
        let mut n = vec![0u32; dims];
        for &t in &idx {
            for d in 0..dims {
                n[d] += counts[t][d];
            }
        }
        // The deviation written out here, not taken from the module under test.
        let dev: f64 = (0..dims)
            .map(|d| w[d] * (n[d] as f64 - target[d]).abs())
            .sum();
        best = best.min(dev);
        let mut p = gpus;
        while p > 0 && idx[p - 1] == k - 1 {
            p -= 1;
        }
        if p == 0 {
            return best;
        }
        idx[p - 1] += 1;
        for q in p..gpus {
            idx[q] = idx[p - 1];
        }
    }
}

/// Targets for the packing checks: random shares of the server's GPCs, and adversarial ones
/// (integral targets some multiset meets exactly, targets all on one slice, half-integers
/// that tie, GPCs the maximal layouts cannot fill).
fn packing_targets(
    counts: &[Vec<u32>],
    w: &[f64],
    gpus: usize,
    rng: &mut impl FnMut() -> f64,
) -> Vec<Vec<f64>> {
    let dims = w.len();
    let gpcs = 7.0 * gpus as f64;
    let mut out = Vec::new();
    for _ in 0..60 {
        let raw: Vec<f64> = (0..dims).map(|_| rng()).collect();
        let sum: f64 = raw.iter().zip(w).map(|(r, w)| r * w).sum();
        out.push(raw.iter().map(|r| r / sum * gpcs).collect());
    }
    // Sparse: two or three slices only.
    for _ in 0..30 {
        let raw: Vec<f64> = (0..dims)
            .map(|_| if rng() < 0.5 { 0.0 } else { rng() })
            .collect();
        let sum: f64 = raw.iter().zip(w).map(|(r, w)| r * w).sum();
        if sum > 0.0 {
            out.push(raw.iter().map(|r| r / sum * gpcs).collect());
        }
    }
    // Integral: the counts of a random multiset (optimum 0).
    for _ in 0..20 {
        let mut t = vec![0.0; dims];
        for _ in 0..gpus {
            let k = ((rng() * counts.len() as f64) as usize).min(counts.len() - 1);
            for d in 0..dims {
                t[d] += counts[k][d] as f64;
            }
        }
        out.push(t);
    }
    // All GPCs on one slice, and half-integer ties.
    for d in 0..dims {
        let mut t = vec![0.0; dims];
        t[d] = gpcs / w[d];
        out.push(t);
        let mut t = vec![0.5; dims];
        t[d] += ((gpcs - 0.5 * w.iter().sum::<f64>()) / w[d]).max(0.0);
        out.push(t);
    }
    out
}

#[test]
fn packing_is_optimal_against_brute_force_on_1_to_8_gpus() {
    // An LCG, so the targets are the same on every machine.
    let mut x: u64 = 12345;
    let mut rng = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut cases = 0;
    let mut local_misses = 0;
    let mut worst_local_gap: f64 = 0.0;
    // The A100's 12 maximal layout types, a subset of its slices (PARIS packs only slices
    // every trace model is profiled on) and the A30's 4.
    for (name, slices) in [
        ("A100-80GB", vec![0, 1, 2, 3, 4]),
        ("A100-40GB", vec![0, 2, 4]),
        ("A30", vec![0, 1, 2]),
    ] {
        let gpu = GpuSpec::by_name(name).unwrap();
        let (_, counts) = layout_types(&gpu, &slices);
        let w: Vec<f64> = gpu.profiles.iter().map(|p| p.gpcs as f64).collect();
        let per_gpu: f64 = gpu.gpcs as f64;
        for gpus in 1..=8usize {
            for target in packing_targets(&counts, &w, gpus, &mut rng) {
                let target: Vec<f64> = target.iter().map(|t| t * per_gpu / 7.0).collect();
                let best = brute_force_min(&counts, &w, &target, gpus);
                let dev = |chosen: &[usize]| {
                    assert_eq!(chosen.len(), gpus);
                    let mut n = vec![0u32; w.len()];
                    for &t in chosen {
                        for d in 0..w.len() {
                            n[d] += counts[t][d];
                        }
                    }
                    deviation(&n, &w, &target)
                };
                let got = dev(&pack(&counts, &w, &target, gpus).chosen);
                assert!(
                    (got - best).abs() < 1e-9,
                    "{name} {gpus} GPUs, target {target:?}: {got} vs optimum {best}"
                );
                let local = dev(&pack_local(&counts, &w, &target, gpus));
                if local > best + 1e-9 {
                    local_misses += 1;
                    worst_local_gap = worst_local_gap.max(local - best);
                }
                cases += 1;
            }
        }
    }
    eprintln!(
        "{cases} cases: the exact packing meets brute force in all; the local search alone \
         misses {local_misses} (worst gap {worst_local_gap:.3} GPCs)"
    );
    assert!(cases > 2500);
}

#[test]
fn packing_is_optimal_on_12_and_16_gpus_against_every_reachable_count() {
    // Every instance-count vector that 12 (then 16) GPUs of the A100's maximal layouts can
    // reach, built GPU by GPU (a set, so it stays small); the optimum is the best of them.
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let (_, counts) = layout_types(&gpu, &[0, 1, 2, 3, 4]);
    let w: Vec<f64> = gpu.profiles.iter().map(|p| p.gpcs as f64).collect();
    let mut x: u64 = 777;
    let mut rng = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut reach: std::collections::HashSet<[u16; 5]> = [[0u16; 5]].into_iter().collect();
    for gpus in 1..=16usize {
        let mut next = std::collections::HashSet::with_capacity(reach.len() * 4);
        for n in &reach {
            for c in &counts {
                let mut m = *n;
                for d in 0..5 {
                    m[d] += c[d] as u16;
                }
                next.insert(m);
            }
        }
        reach = next;
        if gpus != 12 && gpus != 16 {
            continue;
        }
        for target in packing_targets(&counts, &w, gpus, &mut rng) {
            let best = reach
                .iter()
                .map(|n| {
                    (0..5)
                        .map(|d| w[d] * (n[d] as f64 - target[d]).abs())
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            let chosen = pack(&counts, &w, &target, gpus).chosen;
            let mut n = vec![0u32; 5];
            for &t in &chosen {
                for d in 0..5 {
                    n[d] += counts[t][d];
                }
            }
            let got = deviation(&n, &w, &target);
            assert!(
                chosen.len() == gpus && (got - best).abs() < 1e-9,
                "{gpus} GPUs, target {target:?}: {got} vs optimum {best}"
            );
        }
    }
}

#[test]
fn elsa_tiny_trace_by_hand() {
    // One A100-40GB as 4g (instance 0) + 2g (1) + 1g (2). Batch 1: 4, 6, 10 ms; batch 2: 6,
    // 10, 18 ms. SLA 12 ms.
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let mut prof = Profiles::default();
    for (s, l1, l2) in [
        ("1g.5gb", 10.0, 18.0),
        ("2g.10gb", 6.0, 10.0),
        ("4g.20gb", 4.0, 6.0),
    ] {
        prof.insert("A100-40GB", "m", s, &[(1, l1), (2, l2)]);
    }
    let trace = Trace::from_rows([
        (0, "m", 1),
        (MS, "m", 1),
        (2 * MS, "m", 2),
        (3 * MS, "m", 1),
        (4 * MS, "m", 2),
    ]);
    let p = common::built(
        &Registry::builtin(),
        "fixed+elsa",
        &PolicyParams::from_pairs(&[("layout", "4g.20gb+2g.10gb+1g.5gb")]),
    );
    let r = replay(
        &common::scenario(
            &trace,
            &prof,
            (&gpu, 1),
            p,
            &Default::default(),
            &SlaSpec::global(12.0),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(r.invariants.all_ok());
    // q0 -> 1g (all feasible, smallest); q1 -> 2g (1g would end at 20); q2 -> 4g (only
    // feasible: 2 + 6 = 8); q3 -> 2g queued behind q1 (7 + 6 = 13, 10 ms after arrival);
    // q4 -> 4g queued behind q2 (8 + 6 = 14).
    assert_eq!(r.records.instance, [2, 1, 0, 1, 0]);
    let ms = |v: &[u64]| v.iter().map(|x| x / MS).collect::<Vec<_>>();
    assert_eq!(ms(&r.records.start_ns), [0, 1, 2, 7, 8]);
    assert_eq!(ms(&r.records.finish_ns), [10, 7, 8, 13, 14]);
    let details = serde_json::to_value(r.scheduler_details.unwrap()).unwrap();
    let sla = &details["sla"][0];
    assert_eq!(sla["sla_ms"], 12.0);
    assert_eq!(sla["source"], "--sla-ms");
}

#[test]
fn peak_matches_the_closed_form_of_a_deterministic_queue() {
    // One whole GPU, constant 4 ms service, arrivals every 10 ms (1000 queries), p99 <= 6 ms.
    // At scale k the gap is 10/k ms; below 4 ms the queue grows and query j (0-based) waits
    // j (4 - 10/k). The nearest-rank p99 is query 989: feasible iff 4 + 989 (4 - 10/k) <= 6,
    // so k* = 10 / (4 - 2/989).
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let mut prof = Profiles::default();
    prof.insert("A100-40GB", "m", "7g.40gb", &[(1, 4.0)]);
    let trace = Trace::from_rows((0..1000u64).map(|j| (j * 10 * MS, "m", 1)));
    let reg = Registry::builtin();
    let r = find_peak(
        &common::scenario(
            &trace,
            &prof,
            (&gpu, 1),
            common::built(&reg, "fcfs", &PolicyParams::default()),
            &Default::default(),
            &SlaSpec::global(6.0),
        )
        .unwrap(),
        &PeakConfig {
            percentile: 99.0,
            tolerance: 0.01,
            pooled: false,
        },
    )
    .unwrap();
    let k_star = 10.0 / (4.0 - 2.0 / 989.0);
    assert!(
        r.rate_scale <= k_star && r.rate_scale >= k_star / 1.01,
        "{} vs {k_star}",
        r.rate_scale
    );
    assert!(r.latency_ms_at_peak <= 6.0);
    assert!((r.rate_qps - 100.0 * r.rate_scale).abs() < 0.01 * r.rate_qps);
}

#[test]
fn bad_policy_names_params_and_toml_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let t = common::good_trace(dir.path());
    let p = common::good_profile(dir.path());
    let run = |extra: &[&str]| {
        let out = dir.path().join("out");
        let mut a = vec![
            "run",
            "--trace",
            common::path_str(&t),
            "--profiles",
            common::path_str(&p),
            "--gpu",
            "A100-40GB",
            "--gpus",
            "1",
            "--out",
            common::path_str(&out),
        ];
        a.extend_from_slice(extra);
        common::run(&a)
    };
    let expect = |o: common::Out, parts: &[&str]| {
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
        for x in parts {
            assert!(o.stderr.contains(x), "{x:?} in {}", o.stderr);
        }
    };
    expect(
        run(&["--policy", "paris+magic"]),
        &["unknown scheduler 'magic'", "elsa, least-loaded"],
    );
    expect(
        run(&["--policy", "cake+elsa"]),
        &["unknown partitioner 'cake'", "whole, homogeneous"],
    );
    expect(
        run(&["--policy", "paris+elsa", "--param", "thetta=0.5"]),
        &[
            "unknown parameter 'thetta'",
            "paris+elsa",
            "theta",
            "sla_multiple",
        ],
    );
    expect(
        run(&["--policy", "paris+elsa", "--param", "theta=1.5"]),
        &["parameter 'theta'", "[0.01, 1]"],
    );
    expect(
        run(&["--policy", "paris+elsa", "--param", "theta"]),
        &["expected key=value"],
    );
    expect(
        run(&["--policy", "fcfs", "--slice", "1g"]),
        &["unknown parameter 'slice'", "takes no parameters"],
    );
    expect(
        run(&["--policy", "fcfs", "--service-noise", "gauss"]),
        &["service noise 'gauss'", "lognormal:cv=X"],
    );
    expect(
        run(&["--policy", "fcfs", "--service-noise", "lognormal:cv=-0.5"]),
        &["service noise", "cv must be a finite number >= 0"],
    );
    expect(
        run(&["--policy", "fcfs", "--batching", "max_batch=0"]),
        &["batching.max_batch", "an integer >= 1"],
    );
    expect(
        run(&["--policy", "fcfs", "--batching", "size=4"]),
        &["--batching 'size=4'", "unknown key 'size'"],
    );
    expect(
        run(&[
            "--policy",
            "fcfs",
            "--batching",
            "max_batch=4,max_delay_us=-3",
        ]),
        &[
            "batching.max_delay_us",
            "microseconds in [0, 4611686018427388]",
        ],
    );
    expect(
        run(&["--policy", "fcfs", "--param", "batching.gpt.max_batch=4"]),
        &["batching.gpt", "the trace has no model 'gpt'"],
    );
    expect(
        run(&["--policy", "random+elsa", "--param", "seed=-1"]),
        &["parameter 'seed'", "not an integer"],
    );
    expect(
        run(&[
            "--policy",
            "fixed+elsa",
            "--param",
            "sla.gpt=10",
            "--layout",
            "7g",
        ]),
        &["sla.gpt", "the trace has no model 'gpt'"],
    );
    let toml = dir.path().join("p.toml");
    std::fs::write(&toml, "bogus = 1\ntheta = 0.7\n[sla]\nm = 30\n").unwrap();
    expect(
        run(&[
            "--policy",
            "paris+fifo",
            "--policy-config",
            common::path_str(&toml),
        ]),
        &["unknown parameter 'bogus'"],
    );
    std::fs::write(&toml, "theta = [1, 2]\n").unwrap();
    expect(
        run(&[
            "--policy",
            "paris+fifo",
            "--policy-config",
            common::path_str(&toml),
        ]),
        &["p.toml", "key 'theta'", "expected a number or a string"],
    );
    std::fs::write(&toml, "theta = \n").unwrap();
    expect(
        run(&[
            "--policy",
            "paris+fifo",
            "--policy-config",
            common::path_str(&toml),
        ]),
        &["p.toml", "not valid TOML"],
    );
    // A good TOML file works, and its values reach the summary.
    std::fs::write(&toml, "theta = 0.7\nsla.m = 30\nsla_multiple = 3\n").unwrap();
    let o = run(&[
        "--policy",
        "paris+elsa",
        "--policy-config",
        common::path_str(&toml),
        "--quiet",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out").join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["partitioner"], "paris");
    assert_eq!(s["scheduler"], "elsa");
    assert_eq!(s["params"]["theta"], "0.7");
    // sla.m is the run's SLA of model m: recorded with its source, and the one ELSA enforces.
    assert_eq!(s["sla"][0]["sla_ms"], 30.0);
    assert_eq!(s["sla"][0]["source"], "param sla.m");
    assert_eq!(s["scheduler_details"]["sla"][0]["sla_ms"], 30.0);
    assert!(s["partition"]["knees"].is_array());
}

/// The example plugins are the whole command line plus their own half: each one's policy
/// reaches `policy list`, `run` and `partition` like a built-in one.
#[test]
fn the_examples_run() {
    let dir = tempfile::tempdir().unwrap();
    let ex = |name: &str, args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--example", name, "--"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let server = [
        "--trace",
        "traces/quickstart.parquet",
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
    ];
    let list = ex("custom_scheduler", &["policy", "list"]);
    assert!(list.contains("jsq ") && list.contains("elsa "), "{list}");
    let out = dir.path().join("jsq");
    let mut args = vec![
        "run",
        "--policy",
        "fixed+jsq",
        "--layout",
        "4g+2g+1g",
        "--gpus",
        "2",
    ];
    args.extend(server);
    args.extend(["--sla-ms", "60", "--out", out.to_str().unwrap()]);
    let run = ex("custom_scheduler", &args);
    assert!(
        run.contains("policy fixed+jsq (fixed+jsq)") && run.contains("p99"),
        "{run}"
    );
    let mut args = vec!["partition", "--policy", "split", "--param", "big=0.25"];
    args.extend(server);
    let part = ex("custom_partitioner", &args);
    assert!(
        part.starts_with(
            "split on 8 x A100-80GB\n2 GPUs whole (for large batches), 6 cut into 7 x 1g"
        ),
        "{part}"
    );
    let out = dir.path().join("split");
    let mut args = vec!["run", "--policy", "split+elsa", "--gpus", "4"];
    args.extend(server);
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    ex("custom_partitioner", &args);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["partition"]["whole_gpus"], 2, "big = 0.5 of 4 GPUs");
    assert_eq!(s["layout"][0], "7g.80gb");
    assert_eq!(
        s["layout"][3],
        "1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb"
    );
}

/// ELSA next to the rule as written (scan every instance for the least (GPCs, est_done,
/// index) among the feasible, else the least (est_done, GPCs, index)), on a busy
/// multi-model run with a mixed layout: every decision must agree.
struct Checked {
    elsa: Elsa,
    sla_ns: Vec<u64>,
    decisions: usize,
}

impl Scheduler for Checked {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let t = view.now_ns;
        let mut feasible: Option<(u8, u64, usize)> = None;
        let mut any: Option<(u64, u8, usize)> = None;
        for i in 0..view.len() {
            let inst = view.instances[i];
            let Some(l) = view.estimated_service_ns(q.model, inst.slice, q.batch) else {
                continue;
            };
            let done = view.estimated_free_at(i) + l;
            if done - t <= self.sla_ns[q.model as usize] {
                if feasible.is_none_or(|f| (inst.gpcs, done, i) < f) {
                    feasible = Some((inst.gpcs, done, i));
                }
            } else if any.is_none_or(|a| (done, inst.gpcs, i) < a) {
                any = Some((done, inst.gpcs, i));
            }
        }
        let want = feasible.map(|f| f.2).or(any.map(|a| a.2)).unwrap();
        // The scan used under inexact service agrees too.
        assert_eq!(self.elsa.choose_by_scan(q, view), Some(want));
        let got = self.elsa.on_arrival(q, view);
        assert_eq!(got, Dispatch::To(want), "query {}", q.idx);
        self.decisions += 1;
        got
    }
}

#[test]
fn agrees_with_the_rule_as_written_on_a_busy_mixed_run() {
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let prof = Profiles::load("profiles/a100-80gb.parquet".as_ref()).unwrap();
    let trace = generate(&GenConfig {
        rate: 700.0,
        queries: Some(20_000),
        duration_s: None,
        models: vec![("resnet50".into(), 2.0), ("bert-base".into(), 1.0)],
        arrivals: Arrivals::Poisson,
        batch: BatchSpec::LogNormal {
            mu: 2.0,
            sigma: 1.0,
            max: 128,
        },
        seed: 3,
    })
    .unwrap();
    let layouts = vec![
        gpu.parse_layout("4g+2g+1g").unwrap(),
        gpu.parse_layout("3x2g+1g").unwrap(),
        gpu.parse_layout("3g+3g").unwrap(),
    ];
    let server = Server::new(gpu.clone(), layouts).unwrap();
    let st = ServiceTable::build(
        &prof,
        &gpu,
        &trace.models,
        &server.slices_used(),
        trace.max_batch(),
        |_| None,
    )
    .unwrap();
    let slas: Vec<ModelSla> = [("resnet50", 40.0), ("bert-base", 60.0)]
        .iter()
        .map(|(m, ms)| ModelSla {
            model: m.to_string(),
            sla_ms: *ms,
            source: "test".into(),
            by_rule: false,
        })
        .collect();
    // Trace models are interned in first-appearance order.
    let slas: Vec<ModelSla> = trace
        .models
        .iter()
        .map(|m| slas.iter().find(|s| &s.model == m).unwrap().clone())
        .collect();
    let mut c = Checked {
        sla_ns: slas.iter().map(|s| (s.sla_ms * 1e6) as u64).collect(),
        elsa: Elsa::with_slas(
            slas,
            server.instances.iter().map(|i| (i.slice, i.gpcs)).collect(),
        ),
        decisions: 0,
    };
    let rec = mig_replay::engine::replay(
        &mig_replay::engine::Setup::exact(&server, &st),
        mig_replay::engine::Feed::Whole(&trace),
        mig_replay::engine::Scheduling::Fixed(&mut c),
    )
    .unwrap()
    .records;
    assert_eq!(c.decisions, trace.len());
    let (_, inv) = mig_replay::metrics::compute(&trace, &server, &rec, &[], &[]).unwrap();
    assert!(inv.all_ok());
    // The run was busy: some queries could not meet their SLA anywhere.
    let late = (0..trace.len())
        .filter(|&q| rec.finish_ns[q] - trace.arrival_ns[q] > 40 * MS)
        .count();
    assert!(late > 100, "{late}");
}
