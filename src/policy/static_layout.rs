//! Repartitioner `static`: never reconfigures. The layout is the partitioner's plan over the
//! whole trace, chosen once before the replay (every run's behaviour without `--repartition`).

use super::{RepartitionContext, Repartitioner, RepartitionerEntry, Replan, STATIC_REPARTITIONER};
use crate::error::Result;
use crate::gpu::Layout;

/// Never reconfigures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Static;

impl Repartitioner for Static {
    fn initial(&mut self, _: &mut RepartitionContext) -> Result<Option<Vec<Layout>>> {
        Ok(None)
    }
    fn first_check_ns(&self) -> Option<u64> {
        None
    }
    fn check(&mut self, _: &mut RepartitionContext) -> Result<Replan> {
        Ok(Replan::default())
    }
}

/// The registry entry.
pub const ENTRY: RepartitionerEntry = RepartitionerEntry {
    name: STATIC_REPARTITIONER,
    help: "never reconfigures: the partitioner's plan over the whole trace, chosen before the replay",
    params: &[],
    build: |_| Ok(Box::new(Static)),
    reads_ahead: false,
};
