//! Repartitioner `periodic`: every `period_s` of simulated time, re-runs the policy's own
//! partitioner on the traffic of the last `window_s` (its per-model rates and batch mix, as the
//! partitioner reads them from a trace) and moves the server to the new plan.
//!
//! It starts from the plan of the trace's first `window_s` (as if the traffic before the
//! replay looked like its first window). A window with no arrival keeps the layout.

use super::params::{ParamKind, ParamSpec, Params};
use super::{RepartitionContext, Repartitioner, RepartitionerEntry, Replan, secs_to_ns};
use crate::error::Result;
use crate::gpu::Layout;
use crate::trace::Trace;

/// The plan of the first window `[a, a + w)`, where `a` is the first arrival (0 when the trace
/// starts at 0), shared by the online repartitioners.
pub(super) fn first_window(ctx: &mut RepartitionContext, w: u64) -> Result<Option<Vec<Layout>>> {
    let a = ctx.trace.arrival_ns.first().copied().unwrap_or(0);
    let win = ctx.trace.between(a, a.saturating_add(w.max(1)));
    if win.is_empty() {
        return Ok(None);
    }
    Ok(Some((ctx.plan)(&win)?))
}

/// Plans from the traffic of `[lo, hi)`, or `None` when it holds no arrival.
pub(super) fn plan_window(
    ctx: &mut RepartitionContext,
    lo: u64,
    hi: u64,
) -> Result<(Option<Vec<Layout>>, Trace)> {
    let win = ctx.trace.between(lo, hi);
    if win.is_empty() {
        return Ok((None, win));
    }
    let l = (ctx.plan)(&win)?;
    Ok((Some(l), win))
}

/// A check of a repartitioner that re-plans every `period_ns` on the traffic of `[lo, hi)`
/// (`periodic`: the last window; `oracle`: the next period): nothing while a reconfiguration
/// is under way; `planned` says why, given the window's query count, `empty` when it has none.
pub(super) fn replan_every(
    ctx: &mut RepartitionContext,
    period_ns: u64,
    (lo, hi): (u64, u64),
    planned: impl Fn(usize) -> String,
    empty: &str,
) -> Result<Replan> {
    let next_check_ns = Some(ctx.now_ns.saturating_add(period_ns));
    if ctx.busy {
        return Ok(Replan {
            layouts: None,
            next_check_ns,
            reason: "a reconfiguration is under way".into(),
        });
    }
    let (layouts, win) = plan_window(ctx, lo, hi)?;
    Ok(Replan {
        reason: match &layouts {
            Some(_) => planned(win.len()),
            None => empty.into(),
        },
        layouts,
        next_check_ns,
    })
}

/// Re-plans every period on the last window.
#[derive(Debug, Clone)]
pub struct Periodic {
    pub period_ns: u64,
    pub window_ns: u64,
}

impl Repartitioner for Periodic {
    fn initial(&mut self, ctx: &mut RepartitionContext) -> Result<Option<Vec<Layout>>> {
        first_window(ctx, self.window_ns)
    }
    fn first_check_ns(&self) -> Option<u64> {
        Some(self.period_ns)
    }
    fn check(&mut self, ctx: &mut RepartitionContext) -> Result<Replan> {
        let now = ctx.now_ns;
        replan_every(
            ctx,
            self.period_ns,
            (now.saturating_sub(self.window_ns), now),
            |n| format!("period: planned on the last window's {n} queries"),
            "period: no arrival in the last window",
        )
    }
}

pub const PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "period_s",
        kind: ParamKind::Positive,
        default: Some("60"),
        help: "simulated seconds between re-plans (not scaled by --rate-scale)",
    },
    ParamSpec {
        name: "window_s",
        kind: ParamKind::Positive,
        default: Some(""),
        help: "seconds of past traffic each plan reads (default: the period)",
    },
];

fn build(p: &Params) -> Result<Box<dyn Repartitioner>> {
    let period = p.f64("period_s").expect("default");
    Ok(Box::new(Periodic {
        period_ns: secs_to_ns(period).max(1),
        window_ns: secs_to_ns(p.f64("window_s").unwrap_or(period)).max(1),
    }))
}

/// The registry entry.
pub const ENTRY: RepartitionerEntry = RepartitionerEntry {
    name: "periodic",
    help: "every period_s, re-runs the partitioner on the last window_s of traffic and moves to its plan",
    params: PARAMS,
    build,
    reads_ahead: false,
};
