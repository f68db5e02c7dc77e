//! The modeled server: N GPUs of one kind, each with a MIG layout, flattened into instances
//! (here); its dynamic state during a replay ([`state`]: idle instances, local queues, forming
//! batches), the dynamic batcher's rules ([`batcher`]), and what a scheduler may see of it
//! ([`view`]). The engine changes the state; schedulers read it through the view only.
//!
//! Instances are numbered GPU by GPU and, within a GPU, by start memory slice. "Lowest index"
//! in the schedulers means this order.

pub mod batcher;
pub mod reconfig;
pub mod state;
pub mod view;

pub use state::{IdleSet, ServerState};
pub use view::{PREDICT_QUEUE_MAX, ServerView};

use crate::error::{Error, Result};
use crate::gpu::{GpuSpec, Layout, SliceId};

/// One GPU instance (a MIG slice, or the whole GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// GPU index in the server.
    pub gpu: u32,
    /// Profile index in the GPU spec.
    pub slice: SliceId,
    /// Compute slices of this instance.
    pub gpcs: u8,
    /// Start memory slice on its GPU.
    pub start: u8,
}

/// A server: the GPU kind, one layout per GPU and the resulting instances.
#[derive(Debug, Clone)]
pub struct Server {
    pub gpu: GpuSpec,
    pub layouts: Vec<Layout>,
    pub instances: Vec<Instance>,
}

impl Server {
    /// Build a server from one layout per GPU; every layout is checked against the placement rules.
    pub fn new(gpu: GpuSpec, layouts: Vec<Layout>) -> Result<Server> {
        Self::build(gpu, layouts, false)
    }

    /// A server in the middle of a reconfiguration: a GPU may have no instance (all of them
    /// destroyed, the new ones not yet created).
    pub fn partial(gpu: GpuSpec, layouts: Vec<Layout>) -> Result<Server> {
        Self::build(gpu, layouts, true)
    }

    fn build(gpu: GpuSpec, layouts: Vec<Layout>, allow_empty: bool) -> Result<Server> {
        if layouts.is_empty() {
            return Err(Error::Usage("a server needs at least one GPU".into()));
        }
        let mut instances = Vec::new();
        for (g, l) in layouts.iter().enumerate() {
            if (l.placements.is_empty() && !allow_empty) || !Self::legal(&gpu, l) {
                return Err(Error::Usage(format!(
                    "GPU {g}: layout '{}' is not a legal MIG placement on {}",
                    l.placement_string(&gpu),
                    gpu.name
                )));
            }
            let mut ps = l.placements.clone();
            ps.sort_by_key(|p| p.start);
            for p in ps {
                instances.push(Instance {
                    gpu: g as u32,
                    slice: p.slice,
                    gpcs: gpu.profiles[p.slice].gpcs,
                    start: p.start,
                });
            }
        }
        Ok(Server {
            gpu,
            layouts,
            instances,
        })
    }

    fn legal(gpu: &GpuSpec, l: &Layout) -> bool {
        let mut cur: Vec<crate::gpu::Placement> = Vec::new();
        for &p in &l.placements {
            if !gpu.profiles[p.slice].starts.contains(&p.start) || !gpu.fits_placement(&cur, p) {
                return false;
            }
            cur.push(p);
        }
        true
    }

    /// Number of GPUs.
    pub fn gpus(&self) -> usize {
        self.layouts.len()
    }

    /// Physical GPCs of the whole server (unused GPCs of a layout count as idle capacity).
    pub fn total_gpcs(&self) -> u64 {
        self.gpu.gpcs as u64 * self.gpus() as u64
    }

    /// The distinct slices the server uses.
    pub fn slices_used(&self) -> Vec<SliceId> {
        let mut v: Vec<SliceId> = self.instances.iter().map(|i| i.slice).collect();
        v.sort();
        v.dedup();
        v
    }

    /// One canonical layout string per GPU.
    pub fn layout_names(&self) -> Vec<String> {
        self.layouts.iter().map(|l| l.name(&self.gpu)).collect()
    }
}
