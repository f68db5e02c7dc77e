//! Partitioner `homogeneous` (parameter `slice`): every GPU cut into the largest number of
//! instances of one slice that fits legally (A100: 7x1g, 3x2g, 2x3g, 1x4g, 1x7g).

use super::{ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry};
use crate::error::Result;

/// The same slice everywhere, as many as fit.
#[derive(Debug, Clone)]
pub struct Homogeneous {
    pub slice: String,
}

impl Partitioner for Homogeneous {
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition> {
        let s = ctx.gpu.slice_by_name(&self.slice)?;
        Ok(vec![ctx.gpu.max_homogeneous(s); ctx.gpus].into())
    }
}

/// The registry entry.
pub const ENTRY: PartitionerEntry = PartitionerEntry {
    name: "homogeneous",
    help: "every GPU cut into the most instances of one slice (A100: 7x1g, 3x2g, 2x3g, 1x4g, 1x7g)",
    params: &[ParamSpec {
        name: "slice",
        kind: ParamKind::Slice,
        default: None,
        help: "the MIG slice every GPU is cut into (shortcut: --slice)",
    }],
    build: |p| {
        Ok(Box::new(Homogeneous {
            slice: p.get("slice").unwrap_or_default().to_string(),
        }))
    },
    heat_map_layout: false,
    same_layout_every_gpu: true,
};
