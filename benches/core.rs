//! `cargo bench --bench core`: replays 1,000,000 queries through `fcfs` and
//! `homogeneous --slice 1g.5gb` on 8 A100-40GB and reports queries/s of the event loop alone and
//! of the whole replay (partition + service table + event loop + invariants + metrics).
//! The end-to-end CLI run (Parquet in, summary out) is timed by `just bench-core`.

use mig_replay::engine;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PartitionContext, PolicyParams, Registry};
use mig_replay::profile::{Profiles, ServiceTable};
use mig_replay::server::Server;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let gpu = GpuSpec::by_name("A100-40GB").unwrap();
    let mut prof = Profiles::default();
    // ResNet-50-like scaling: latency ~ (0.8 + 0.2 b) ms on 7g, ~ 7/gpcs times slower on smaller slices.
    for p in &gpu.profiles {
        let k = 7.0 / p.gpcs as f64;
        let pts: Vec<(u32, f64)> = [1u32, 2, 4, 8, 16, 32, 64]
            .iter()
            .map(|&b| (b, k * (0.8 + 0.2 * b as f64)))
            .collect();
        prof.insert(gpu.name, "resnet50", p.name, &pts);
    }
    let batch = BatchSpec::LogNormal {
        mu: 1.5,
        sigma: 0.8,
        max: 64,
    };
    let es_7g = batch.mean().unwrap() * 0.2 + 0.8; // ms, mean service on one 7g
    for (policy, slice) in [("fcfs", None), ("homogeneous", Some("1g.5gb"))] {
        // Offered load 70% of the 8-GPU server's capacity.
        let rate = 0.7 * 8.0 / (es_7g / 1e3);
        let t = generate(&GenConfig {
            rate,
            queries: Some(n),
            duration_s: None,
            models: vec![("resnet50".into(), 1.0)],
            arrivals: Arrivals::Poisson,
            batch: batch.clone(),
            seed: 1,
        })
        .unwrap();
        let params = PolicyParams {
            slice: slice.map(String::from),
            ..Default::default()
        };
        let mut best_loop = f64::INFINITY;
        let mut best_all = f64::INFINITY;
        let mut p99 = 0.0;
        for _ in 0..5 {
            let mut pol = Registry::builtin().build(policy, &params).unwrap();
            let t0 = Instant::now();
            let ctx = PartitionContext {
                gpu: &gpu,
                gpus: 8,
                profiles: &prof,
                trace: &t,
            };
            let server =
                Server::new(gpu.clone(), pol.partitioner.partition(&ctx).unwrap()).unwrap();
            let st = ServiceTable::build(
                &prof,
                &gpu,
                &t.models,
                &server.slices_used(),
                t.max_batch(),
                |_| None,
            )
            .unwrap();
            let t1 = Instant::now();
            let rec = engine::simulate(&t, &server, &st, pol.scheduler.as_mut()).unwrap();
            let t2 = Instant::now();
            let inv = engine::check_invariants(&t, &server, &rec);
            let m = mig_replay::metrics::compute(&t, &server, &rec, None);
            let t3 = Instant::now();
            assert!(inv.all_ok());
            best_loop = best_loop.min((t2 - t1).as_secs_f64());
            best_all = best_all.min((t3 - t0).as_secs_f64());
            p99 = m.latency.p99_ms;
        }
        let name = match slice {
            Some(s) => format!("{policy} --slice {s}"),
            None => policy.to_string(),
        };
        println!(
            "{name:<28} {n} queries: event loop {:.1} ms = {:.2} M queries/s; replay+metrics {:.1} ms = {:.2} M queries/s (p99 {p99:.2} ms)",
            best_loop * 1e3,
            n as f64 / best_loop / 1e6,
            best_all * 1e3,
            n as f64 / best_all / 1e6
        );
    }
}
