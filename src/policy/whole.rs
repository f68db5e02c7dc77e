//! Partitioner `whole`: every GPU unpartitioned, one instance of its largest profile (the
//! `fcfs` baseline is `whole+fifo`).

use super::{Partition, PartitionContext, Partitioner};
use crate::error::Result;
use crate::gpu::{Layout, Placement};

/// One whole-GPU instance per GPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct WholeGpu;

impl Partitioner for WholeGpu {
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition> {
        let full = Layout {
            placements: vec![Placement {
                slice: ctx.gpu.full_slice(),
                start: 0,
            }],
        };
        Ok(vec![full; ctx.gpus].into())
    }
}
