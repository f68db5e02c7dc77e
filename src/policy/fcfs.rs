//! `fcfs`: every GPU unpartitioned (one instance of the largest profile), with the FIFO scheduler.

use super::{PartitionContext, Partitioner};
use crate::error::Result;
use crate::gpu::{Layout, Placement};

/// One whole-GPU instance per GPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct WholeGpu;

impl Partitioner for WholeGpu {
    fn partition(&self, ctx: &PartitionContext) -> Result<Vec<Layout>> {
        let full = Layout {
            placements: vec![Placement {
                slice: ctx.gpu.full_slice(),
                start: 0,
            }],
        };
        Ok(vec![full; ctx.gpus])
    }
}
