//! The state of a reconfigurable replay: what the engine needs to consult a repartitioner and
//! apply its plans (see [`super::reconfig`] for the rules as the engine applies them).

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
