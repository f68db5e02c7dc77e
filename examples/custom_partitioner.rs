//! mig-replay plus a partitioner written outside the crate, with a declared parameter:
//! `split` gives the first `big` fraction of the GPUs one whole-GPU instance each (for large
//! batches) and cuts the rest into 7 x 1g (for small ones), and explains its choice (a typed
//! value that `partition` prints and `summary.json` records). It pairs with every scheduler:
//!
//! ```text
//! cargo run --release --example custom_partitioner -- partition --policy split --param big=0.25 \
//!   --trace traces/paper-resnet50.parquet --profiles profiles/a100-80gb.parquet --gpu A100-80GB
//! cargo run --release --example custom_partitioner -- peak --trace traces/paper-resnet50.parquet \
//!   --profiles profiles/a100-80gb.parquet --gpu A100-80GB --gpus 8 --sla-ms 53.61 \
//!   --policy split+elsa --policy paris+elsa
//! ```

use mig_replay::gpu::Layout;
use mig_replay::policy::{
    Explanation, ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry,
    Registry,
};
use serde::Serialize;
use std::sync::Arc;

struct Split {
    big: f64,
}

/// What `split` decided.
#[derive(Debug, Serialize)]
struct SplitChoice {
    whole_gpus: usize,
    cut_gpus: usize,
}

impl Explanation for SplitChoice {
    fn text(&self) -> String {
        format!(
            "{} GPUs whole (for large batches), {} cut into 7 x 1g (for small ones)\n",
            self.whole_gpus, self.cut_gpus
        )
    }
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
            explanation: Some(Arc::new(SplitChoice {
                whole_gpus: n_big,
                cut_gpus: ctx.gpus - n_big,
            })),
        })
    }
}

const SPLIT_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "big",
    kind: ParamKind::Float { min: 0.0, max: 1.0 },
    default: Some("0.5"),
    help: "fraction of GPUs left whole",
}];

fn main() {
    let mut registry = Registry::builtin();
    registry.register_partitioner(PartitionerEntry {
        name: "split",
        help: "a fraction of GPUs whole, the rest 7 x 1g (example plugin)",
        params: SPLIT_PARAMS,
        build: |p| {
            Ok(Box::new(Split {
                big: p.f64("big").unwrap_or(0.5),
            }))
        },
        heat_map_layout: false,
        same_layout_every_gpu: false,
    });
    std::process::exit(mig_replay::cli::main_with(registry));
}
