//! The harness proves, before any input, that it fails on a wrong result and not only on a
//! panic: a planted bug (a scheduler plugin that sends every query to an instance the server
//! does not have, which the engine checks) run through the same `run` a fuzz input reaches must
//! come out as a bug, a failure of the run; the same command refused for bad input (the
//! built-in registry does not know the scheduler) must come out as a refusal; and a violated
//! end-of-run invariant, as `run`, `peak` and `plan` check it, must come out as a bug.

use crate::{Ctx, Outcome, failed, judge, s};
use mig_replay::engine::Invariants;
use mig_replay::policy::{Cost, Dispatch, QueryInfo, Registry, Scheduler, SchedulerEntry};
use mig_replay::server::ServerView;

/// Sends every query to instance `view.len()`, one past the last.
struct OffTheEnd;

impl Scheduler for OffTheEnd {
    fn on_arrival(&mut self, _q: &QueryInfo, view: &ServerView) -> Dispatch {
        Dispatch::To(view.len())
    }
}

const PLANTED: SchedulerEntry = SchedulerEntry {
    name: "planted-bug",
    help: "the fuzz harness's planted bug: every query to an instance that does not exist",
    params: &[],
    build: |_params, _ctx| Ok(Box::new(OffTheEnd)),
    cost: Cost::UNKNOWN,
    heat_maps: false,
    fcfs_earliest_free: false,
    needs_sla: false,
};

/// Panics (the harness fails before any input) unless the planted bug is caught.
pub fn caught(ctx: &Ctx) {
    let args = vec![
        s("run"),
        s("--trace"),
        s(ctx.small_trace.display()),
        s("--profiles"),
        s(ctx.profiles.display()),
        s("--gpu"),
        s("A100-80GB"),
        s("--gpus"),
        s(1),
        s("--policy"),
        s("paris+planted-bug"),
        s("--out"),
        s(ctx.work.join("planted").display()),
        s("--quiet"),
    ];
    let mut registry = Registry::builtin();
    registry.register_scheduler(PLANTED);
    let o = crate::cli_with(&args, &registry);
    assert!(
        matches!(&o, Outcome::Bug(m) if m.contains("scheduler sent query")),
        "the fuzz harness does not catch a planted bug: {o:?}"
    );
    assert!(failed(&Ok(o)), "a bug must fail the fuzz run");
    // The same command without the plugin: bad input (an unknown scheduler), a refusal.
    let o = crate::cli(&args);
    assert!(
        matches!(&o, Outcome::Refused(m) if m.contains("unknown scheduler 'planted-bug'")),
        "bad input must be a refusal, not a bug: {o:?}"
    );
    assert!(!failed(&Ok(o)), "a refusal must not fail the fuzz run");
    // A violated invariant, checked as run, peak and plan check it.
    let inv = Invariants {
        conservation: true,
        causality: false,
        no_overlap: true,
        batches: None,
        reconfiguration: None,
    };
    let e = mig_replay::drive::replay::require_invariants(&inv, "(planted)").unwrap_err();
    let o = judge(e);
    assert!(
        matches!(&o, Outcome::Bug(m) if m.contains("invariants violated (planted): causality")),
        "a violated invariant must be a bug: {o:?}"
    );
    assert!(failed(&Ok(o)));
}
