//! A scheduler written outside the crate: "earliest estimated finish". Each query goes to the
//! instance whose estimated completion of it (backlog from the profile + its own profiled
//! service time on that slice) is earliest; ties go to the lower index.
//!
//! Run: `cargo run --release --example custom_scheduler -- traces/quickstart.parquet`

use mig_replay::gpu::GpuSpec;
use mig_replay::policy::{
    Dispatch, FixedLayout, Policy, PolicyEntry, QueryInfo, Registry, Scheduler, ServerView,
};
use mig_replay::profile::Profiles;
use mig_replay::replay::replay;
use mig_replay::trace::Trace;

/// Earliest estimated finish, from the profile-based view only (no oracle).
#[derive(Default)]
struct EarliestFinish;

impl Scheduler for EarliestFinish {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        let best = (0..view.instances.len())
            .filter_map(|i| {
                let s = view.estimated_service_ns(q.model, view.instances[i].slice, q.batch)?;
                Some((view.estimated_free_at(i) + s, i))
            })
            .min()
            .map(|(_, i)| i)
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

    // Register the plugin next to the built-ins, then compare them on the same server.
    let mut registry = Registry::builtin();
    registry.register(PolicyEntry {
        name: "earliest-finish",
        help: "4g+2g+1g on every GPU, earliest estimated finish",
        build: |_| {
            Ok(Policy::new(
                "earliest-finish",
                FixedLayout {
                    layout: "4g.40gb+2g.20gb+1g.10gb".into(),
                },
                EarliestFinish,
            ))
        },
    });
    let fifo_params = mig_replay::policy::PolicyParams {
        layout: Some("4g.40gb+2g.20gb+1g.10gb".into()),
        ..Default::default()
    };
    for (name, params) in [
        ("fixed", fifo_params),
        ("earliest-finish", Default::default()),
    ] {
        let mut policy = registry.build(name, &params)?;
        let r = replay(&trace, &profiles, &gpu, 2, &mut policy, Some(60.0))?;
        let m = &r.metrics;
        println!(
            "{name:<16} p50 {:>7.2} ms  p99 {:>7.2} ms  SLA(60 ms) violations {:>6.2}%  utilization {:>5.1}%",
            m.latency.p50_ms,
            m.latency.p99_ms,
            100.0 * m.sla_violation_rate.unwrap_or(0.0),
            100.0 * m.utilization
        );
    }
    Ok(())
}
