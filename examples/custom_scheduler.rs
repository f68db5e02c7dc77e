//! A scheduler written outside the crate: "join the shortest queue". Each query goes to the
//! instance with the fewest queries waiting in its local queue (an idle instance counts as
//! -1, so it wins), ties to the lower index. It is registered under the name `jsq`, so every
//! partitioner can be paired with it (`fixed+jsq`, `paris+jsq`, ...), and compared with the
//! built-in schedulers on the same heterogeneous layout.
//!
//! Run: `cargo run --release --example custom_scheduler -- traces/quickstart.parquet`

use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{
    Dispatch, PolicyParams, QueryInfo, Registry, Scheduler, SchedulerEntry, ServerView,
};
use mig_replay::profile::Profiles;
use mig_replay::replay::replay;
use mig_replay::trace::Trace;

/// Join the shortest local queue, from the view only (no oracle).
#[derive(Default)]
struct ShortestQueue;

impl Scheduler for ShortestQueue {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let best = (0..view.len())
            .filter(|&i| {
                view.estimated_service_ns(q.model, view.instances[i].slice, q.batch)
                    .is_some()
            })
            .min_by_key(|&i| {
                let load = if view.is_idle(i) {
                    -1
                } else {
                    view.queue_len(i) as i64
                };
                (load, i)
            })
            .expect("some instance serves the model");
        Dispatch::To(best)
    }
}

fn main() -> mig_replay::Result<()> {
    let trace_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "traces/quickstart.parquet".into());
    let trace = Trace::load(trace_path.as_ref())?;
    let profiles = Profiles::load("profiles/a100-80gb.parquet".as_ref())?;
    let gpu = GpuSpec::by_name("A100-80GB")?;

    // Register the plugin next to the built-ins: it pairs with every partitioner.
    let mut registry = Registry::builtin();
    registry.register_scheduler(SchedulerEntry {
        name: "jsq",
        help: "join the shortest local queue",
        params: &[],
        build: |_, _| Ok(Box::new(ShortestQueue)),
    });
    let params = PolicyParams::from_pairs(&[("layout", "4g.40gb+2g.20gb+1g.10gb")]);
    for name in [
        "fixed+fifo",
        "fixed+jsq",
        "fixed+least-loaded",
        "fixed+elsa",
    ] {
        let mut policy = registry.build(name, &params)?;
        let r = replay(&trace, &profiles, &gpu, 2, &mut policy, Some(60.0))?;
        let m = &r.metrics;
        println!(
            "{name:<20} p50 {:>7.2} ms  p99 {:>7.2} ms  SLA(60 ms) violations {:>6.2}%  utilization {:>5.1}%",
            m.latency.p50_ms,
            m.latency.p99_ms,
            100.0 * m.sla_violation_rate.unwrap_or(0.0),
            100.0 * m.utilization
        );
    }
    Ok(())
}
