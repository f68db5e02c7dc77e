//! A partitioner written outside the crate, with a declared parameter: `split` gives the first
//! `big` fraction of the GPUs one whole-GPU instance each (for large batches) and cuts the rest
//! into 7 x 1g (for small ones). Registered under the name `split`, it pairs with every
//! scheduler; here it is compared with PARIS under ELSA on the same trace.
//!
//! Run: `cargo run --release --example custom_partitioner -- traces/paper-resnet50.parquet`

use mig_replay::gpu::Layout;
use mig_replay::policy::{
    ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry, PolicyParams,
    Registry,
};
use mig_replay::profile::Profiles;
use mig_replay::replay::replay;
use mig_replay::trace::Trace;

struct Split {
    big: f64,
}

impl Partitioner for Split {
    fn partition(&self, ctx: &PartitionContext) -> mig_replay::Result<Partition> {
        let g = ctx.gpu;
        let whole = g.max_homogeneous(g.full_slice());
        let small = g.max_homogeneous(0);
        let n_big = ((self.big * ctx.gpus as f64).round() as usize).clamp(1, ctx.gpus);
        let layouts: Vec<Layout> = (0..ctx.gpus)
            .map(|i| {
                if i < n_big {
                    whole.clone()
                } else {
                    small.clone()
                }
            })
            .collect();
        Ok(Partition {
            layouts,
            details: Some(serde_json::json!({ "whole_gpus": n_big })),
        })
    }
}

const SPLIT_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "big",
    kind: ParamKind::Float { min: 0.0, max: 1.0 },
    default: Some("0.5"),
    help: "fraction of GPUs left whole",
}];

fn main() -> mig_replay::Result<()> {
    let trace_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "traces/paper-resnet50.parquet".into());
    let trace = Trace::load(trace_path.as_ref())?;
    let profiles = Profiles::load("profiles/a100-80gb.parquet".as_ref())?;
    let gpu = mig_replay::gpu::GpuSpec::by_name("A100-80GB")?;

    let mut registry = Registry::builtin();
    registry.register_partitioner(PartitionerEntry {
        name: "split",
        help: "a fraction of GPUs whole, the rest 7 x 1g",
        params: SPLIT_PARAMS,
        build: |p| {
            Ok(Box::new(Split {
                big: p.f64("big").unwrap_or(0.5),
            }))
        },
    });
    for (name, params) in [
        ("split+elsa", PolicyParams::from_pairs(&[("big", "0.5")])),
        ("split+elsa", PolicyParams::from_pairs(&[("big", "0.25")])),
        ("paris+elsa", PolicyParams::default()),
    ] {
        let mut policy = registry.build(name, &params)?;
        let r = replay(&trace, &profiles, &gpu, 8, &mut policy, None)?;
        let m = &r.metrics;
        println!(
            "{name:<12} {:<10} p99 {:>8.2} ms  utilization {:>5.1}%  layout {}",
            params
                .values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            m.latency.p99_ms,
            100.0 * m.utilization,
            r.server.layout_names().join(" | ")
        );
    }
    Ok(())
}
