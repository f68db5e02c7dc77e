//! Partitioner `random` (parameter `seed`): each GPU gets a layout drawn uniformly from the
//! catalog's maximal legal layouts (19 on an A100), from its own seeded stream. `random+elsa`
//! is the "heterogeneous but not PARIS" ablation.

use super::params::SEED;
use super::{Explanation, Partition, PartitionContext, Partitioner, PartitionerEntry};
use crate::error::Result;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::sync::Arc;

/// A seeded random maximal layout per GPU.
#[derive(Debug, Clone)]
pub struct RandomLayout {
    pub seed: u64,
}

/// What `random` drew.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RandomDraw {
    pub seed: u64,
    /// How many maximal layouts each GPU's was drawn from.
    pub drawn_from: usize,
    pub layouts: Vec<String>,
}

impl Explanation for RandomDraw {
    fn text(&self) -> String {
        format!(
            "seed {}: each GPU's layout drawn uniformly from the {} maximal legal layouts\n",
            self.seed, self.drawn_from
        )
    }
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
            explanation: Some(Arc::new(RandomDraw {
                seed: self.seed,
                drawn_from: all.len(),
                layouts: names,
            })),
        })
    }
}

/// The registry entry.
pub const ENTRY: PartitionerEntry = PartitionerEntry {
    name: "random",
    help: "a seeded random maximal legal layout per GPU",
    params: &[SEED],
    build: |p| {
        Ok(Box::new(RandomLayout {
            seed: p.u64("seed").unwrap_or(1),
        }))
    },
    heat_map_layout: false,
    same_layout_every_gpu: false,
};
