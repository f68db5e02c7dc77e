//! Partitioner `fixed` (parameter `layout`): a user-given layout on every GPU, or one per GPU
//! separated by commas. Useful for ablations such as "a heterogeneous layout without ELSA".

use super::{ParamKind, ParamSpec, Partition, PartitionContext, Partitioner, PartitionerEntry};
use crate::error::{Error, Result};

/// A layout string, or a comma-separated list of one per GPU.
#[derive(Debug, Clone)]
pub struct FixedLayout {
    pub layout: String,
}

impl Partitioner for FixedLayout {
    fn partition(&self, ctx: &PartitionContext) -> Result<Partition> {
        let parts: Vec<&str> = self.layout.split(',').map(str::trim).collect();
        let layouts = parts
            .iter()
            .map(|p| ctx.gpu.parse_layout(p))
            .collect::<Result<Vec<_>>>()?;
        match layouts.len() {
            1 => Ok(vec![layouts[0].clone(); ctx.gpus].into()),
            n if n == ctx.gpus => Ok(layouts.into()),
            n => Err(Error::Usage(format!(
                "--layout lists {n} layouts but the server has {} GPUs (give one, or one per GPU)",
                ctx.gpus
            ))),
        }
    }
}

/// The registry entry.
pub const ENTRY: PartitionerEntry = PartitionerEntry {
    name: "fixed",
    help: "a given layout on every GPU (or one per GPU)",
    params: &[ParamSpec {
        name: "layout",
        kind: ParamKind::Layout,
        default: None,
        help: "layout on every GPU, or one per GPU separated by commas (shortcut: --layout)",
    }],
    build: |p| {
        Ok(Box::new(FixedLayout {
            layout: p.get("layout").unwrap_or_default().to_string(),
        }))
    },
    heat_map_layout: false,
    same_layout_every_gpu: false,
};
