//! Repartitioner `oracle`: every `period_s`, plans from the traffic of the **next** period
//! (perfect foresight): what the same partitioner could gain if it knew the future. It reads
//! ahead in the trace, so it is an upper reference, not a policy anyone can run; reports label
//! it as such.

use super::params::{ParamKind, ParamSpec, Params};
use super::periodic::{plan_window, replan_every};
use super::{RepartitionContext, Repartitioner, RepartitionerEntry, Replan, secs_to_ns};
use crate::error::Result;
use crate::gpu::Layout;

/// Plans each period from the next period's true traffic.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub period_ns: u64,
}

impl Repartitioner for Oracle {
    fn initial(&mut self, ctx: &mut RepartitionContext) -> Result<Option<Vec<Layout>>> {
        Ok(plan_window(ctx, 0, self.period_ns)?.0)
    }
    fn first_check_ns(&self) -> Option<u64> {
        Some(self.period_ns)
    }
    fn check(&mut self, ctx: &mut RepartitionContext) -> Result<Replan> {
        let now = ctx.now_ns;
        replan_every(
            ctx,
            self.period_ns,
            (now, now.saturating_add(self.period_ns)),
            |n| format!("oracle: planned on the next period's {n} queries (foresight)"),
            "oracle: no arrival in the next period",
        )
    }
}

fn build(p: &Params) -> Result<Box<dyn Repartitioner>> {
    Ok(Box::new(Oracle {
        period_ns: secs_to_ns(p.f64("period_s").expect("default")).max(1),
    }))
}

/// The registry entry.
pub const ENTRY: RepartitionerEntry = RepartitionerEntry {
    name: "oracle",
    help: "FORESIGHT (not runnable online): every period_s, plans from the next period's true traffic",
    params: &[ParamSpec {
        name: "period_s",
        kind: ParamKind::Positive,
        default: Some("60"),
        help: "simulated seconds between re-plans, and the stretch of future traffic each reads",
    }],
    build,
    reads_ahead: true,
};
