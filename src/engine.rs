//! The discrete-event loop.
//!
//! Time is integer nanoseconds. There are two event kinds: a query *completion* and a query
//! *arrival*. Events are ordered by (time, kind, sequence) with completions before arrivals at
//! the same instant (a query arriving exactly when an instance frees can use it), completions
//! sequenced by instance index, and arrivals by their position in the stably sorted trace.
//! Arrivals come from the sorted trace directly and completions from a binary heap holding at
//! most one entry per instance, so an event costs O(log instances).
//!
//! An instance runs one query at a time. When it finishes, it starts the head of its local queue
//! (filled by [`Dispatch::To`]) or, when that is empty, asks the scheduler for a held query.

use crate::error::{Error, Result};
use crate::policy::{Dispatch, IdleSet, QueryInfo, Scheduler, ServerView};
use crate::profile::ServiceTable;
use crate::server::Server;
use crate::trace::Trace;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Per-query outcomes of a replay, indexed like the (sorted) trace.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub start_ns: Vec<u64>,
    pub finish_ns: Vec<u64>,
    pub instance: Vec<u32>,
    /// Busy time of each instance (ns).
    pub busy_ns: Vec<u64>,
    /// Queries whose service time was extrapolated beyond the profiled batches.
    pub extrapolated: u64,
    /// Events processed (arrivals + completions).
    pub events: u64,
}

const UNSET: u32 = u32::MAX;

/// Replay `trace` on `server` with `scheduler`. Service times come from `service`.
pub fn simulate(
    trace: &Trace,
    server: &Server,
    service: &ServiceTable,
    scheduler: &mut dyn Scheduler,
) -> Result<Records> {
    let n = trace.len();
    let ni = server.instances.len();
    if n > u32::MAX as usize - 1 {
        return Err(Error::Usage(format!(
            "trace has {n} queries; at most {} supported",
            u32::MAX - 1
        )));
    }
    let mut rec = Records {
        start_ns: vec![0; n],
        finish_ns: vec![0; n],
        instance: vec![UNSET; n],
        busy_ns: vec![0; ni],
        extrapolated: 0,
        events: 0,
    };
    let mut idle = IdleSet::all(ni);
    let mut queues: Vec<VecDeque<u32>> = vec![VecDeque::new(); ni];
    let mut backlog_end = vec![0u64; ni];
    let mut heap: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::with_capacity(ni);
    let slices: Vec<usize> = server.instances.iter().map(|i| i.slice).collect();

    // Start query q on instance i at `now`.
    macro_rules! start {
        ($q:expr, $i:expr, $now:expr) => {{
            let (q, i, now) = ($q as usize, $i as usize, $now);
            let (s, ex) = service.get(trace.model[q], slices[i], trace.batch[q]);
            rec.extrapolated += ex as u64;
            rec.start_ns[q] = now;
            rec.finish_ns[q] = now + s;
            rec.instance[q] = i as u32;
            rec.busy_ns[i] += s;
            idle.remove(i);
            heap.push(Reverse((now + s, i as u32)));
        }};
    }
    macro_rules! view {
        ($now:expr) => {
            ServerView {
                now_ns: $now,
                gpu: &server.gpu,
                instances: &server.instances,
                idle: &idle,
                queues: &queues,
                backlog_end: &backlog_end,
                service,
            }
        };
    }

    let mut next = 0usize;
    let mut now = 0u64;
    loop {
        let t_arr = if next < n {
            trace.arrival_ns[next]
        } else {
            u64::MAX
        };
        let t_done = heap.peek().map_or(u64::MAX, |r| r.0.0);
        if t_arr == u64::MAX && t_done == u64::MAX {
            break;
        }
        rec.events += 1;
        if t_done <= t_arr {
            // Completion (completions first at equal times; the heap orders ties by instance).
            let Reverse((t, i)) = heap.pop().expect("peeked");
            debug_assert!(t >= now, "clock went back");
            now = t;
            let i = i as usize;
            let nextq = match queues[i].pop_front() {
                Some(q) => Some(q),
                None => {
                    idle.insert(i);
                    let v = view!(now);
                    let q = scheduler.next_for(i, &v);
                    if q.is_some() {
                        idle.remove(i);
                    }
                    q
                }
            };
            if let Some(q) = nextq {
                if q as usize >= n || rec.instance[q as usize] != UNSET {
                    return Err(Error::Other(format!(
                        "scheduler returned query {q}, which does not exist or was already started"
                    )));
                }
                if trace.arrival_ns[q as usize] > now {
                    return Err(Error::Other(format!(
                        "scheduler started query {q} before its arrival"
                    )));
                }
                start!(q, i, now);
                // A query from the local queue is already in the backlog; a held one is not.
                backlog_end[i] = backlog_end[i].max(rec.finish_ns[q as usize]);
            }
        } else {
            now = t_arr;
            let q = next as u32;
            next += 1;
            let info = QueryInfo {
                idx: q,
                model: trace.model[q as usize],
                batch: trace.batch[q as usize],
                arrival_ns: now,
            };
            let d = {
                let v = view!(now);
                scheduler.on_arrival(&info, &v)
            };
            match d {
                Dispatch::Hold => {}
                Dispatch::To(i) => {
                    if i >= ni {
                        return Err(Error::Other(format!(
                            "scheduler sent query {q} to instance {i}, but the server has {ni}"
                        )));
                    }
                    if !service.has(info.model, slices[i]) {
                        return Err(Error::Other(format!(
                            "scheduler sent model '{}' to instance {i} ({}), where it is not profiled",
                            trace.models[info.model as usize], server.gpu.profiles[slices[i]].name
                        )));
                    }
                    let s = service.get(info.model, slices[i], info.batch).0;
                    backlog_end[i] = backlog_end[i].max(now) + s;
                    if idle.contains(i) {
                        start!(q, i, now);
                    } else {
                        queues[i].push_back(q);
                    }
                }
            }
        }
    }
    Ok(rec)
}

/// The results of the end-of-run invariant checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invariants {
    /// Every query that arrived completed exactly once.
    pub conservation: bool,
    /// No query started before it arrived; every finish is after its start.
    pub causality: bool,
    /// No instance ran two queries at once.
    pub no_overlap: bool,
}

impl Invariants {
    pub fn all_ok(&self) -> bool {
        self.conservation && self.causality && self.no_overlap
    }
}

/// Check the cheap invariants on the records of a finished replay.
pub fn check_invariants(trace: &Trace, server: &Server, rec: &Records) -> Invariants {
    let n = trace.len();
    let conservation = rec.instance.len() == n
        && rec
            .instance
            .iter()
            .all(|&i| (i as usize) < server.instances.len());
    let causality = (0..n)
        .all(|q| rec.start_ns[q] >= trace.arrival_ns[q] && rec.finish_ns[q] > rec.start_ns[q]);
    let mut no_overlap = conservation;
    if conservation {
        // Bucket queries by instance (counting sort), then check each instance's timeline.
        let ni = server.instances.len();
        let mut count = vec![0usize; ni + 1];
        for &i in &rec.instance {
            count[i as usize + 1] += 1;
        }
        for k in 0..ni {
            count[k + 1] += count[k];
        }
        let mut order = vec![0u32; n];
        let mut pos = count.clone();
        for (q, &i) in rec.instance.iter().enumerate() {
            order[pos[i as usize]] = q as u32;
            pos[i as usize] += 1;
        }
        for k in 0..ni {
            let seg = &mut order[count[k]..count[k + 1]];
            seg.sort_unstable_by_key(|&q| (rec.start_ns[q as usize], q));
            no_overlap &= seg
                .windows(2)
                .all(|w| rec.finish_ns[w[0] as usize] <= rec.start_ns[w[1] as usize]);
        }
    }
    Invariants {
        conservation,
        causality,
        no_overlap,
    }
}
