//! The engine: the discrete-event loop that advances the server's state ([`crate::server`])
//! through time, asking the policy's scheduler where each query goes, and records what
//! happened ([`Records`]) and whether it obeyed the rules ([`Invariants`]).
//!
//! Time is integer nanoseconds. Events are ordered by (time, kind, sequence): at the same
//! instant, *completions* come first (a query arriving exactly when an instance frees can use
//! it), then batch *deadlines* (dynamic batching only), then *arrivals*. Completions and
//! deadlines are sequenced by instance index, arrivals by their position in the stably sorted
//! trace. Arrivals come from the sorted trace directly, completions and deadlines from binary
//! heaps holding at most one entry per instance, so an event costs O(log instances).
//!
//! **Without batching** (the default) an instance runs one query at a time. When it finishes,
//! it starts the head of its local queue (filled by [`crate::policy::Dispatch::To`]) or, when that is empty,
//! asks the scheduler for a held query ([`Scheduler::next_for`]).
//!
//! **With dynamic batching** (`--batching max_batch=B,max_delay_us=D`, a rule per model) a
//! Triton-style batcher sits in front of every instance; [`crate::server::batcher`] states its
//! rules and holds the functions that apply them, which the loop here and the schedulers' view
//! ([`crate::server::ServerView::predict`]) both call. The head of a batch is the front of the instance's
//! local queue or, if that is empty, the query [`Scheduler::next_for`] hands it; held queries
//! join through [`Scheduler::join_batch`].
//!
//! **Service-time noise** ([`crate::service`]) changes how long a batch really runs; schedulers
//! keep seeing profiled estimates only ([`crate::server::ServerView`]). When a run is not exact (noise or
//! batching), the engine records each query's *estimated completion*, the estimate the
//! scheduler could make when it decided ([`crate::server::ServerView::estimate_done`] at dispatch, or the
//! batch start + its profiled latency for queries a scheduler held), so the report can show
//! how far the estimates were off.

mod invariants;
pub mod reconfig;
mod records;
mod repartition;
mod sim;
mod stream;

pub use invariants::Invariants;
pub use records::{ReconfigEvent, ReconfigLog, ReconfigSeconds, Records};
pub use repartition::Reconfigurable;
pub use stream::{RowGroup, simulate_streamed};

use crate::error::{Error, Result};
use crate::policy::Scheduler;
use crate::server::Server;
use crate::service::{BatchRule, ServiceModel, ServiceTable};
use crate::trace::Trace;

/// Replay `trace` on `server` with `scheduler`: profiled service times, no batching.
pub fn simulate(
    trace: &Trace,
    server: &Server,
    service: &ServiceTable,
    scheduler: &mut dyn Scheduler,
) -> Result<Records> {
    simulate_with(
        trace,
        server,
        service,
        &ServiceModel::default(),
        &[],
        scheduler,
    )
}

/// Replay with a service model: `rules` holds the batching rule of every trace model (empty:
/// no batching).
pub fn simulate_with(
    trace: &Trace,
    server: &Server,
    service: &ServiceTable,
    model: &ServiceModel,
    rules: &[BatchRule],
    scheduler: &mut dyn Scheduler,
) -> Result<Records> {
    check_sizes(trace, rules)?;
    let mut sim = sim::Sim::new(trace, server, service, model, rules);
    let mut s: &mut dyn Scheduler = scheduler;
    if rules.is_empty() {
        sim.run_unbatched(&mut s)?;
    } else {
        sim.run_batched(&mut s)?;
    }
    Ok(sim.rec)
}

/// Replay on a reconfigurable server that starts as `server`: the repartitioner of `re` is
/// consulted as the replay goes, and its plans applied ([`reconfig`]). Returns the records and
/// every instance that existed, by instance id (the records' `instance` indexes it).
pub fn simulate_reconfigurable<'a>(
    trace: &'a Trace,
    server: &Server,
    service: &'a ServiceTable,
    model: &ServiceModel,
    rules: &[BatchRule],
    re: Reconfigurable<'a>,
) -> Result<(Records, Vec<crate::server::Instance>)> {
    check_sizes(trace, rules)?;
    let mut sim = sim::Sim::new(trace, server, service, model, rules);
    let mut sched = {
        let mut re = re;
        let s = (re.scheduler)(server)?;
        sim.attach(re);
        s
    };
    if rules.is_empty() {
        sim.run_unbatched(&mut sched)?;
    } else {
        sim.run_batched(&mut sched)?;
    }
    Ok((sim.rec, sim.incarnations))
}

fn check_sizes(trace: &Trace, rules: &[BatchRule]) -> Result<()> {
    let n = trace.len();
    if n > u32::MAX as usize - 1 {
        return Err(Error::Usage(format!(
            "trace has {n} queries; at most {} supported",
            u32::MAX - 1
        )));
    }
    if !rules.is_empty() && rules.len() != trace.models.len() {
        return Err(Error::Internal("one batching rule per trace model".into()));
    }
    Ok(())
}
