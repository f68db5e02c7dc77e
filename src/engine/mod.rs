//! The engine: the discrete-event loop that advances the server's state ([`crate::server`])
//! through time, asking the policy's scheduler where each query goes, and records what
//! happened ([`Records`]) and whether it obeyed the rules ([`Invariants`]).
//!
//! One entry point, [`replay`], runs every replay: a whole trace or one streamed in chunks
//! ([`Feed`]), on a fixed server or a reconfigurable one ([`Scheduling`]). One event loop
//! (`sim`) serves them all; it takes `Event`s from an `Agenda` (time is
//! integer nanoseconds; at one instant *completions* come first, so a query arriving exactly
//! when an instance frees can use it, then batch *deadlines*, then reconfiguration events, then
//! *arrivals*), and leaves what an instance does with its work to an instance model (`InstanceModel`).
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

mod event;
mod instance;
mod invariants;
pub mod llm;
mod records;
pub mod repartition;
mod rows;
mod sim;
mod window;

pub use invariants::Invariants;
pub use records::{ReconfigEvent, ReconfigLog, ReconfigSeconds, Records};
pub use repartition::Reconfigurable;
pub use window::RowGroup;

use crate::error::{Error, Result};
use crate::policy::Scheduler;
use crate::server::{Instance, Server};
use crate::service::{BatchRule, ServiceModel, ServiceTable};
use crate::trace::Trace;
use instance::{Batching, OneAtATime};
use sim::{InstanceModel, Sim};

/// What a replay runs on: the server (as it starts), the profiled service times, the service
/// model's noise and seed, and the batching rule of every trace model (empty: no batching).
#[derive(Clone, Copy)]
pub struct Setup<'a> {
    pub server: &'a Server,
    pub service: &'a ServiceTable,
    pub model: &'a ServiceModel,
    pub rules: &'a [BatchRule],
}

impl<'a> Setup<'a> {
    /// Profiled service times, no noise, no batching.
    pub fn exact(server: &'a Server, service: &'a ServiceTable) -> Setup<'a> {
        Setup {
            server,
            service,
            model: &ServiceModel::EXACT,
            rules: &[],
        }
    }
}

/// The trace of a replay: whole, or read in chunks.
pub enum Feed<'a, 'f> {
    /// The whole (sorted) trace, held by the caller.
    Whole(&'a Trace),
    /// A trace read in chunks, never held whole.
    Streamed(Stream<'f>),
}

/// A trace read in chunks, and where its records go: `rows` hands the next chunk of the sorted
/// trace (a [`Trace`] of rows whose `base` is ignored; `None` at the end); `emit` receives the
/// records in groups of `cut_rows` rows (the last may be shorter), in order. `models` are the
/// whole trace's model names; `spare` may hand back a row group `emit` is done with, whose
/// buffers are reused (no fresh pages per group).
pub struct Stream<'f> {
    pub models: &'f [String],
    pub rows: Box<dyn FnMut() -> Result<Option<Trace>> + 'f>,
    pub cut_rows: usize,
    pub emit: Box<dyn FnMut(RowGroup) -> Result<()> + 'f>,
    pub spare: Box<dyn FnMut() -> Option<RowGroup> + 'f>,
}

/// Who decides where queries go: a scheduler on a server that never changes, or a
/// reconfigurable server's repartitioner and the policy's partitioner and scheduler.
pub enum Scheduling<'a, 's> {
    Fixed(&'s mut dyn Scheduler),
    Reconfigurable(Reconfigurable<'a>),
}

/// What a replay produced: the records (of a streamed replay, only its counters and busy
/// times: every row went to `emit`), and every instance that existed, by instance id (the
/// records' `instance` indexes it; the server's instances on a fixed server).
#[derive(Debug)]
pub struct Outcome {
    pub records: Records,
    pub instances: Vec<Instance>,
}

/// Replay `feed` on `setup` as `scheduling` decides: the one entry point of the engine. A
/// streamed feed needs a fixed server (a repartitioner reads ahead in the whole trace).
pub fn replay<'a>(
    setup: &Setup<'a>,
    feed: Feed<'a, '_>,
    scheduling: Scheduling<'a, '_>,
) -> Result<Outcome> {
    if !setup.rules.is_empty() {
        let n = match &feed {
            Feed::Whole(t) => t.models.len(),
            Feed::Streamed(s) => s.models.len(),
        };
        if setup.rules.len() != n {
            return Err(Error::Internal("one batching rule per trace model".into()));
        }
    }
    if setup.rules.is_empty() {
        run(setup, feed, scheduling, OneAtATime)
    } else {
        run(setup, feed, scheduling, Batching::default())
    }
}

fn run<'a, M: InstanceModel>(
    setup: &Setup<'a>,
    feed: Feed<'a, '_>,
    scheduling: Scheduling<'a, '_>,
    inst: M,
) -> Result<Outcome> {
    match (feed, scheduling) {
        (Feed::Whole(trace), scheduling) => {
            let n = trace.len();
            if n > u32::MAX as usize - 1 {
                return Err(Error::Usage(format!(
                    "trace has {n} queries; at most {} supported",
                    u32::MAX - 1
                )));
            }
            let mut sim = Sim::new(
                trace,
                setup.server,
                setup.service,
                setup.model,
                setup.rules,
                inst,
            );
            match scheduling {
                Scheduling::Fixed(scheduler) => {
                    let mut s: &mut dyn Scheduler = scheduler;
                    sim.run(&mut s)?;
                }
                Scheduling::Reconfigurable(mut re) => {
                    let mut s = (re.scheduler)(setup.server)?;
                    sim.attach(re);
                    sim.run(&mut s)?;
                }
            }
            Ok(Outcome {
                records: sim.rec,
                instances: sim.fleet.incarnations,
            })
        }
        (Feed::Streamed(stream), Scheduling::Fixed(scheduler)) => Ok(Outcome {
            records: window::streamed(setup, stream, scheduler, inst)?,
            instances: setup.server.instances.clone(),
        }),
        (Feed::Streamed(_), Scheduling::Reconfigurable(_)) => Err(Error::Internal(
            "a streamed replay cannot reconfigure its server (a repartitioner reads ahead in the trace)".into(),
        )),
    }
}
