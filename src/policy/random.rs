//! Partitioner `random` (parameter `seed`): each GPU gets a layout drawn uniformly from the
//! catalog's maximal legal layouts (19 on an A100), from its own seeded stream. `random+elsa`
//! is the "heterogeneous but not PARIS" ablation.

use super::{Partition, PartitionContext, Partitioner};
use crate::error::Result;
use rand::{RngExt, SeedableRng};

/// A seeded random maximal layout per GPU.
#[derive(Debug, Clone)]
pub struct RandomLayout {
    pub seed: u64,
}

impl Partitioner for RandomLayout {
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition> {
        let all = ctx.gpu.maximal_layouts();
        // One stream for this purpose, independent of any arrival or service stream.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(self.seed ^ 0x7261_6e64_6f6d_6c79);
        let layouts = (0..ctx.gpus)
            .map(|_| all[rng.random_range(0..all.len())].clone())
            .collect::<Vec<_>>();
        let names: Vec<String> = layouts.iter().map(|l| l.name(ctx.gpu)).collect();
        Ok(Partition {
            layouts,
            details: Some(serde_json::json!({
                "seed": self.seed,
                "drawn_from": all.len(),
                "layouts": names,
            })),
        })
    }
}
