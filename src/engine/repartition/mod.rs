//! The engine's side of a reconfigurable server: consulting the repartitioner, and applying its
//! plans as the rules of [`crate::server::reconfig`] say (partial or whole-GPU drain, the
//! downtime, rolling GPUs), while every query is served exactly once.
//!
//! **Instance ids.** Instances are numbered for the scheduler as on any server (GPU by GPU, by
//! start slot), and that numbering changes when the server does; records use stable *instance
//! ids* instead: the initial server's instances keep their index as id, and every instance
//! created by a reconfiguration gets the next id. On a fixed server the two coincide.
//!
//! **A reconfiguration of GPU g, step by step.**
//! 1. *Begin* (when its turn comes): the instances to destroy leave the server at once: they
//!    take no new query; their local queues and forming batches, and every query the scheduler
//!    holds, are offered again, oldest first, to a scheduler built for the server without them
//!    ([`crate::policy::Scheduler::take_held`]). A batch such an instance runs goes on to its
//!    end (it is *retired*, not cut short).
//! 2. *Down*: when the last retired batch of g ends (at once if none runs), the freed region is
//!    down for `reconfig.cost_s`.
//! 3. *Up*: the new instances join, idle; the scheduler is rebuilt for the new server, offered
//!    the held queries again, and every new instance asks it for work.
//!
//! Each rebuilt scheduler is first shown the server as it stands
//! ([`crate::policy::Scheduler::resume`]): the instances that stay keep their running batches
//! and queues, and a scheduler with private state (ELSA's backlog index) must not believe them
//! idle. The begin-to-down stretch is the *drain*, down-to-up the *downtime* (the cost exactly).
//!
//! A query no instance of the server can serve at the moment (none left, or none profiled for
//! its model with the memory for its batch) waits with the engine until one joins. Events at one
//! instant: completions, batch deadlines, then reconfiguration events (a GPU coming up before a
//! repartitioner's check), then arrivals. Checks stop after the last arrival (and once every
//! query has started); reconfigurations under way, and GPUs waiting their turn, still complete,
//! so the replay ends with every GPU in its target layout.
//!
//! This file holds the state of a reconfigurable replay (what the engine needs to consult a
//! repartitioner and apply its plans); `apply` the loop's side of it.

mod apply;

use super::records::ReconfigLog;
use crate::error::Result;
use crate::gpu::Layout;
use crate::policy::{Repartitioner, Scheduler};
use crate::server::Server;
use crate::server::reconfig::ReconfigModel;
use crate::trace::Trace;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The policy's partitioner on a stretch of traffic: one layout per GPU.
pub type PlanFn<'a> = Box<dyn FnMut(&Trace) -> Result<Vec<Layout>> + 'a>;
/// Builds the policy's scheduler for a server.
pub type SchedulerFn<'a> = Box<dyn FnMut(&Server) -> Result<Box<dyn Scheduler>> + 'a>;

/// What a reconfigurable replay needs besides a fixed one's inputs.
pub struct Reconfigurable<'a> {
    pub repartitioner: Box<dyn Repartitioner + 'a>,
    /// The policy's partitioner on a stretch of traffic: one layout per GPU.
    pub plan: PlanFn<'a>,
    /// Builds the policy's scheduler for a server.
    pub scheduler: SchedulerFn<'a>,
    pub model: ReconfigModel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Serving,
    Waiting,
    /// Retired batches still running.
    Draining(u32),
    Down,
}

pub(super) struct Reconf<'a> {
    pub(super) cfg: Reconfigurable<'a>,
    /// Time of the next check (`u64::MAX`: none).
    pub(super) next_check: u64,
    /// Per GPU: the layout it is in or moving to; its phase; its open event in `log`.
    pub(super) target: Vec<Layout>,
    pub(super) phase: Vec<Phase>,
    pub(super) open_event: Vec<usize>,
    pub(super) waiting: VecDeque<usize>,
    /// (time, GPU) regions coming back up.
    pub(super) up: BinaryHeap<Reverse<(u64, u32)>>,
    /// Queries held by the engine (no instance can serve them now).
    pub(super) limbo: Vec<u32>,
    /// Per model: the largest batch some current instance can serve (0: none).
    pub(super) servable: Vec<u32>,
    pub(super) log: ReconfigLog,
    pub(super) decided_ns: u64,
    pub(super) reason: String,
    /// Instance rebuilds the applied plans cost so far (see `REBUILD_BUDGET`).
    pub(super) work: u64,
}

impl<'a> Reconf<'a> {
    pub(super) fn new(cfg: Reconfigurable<'a>, layouts: &[Layout]) -> Reconf<'a> {
        let n = layouts.len();
        let first = cfg.repartitioner.first_check_ns().unwrap_or(u64::MAX);
        Reconf {
            cfg,
            next_check: first,
            target: layouts.to_vec(),
            phase: vec![Phase::Serving; n],
            open_event: vec![usize::MAX; n],
            waiting: VecDeque::new(),
            up: BinaryHeap::new(),
            limbo: Vec::new(),
            servable: Vec::new(),
            log: ReconfigLog::default(),
            decided_ns: 0,
            reason: String::new(),
            work: 0,
        }
    }

    pub(super) fn busy(&self) -> bool {
        !self.waiting.is_empty() || self.phase.iter().any(|&p| p != Phase::Serving)
    }

    pub(super) fn in_progress(&self) -> usize {
        self.phase
            .iter()
            .filter(|&&p| matches!(p, Phase::Draining(_) | Phase::Down))
            .count()
    }
}
