//! A streamed replay ([`streamed`]): the loop holds a *window* ([`Rows`] for `Box<Trace>`) of
//! a trace that arrives in chunks. The window (see [`Trace::base`]) gets rows
//! appended as the loop needs them and cut from the front, `cut_rows` at a time, once every
//! query of the cut has started. Queries keep their global positions, so the scheduler, the
//! noise stream and the batch ids see exactly what they see in a whole-trace replay, and the
//! records are the same, row for row.
//!
//! Memory: the window (36 bytes per row, 48 with batching and noise) holds the rows from the
//! oldest query not yet started to the last row read. At a stable load that is about one cut
//! and one chunk read ahead; a query held back for long (a scheduler that starves it, an
//! overload) keeps every row after it in the window.

use super::rows::Rows;
use super::sim::{InstanceModel, Sim, Step, UNSET};
use super::{Records, Setup, Stream};
use crate::error::{Error, Result};
use crate::policy::Scheduler;
use crate::trace::Trace;

/// A run of consecutive queries with their records, cut from the window (or from a whole
/// replay's records): everything `queries.parquet` and the metrics read of them.
#[derive(Debug, Clone, Default)]
pub struct RowGroup {
    /// Global position of the first row.
    pub first: usize,
    /// Ids; empty when every id is its position (`first + k`).
    pub id: Vec<i64>,
    pub arrival_ns: Vec<u64>,
    pub model: Vec<u32>,
    pub batch: Vec<u32>,
    pub start_ns: Vec<u64>,
    pub finish_ns: Vec<u64>,
    pub instance: Vec<u32>,
    /// With batching: each row's batch id, and the summed size of batches `batch_base..`.
    pub batch_id: Vec<u32>,
    pub batch_size: Vec<u32>,
    pub batch_base: u32,
    /// When the run is not exact: each row's estimated completion.
    pub est_done_ns: Vec<u64>,
    /// The summed sizes of the batches no later row can belong to, in batch-id order (each
    /// batch retired exactly once over the run's row groups).
    pub retired_batches: Vec<u32>,
}

impl RowGroup {
    pub fn len(&self) -> usize {
        self.arrival_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arrival_ns.is_empty()
    }

    /// The summed size of the batch of row `k` (`None`: a batch id outside the group's range,
    /// which only a broken run produces).
    #[inline]
    pub fn batch_size_of(&self, k: usize) -> Option<u32> {
        let b = self.batch_id[k].checked_sub(self.batch_base)?;
        self.batch_size.get(b as usize).copied()
    }
}

/// Replay a trace read in chunks (see [`Stream`]), with instance model `inst`. Returns the
/// run's counters and busy times (its per-query vectors are empty: every row went to `emit`).
pub(super) fn streamed<M: InstanceModel>(
    setup: &Setup<'_>,
    stream: Stream<'_>,
    scheduler: &mut dyn Scheduler,
    inst: M,
) -> Result<Records> {
    let Stream {
        models,
        mut rows,
        cut_rows,
        mut emit,
        mut spare,
    } = stream;
    let cut_rows = cut_rows.max(1);
    let window = Trace {
        models: models.to_vec(),
        ..Trace::default()
    };
    let mut sim = Sim::new(
        Box::new(window),
        setup.server,
        setup.service,
        setup.model,
        setup.rules,
        inst,
    );
    sim.more = true;
    let mut s: &mut dyn Scheduler = scheduler;
    // Rows [0, started) of the window have all started.
    let mut started = 0usize;
    loop {
        let step = sim.run(&mut s)?;
        while started < sim.rec.finish_ns.len() && sim.rec.finish_ns[started] != 0 {
            started += 1;
        }
        while started >= cut_rows {
            emit(cut(&mut sim, cut_rows, false, spare()))?;
            started -= cut_rows;
        }
        match step {
            Step::Done => break,
            Step::NeedRows => match rows()? {
                Some(t) if (sim.next as u64 + t.len() as u64) >= u32::MAX as u64 => {
                    return Err(Error::Usage(format!(
                        "trace has more than {} queries; at most that many supported",
                        u32::MAX - 1
                    )));
                }
                Some(t) => sim.append_rows(&t),
                None => sim.more = false,
            },
        }
    }
    while !sim.trace.is_empty() {
        let k = cut_rows.min(sim.trace.len());
        let last = k == sim.trace.len();
        emit(cut(&mut sim, k, last, spare()))?;
    }
    Ok(std::mem::take(&mut sim.rec))
}

impl<M: InstanceModel> Sim<'_, Box<Trace>, M> {
    /// Append rows to the window: the trace's and empty records for them.
    fn append_rows(&mut self, rows: &Trace) {
        let k = rows.len();
        let t = self.trace.window_mut();
        t.arrival_ns.extend_from_slice(&rows.arrival_ns);
        t.model.extend_from_slice(&rows.model);
        t.batch.extend_from_slice(&rows.batch);
        if !rows.id.is_empty() {
            t.id.extend_from_slice(&rows.id);
        }
        let r = &mut self.rec;
        let n = r.start_ns.len() + k;
        r.start_ns.resize(n, 0);
        r.finish_ns.resize(n, 0);
        r.instance.resize(n, UNSET);
        if M::BATCHED {
            r.batch_id.resize(n, UNSET);
        }
        if self.track_est {
            r.est_done_ns.resize(n, u64::MAX);
        }
    }

    /// Drop the first `k` rows of the window (the trace's and the records').
    fn drop_rows(&mut self, k: usize) {
        let t = self.trace.window_mut();
        t.arrival_ns.drain(..k);
        t.model.drain(..k);
        t.batch.drain(..k);
        if !t.id.is_empty() {
            t.id.drain(..k);
        }
        t.base += k;
        let r = &mut self.rec;
        r.start_ns.drain(..k);
        r.finish_ns.drain(..k);
        r.instance.drain(..k);
        if !r.batch_id.is_empty() {
            r.batch_id.drain(..k);
        }
        if !r.est_done_ns.is_empty() {
            r.est_done_ns.drain(..k);
        }
        r.base += k;
    }
}

/// Cut the first `k` rows of the window into a row group; `last`: nothing follows, so every
/// batch left retires.
fn cut<M: InstanceModel>(
    sim: &mut Sim<'_, Box<Trace>, M>,
    k: usize,
    last: bool,
    spare: Option<RowGroup>,
) -> RowGroup {
    let (t, r) = (&*sim.trace, &sim.rec);
    let mut g = spare.unwrap_or_default();
    g.first = t.base;
    fill(&mut g.id, &t.id, k);
    fill(&mut g.arrival_ns, &t.arrival_ns, k);
    fill(&mut g.model, &t.model, k);
    fill(&mut g.batch, &t.batch, k);
    fill(&mut g.start_ns, &r.start_ns, k);
    fill(&mut g.finish_ns, &r.finish_ns, k);
    fill(&mut g.instance, &r.instance, k);
    fill(&mut g.batch_id, &r.batch_id, k);
    fill(&mut g.est_done_ns, &r.est_done_ns, k);
    g.batch_size.clear();
    g.batch_base = 0;
    g.retired_batches.clear();
    if !g.batch_id.is_empty() {
        // The sizes of the batches the group's rows ran in.
        let ids = || g.batch_id.iter().copied().filter(|&b| b != UNSET);
        if let (Some(lo), Some(hi)) = (ids().min(), ids().max()) {
            let (a, b) = (
                lo.saturating_sub(r.batch_base) as usize,
                (hi.saturating_sub(r.batch_base) as usize + 1).min(r.batch_size.len()),
            );
            if a < b {
                g.batch_size.extend_from_slice(&r.batch_size[a..b]);
                g.batch_base = r.batch_base + a as u32;
            }
        }
    }
    sim.drop_rows(k);
    if M::BATCHED {
        // Batches below the lowest id a remaining row ran in (or the next id) are done.
        let r = &mut sim.rec;
        let next = r.batch_base + r.batch_size.len() as u32;
        let keep = if last {
            next
        } else {
            r.batch_id
                .iter()
                .zip(&r.finish_ns)
                .filter(|&(&b, &f)| f != 0 && b != UNSET)
                .map(|(&b, _)| b)
                .min()
                .unwrap_or(next)
                .min(next)
        };
        let k = (keep.saturating_sub(r.batch_base) as usize).min(r.batch_size.len());
        g.retired_batches.extend(r.batch_size.drain(..k));
        r.batch_base += k as u32;
    }
    g
}

/// `dst` = the first `k` values of `src` (nothing when `src` is empty: a column the run has
/// not), reusing `dst`'s buffer.
fn fill<T: Copy>(dst: &mut Vec<T>, src: &[T], k: usize) {
    dst.clear();
    if !src.is_empty() {
        dst.extend_from_slice(&src[..k]);
    }
}
