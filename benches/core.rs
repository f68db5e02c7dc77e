//! `cargo bench --bench core`: replays 1,000,000 resnet50 queries (the shipped A100-80GB
//! profile) on 8 A100-80GB at 70% of the fcfs capacity through `fcfs`,
//! `homogeneous --slice 1g.10gb` and `paris+elsa` (a mixed layout), and reports queries/s of
//! the event loop alone and of the whole replay (partition + service table + event loop +
//! invariants + metrics). `BENCH_QUERIES` changes the size. The end-to-end CLI run (Parquet in,
//! outputs out) is timed by `just bench-core`.

use mig_replay::engine;
use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{PartitionContext, PolicyParams, Registry, SchedContext};
use mig_replay::profile::Profiles;
use mig_replay::server::Server;
use mig_replay::service::ServiceTable;
use mig_replay::sla::SlaSpec;
use mig_replay::trace::synth::{Arrivals, BatchSpec, GenConfig, generate};
use std::time::Instant;

fn main() {
    // As the binary does: large freed blocks kept for reuse, so no run of the loop pays for
    // fresh pages that another did not.
    mig_replay::io::memory::tune_allocator();
    let n: u64 = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let gpu = GpuSpec::by_name("A100-80GB").unwrap();
    let prof = Profiles::load("profiles/a100-80gb.parquet".as_ref()).unwrap();
    let batch = BatchSpec::LogNormal {
        mu: 1.5,
        sigma: 0.8,
        max: 64,
    };
    // Mean service time on one whole GPU, from the profile and the batch law.
    let ser = prof.get(gpu.name, "resnet50", "7g.80gb").unwrap();
    let pmf = batch.pmf().unwrap();
    let es_ms: f64 = pmf.iter().map(|&(b, p)| p * ser.latency_ms(b).0).sum();
    let rate = 0.7 * 8.0 / (es_ms / 1e3);
    let t = generate(&GenConfig {
        rate,
        queries: Some(n),
        duration_s: None,
        models: vec![("resnet50".into(), 1.0)],
        arrivals: Arrivals::Poisson,
        batch,
        seed: 1,
    })
    .unwrap();
    for (policy, slice) in [
        ("fcfs", None),
        ("homogeneous", Some("1g.10gb")),
        ("paris+elsa", None),
    ] {
        let mut params = PolicyParams::default();
        if let Some(s) = slice {
            params.set("slice", s);
        }
        let mut best_loop = f64::INFINITY;
        let mut best_all = f64::INFINITY;
        let mut p99 = 0.0;
        let mut layout = String::new();
        for _ in 0..5 {
            let mut pol = Registry::builtin().build(policy, &params).unwrap();
            let t0 = Instant::now();
            // No SLA given: ELSA's default rule, as a run resolves it.
            let slas = SlaSpec::default()
                .resolve(&t, &prof, &gpu, pol.needs_sla)
                .unwrap();
            let ctx = PartitionContext {
                gpu: &gpu,
                gpus: 8,
                profiles: &prof,
                trace: &t,
                slas: &slas,
            };
            let layouts = pol.partitioner.partition(&ctx).unwrap().layouts;
            let server = Server::new(gpu.clone(), layouts).unwrap();
            let st = ServiceTable::build(
                &prof,
                &gpu,
                &t.models,
                &server.slices_used(),
                t.max_batch(),
                |_| None,
            )
            .unwrap();
            let mut sched = (pol.scheduler)(&SchedContext {
                gpu: &gpu,
                server: &server,
                service: &st,
                profiles: &prof,
                trace: &t,
                slas: &slas,
                exact_estimates: true,
            })
            .unwrap();
            let t1 = Instant::now();
            let rec = engine::replay(
                &engine::Setup::exact(&server, &st),
                engine::Feed::Whole(&t),
                engine::Scheduling::Fixed(sched.as_mut()),
            )
            .unwrap()
            .records;
            let t2 = Instant::now();
            let (m, inv) = mig_replay::metrics::compute(&t, &server, &rec, &slas, &[]).unwrap();
            let t3 = Instant::now();
            assert!(inv.all_ok());
            best_loop = best_loop.min((t2 - t1).as_secs_f64());
            best_all = best_all.min((t3 - t0).as_secs_f64());
            p99 = m.headline.latency.p99_ms;
            layout = server.layout_names()[0].clone();
        }
        let name = match slice {
            Some(s) => format!("{policy} --slice {s}"),
            None => policy.to_string(),
        };
        println!(
            "{name:<28} {n} queries: event loop {:.1} ms = {:.2} M queries/s; replay+metrics {:.1} ms = {:.2} M queries/s (p99 {p99:.2} ms; GPU 0: {layout})",
            best_loop * 1e3,
            n as f64 / best_loop / 1e6,
            best_all * 1e3,
            n as f64 / best_all / 1e6
        );
    }
}
