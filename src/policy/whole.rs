//! Partitioner `whole`: every GPU unpartitioned, one instance of its largest profile (the
//! `fcfs` baseline is `whole+fifo`).

use super::{Partition, PartitionContext, Partitioner, PartitionerEntry};
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

/// The registry entry.
pub const ENTRY: PartitionerEntry = PartitionerEntry {
    name: "whole",
    help: "every GPU unpartitioned: one instance of its largest profile",
    params: &[],
    build: |_| Ok(Box::new(WholeGpu)),
    heat_map_layout: false,
    same_layout_every_gpu: true,
};
