//! Repartitioner `threshold`: every `check_s`, compares the traffic of the last `window_s` with
//! the traffic the current layout was planned on, and re-plans only when it has moved:
//!
//! - the **mix distance**: the total variation distance between the two (model, batch)
//!   distributions, `0.5 x sum |p - q|` (0: the same mix, 1: disjoint), above `tv`; or
//! - the **rate ratio**: `max(r / r0, r0 / r)` between the two windows' arrival rates (queries
//!   over the window's length), above `rate_ratio` (when given);
//!
//! and never sooner than `dwell_s` after its last re-plan. It starts, like `periodic`, from the
//! plan of the trace's first window.

use super::params::{ParamKind, ParamSpec, Params};
use super::periodic::first_window;
use super::{RepartitionContext, Repartitioner, RepartitionerEntry, Replan, secs_to_ns};
use crate::error::Result;
use crate::gpu::Layout;
use crate::trace::Trace;
use std::collections::BTreeMap;

/// The (model, batch) distribution of a window.
pub fn mix(t: &Trace) -> BTreeMap<(u32, u32), f64> {
    let mut m = BTreeMap::new();
    for (&a, &b) in t.model.iter().zip(&t.batch) {
        *m.entry((a, b)).or_insert(0.0) += 1.0;
    }
    let n = t.len().max(1) as f64;
    m.values_mut().for_each(|v| *v /= n);
    m
}

/// Total variation distance between two distributions.
pub fn total_variation(p: &BTreeMap<(u32, u32), f64>, q: &BTreeMap<(u32, u32), f64>) -> f64 {
    let mut d = 0.0;
    for (k, a) in p {
        d += (a - q.get(k).copied().unwrap_or(0.0)).abs();
    }
    for (k, b) in q {
        if !p.contains_key(k) {
            d += b;
        }
    }
    0.5 * d
}

/// Re-plans when the traffic has moved.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub check_ns: u64,
    pub window_ns: u64,
    pub tv: f64,
    pub rate_ratio: Option<f64>,
    pub dwell_ns: u64,
    planned_mix: BTreeMap<(u32, u32), f64>,
    planned_rate: f64,
    last_plan_ns: u64,
}

impl Threshold {
    fn rate(&self, t: &Trace) -> f64 {
        t.len() as f64 / (self.window_ns as f64 / 1e9)
    }
}

impl Repartitioner for Threshold {
    fn initial(&mut self, ctx: &mut RepartitionContext) -> Result<Option<Vec<Layout>>> {
        let a = ctx.trace.arrival_ns.first().copied().unwrap_or(0);
        let win = ctx.trace.between(a, a.saturating_add(self.window_ns));
        self.planned_mix = mix(&win);
        self.planned_rate = self.rate(&win);
        first_window(ctx, self.window_ns)
    }
    fn first_check_ns(&self) -> Option<u64> {
        Some(self.check_ns)
    }
    fn check(&mut self, ctx: &mut RepartitionContext) -> Result<Replan> {
        let now = ctx.now_ns;
        let next_check_ns = Some(now.saturating_add(self.check_ns));
        let stay = |reason: String| Replan {
            layouts: None,
            next_check_ns,
            reason,
        };
        if ctx.busy {
            return Ok(stay("a reconfiguration is under way".into()));
        }
        if now.saturating_sub(self.last_plan_ns) < self.dwell_ns && self.last_plan_ns > 0 {
            return Ok(stay("dwell".into()));
        }
        let win = ctx.trace.between(now.saturating_sub(self.window_ns), now);
        if win.is_empty() {
            return Ok(stay("no arrival in the last window".into()));
        }
        let (m, r) = (mix(&win), self.rate(&win));
        let tv = total_variation(&m, &self.planned_mix);
        let ratio = if self.planned_rate > 0.0 {
            (r / self.planned_rate).max(self.planned_rate / r)
        } else {
            f64::INFINITY
        };
        let moved_mix = tv > self.tv;
        let moved_rate = self.rate_ratio.is_some_and(|x| ratio > x);
        if !(moved_mix || moved_rate) {
            return Ok(stay(format!("tv {tv:.3}, rate ratio {ratio:.2}: within bounds")));
        }
        let layouts = (ctx.plan)(&win)?;
        self.planned_mix = m;
        self.planned_rate = r;
        self.last_plan_ns = now;
        Ok(Replan {
            layouts: Some(layouts),
            next_check_ns,
            reason: format!(
                "threshold: tv {tv:.3}{} , rate ratio {ratio:.2}{}",
                if moved_mix {
                    format!(" > {}", self.tv)
                } else {
                    String::new()
                },
                match (moved_rate, self.rate_ratio) {
                    (true, Some(x)) => format!(" > {x}"),
                    _ => String::new(),
                }
            ),
        })
    }
}

fn build(p: &Params) -> Result<Box<dyn Repartitioner>> {
    Ok(Box::new(Threshold {
        check_ns: secs_to_ns(p.f64("check_s").expect("default")).max(1),
        window_ns: secs_to_ns(p.f64("window_s").expect("default")).max(1),
        tv: p.f64("tv").expect("default"),
        rate_ratio: p.f64("rate_ratio"),
        dwell_ns: secs_to_ns(p.f64("dwell_s").expect("default")),
        planned_mix: BTreeMap::new(),
        planned_rate: 0.0,
        last_plan_ns: 0,
    }))
}

/// The registry entry.
pub const ENTRY: RepartitionerEntry = RepartitionerEntry {
    name: "threshold",
    help: "re-plans when the last window's batch mix (total variation > tv) or rate (ratio > rate_ratio) moved from what the layout was planned on, at most once per dwell_s",
    params: &[
        ParamSpec {
            name: "check_s",
            kind: ParamKind::Positive,
            default: Some("10"),
            help: "simulated seconds between looks at the traffic",
        },
        ParamSpec {
            name: "window_s",
            kind: ParamKind::Positive,
            default: Some("60"),
            help: "seconds of past traffic compared and planned on",
        },
        ParamSpec {
            name: "tv",
            kind: ParamKind::Float { min: 0.0, max: 1.0 },
            default: Some("0.2"),
            help: "re-plan when the (model, batch) mix's total variation distance exceeds this",
        },
        ParamSpec {
            name: "rate_ratio",
            kind: ParamKind::Float {
                min: 1.0,
                max: 1e12,
            },
            default: Some(""),
            help: "re-plan when the arrival rate changed by more than this factor (default: off)",
        },
        ParamSpec {
            name: "dwell_s",
            kind: ParamKind::Float { min: 0.0, max: 1e12 },
            default: Some("60"),
            help: "the least simulated seconds between two re-plans",
        },
    ],
    build,
    reads_ahead: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_variation_by_hand() {
        let p: BTreeMap<(u32, u32), f64> = [((0, 1), 0.5), ((0, 2), 0.5)].into();
        let q: BTreeMap<(u32, u32), f64> = [((0, 2), 0.25), ((0, 8), 0.75)].into();
        // |0.5 - 0| + |0.5 - 0.25| + |0 - 0.75| = 1.5, halved.
        assert_eq!(total_variation(&p, &q), 0.75);
        assert_eq!(total_variation(&p, &p), 0.0);
    }
}
