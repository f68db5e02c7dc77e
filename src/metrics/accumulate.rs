//! Every per-query figure of a replay and every end-of-run invariant, accumulated chunk by
//! chunk ([`Accumulator`]): an in-memory replay hands its whole records as one [`Chunk`]
//! ([`super::compute`]), a streamed replay ([`crate::stream`]) each row group as it is cut. Each
//! count and each check is written here once, for both.
//!
//! Across chunks the accumulator keeps no per-query state: counts, the histograms of the exact
//! distributions ([`Exact`]; their values are read back at the end from the spill files of a
//! streamed replay, or from the records an in-memory replay still holds), the batches not yet
//! complete, and on each instance the intervals a later query could still overlap.

use super::exact::Exact;
use super::{Dist, Metrics, Parts};
use crate::engine::{Invariants, Records, RowGroup};
use crate::error::{Error, Result};
use crate::server::Server;
use crate::service::BatchRule;
use crate::sla::ModelSla;
use crate::trace::Trace;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// Consecutive queries of the sorted trace with their records, borrowed: an in-memory
/// replay's whole trace ([`Chunk::of_replay`]) or a streamed replay's row group
/// ([`Chunk::of_group`]). Chunks come in trace order.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub arrival_ns: &'a [u64],
    pub model: &'a [u32],
    pub batch: &'a [u32],
    pub start_ns: &'a [u64],
    pub finish_ns: &'a [u64],
    pub instance: &'a [u32],
    /// With batching: each row's batch id, and the summed sizes of the batches from id
    /// `batch_base` on (those the rows ran in).
    pub batch_id: &'a [u32],
    pub batch_size: &'a [u32],
    pub batch_base: u32,
    /// When the run is not exact: each row's estimated completion.
    pub est_done_ns: &'a [u64],
    /// With batching: the summed sizes of the batches no later row belongs to, in batch-id
    /// order (over a run's chunks, every batch exactly once).
    pub retired_batches: &'a [u32],
    /// A reconfigurable server: every instance's (created, destroyed) ns, by instance id.
    pub lifetimes: Option<&'a [(u64, u64)]>,
}

impl<'a> Chunk<'a> {
    /// The whole of an in-memory replay: `trace` and its records.
    pub fn of_replay(trace: &'a Trace, rec: &'a Records) -> Chunk<'a> {
        Chunk {
            arrival_ns: &trace.arrival_ns,
            model: &trace.model,
            batch: &trace.batch,
            start_ns: &rec.start_ns,
            finish_ns: &rec.finish_ns,
            instance: &rec.instance,
            batch_id: &rec.batch_id,
            batch_size: &rec.batch_size,
            batch_base: rec.batch_base,
            est_done_ns: &rec.est_done_ns,
            retired_batches: &rec.batch_size,
            lifetimes: rec.reconfig.as_ref().map(|l| &l.lifetimes[..]),
        }
    }

    /// A streamed replay's row group.
    pub fn of_group(g: &'a RowGroup) -> Chunk<'a> {
        Chunk {
            arrival_ns: &g.arrival_ns,
            model: &g.model,
            batch: &g.batch,
            start_ns: &g.start_ns,
            finish_ns: &g.finish_ns,
            instance: &g.instance,
            batch_id: &g.batch_id,
            batch_size: &g.batch_size,
            batch_base: g.batch_base,
            est_done_ns: &g.est_done_ns,
            retired_batches: &g.retired_batches,
            lifetimes: None,
        }
    }

    pub fn len(&self) -> usize {
        self.arrival_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arrival_ns.is_empty()
    }

    /// The summed size of the batch of row `k` (`None`: a batch id outside the chunk's range,
    /// which only a broken run produces).
    fn batch_size_of(&self, k: usize) -> Option<u32> {
        let b = self.batch_id[k].checked_sub(self.batch_base)?;
        self.batch_size.get(b as usize).copied()
    }

    // The values of the three distributions, one definition each: read when counted and again
    // when resolved. A query that never ran is a broken run (its invariants say so); its
    // values count as 0.
    fn latency(&self, k: usize) -> u64 {
        self.finish_ns[k].saturating_sub(self.arrival_ns[k])
    }

    fn queue(&self, k: usize) -> u64 {
        self.start_ns[k].saturating_sub(self.arrival_ns[k])
    }

    fn error(&self, k: usize) -> u64 {
        self.finish_ns[k].abs_diff(self.est_done_ns[k])
    }
}

/// A batch seen in part: (model, instance, start, finish) of its first member, its summed
/// batch so far and its members.
type Forming = (u32, u32, u64, u64, u64, u32);

/// The distributions' spill files (a streamed replay), or none: the values are read back from
/// the chunks, which the caller still holds.
struct Spill {
    lat: Vec<PathBuf>,
    queue: PathBuf,
    error: PathBuf,
}

/// Everything accumulated over the chunks: the counts and distributions of the metrics, and
/// the state of every invariant check.
pub struct Accumulator {
    sla_ns: Vec<Option<u64>>,
    instances: usize,
    max_batch: Vec<u32>,
    spill: Option<Spill>,
    queries: u64,
    t0: Option<u64>,
    t1: u64,
    count: Vec<u64>,
    good: Vec<u64>,
    inst_q: Vec<u64>,
    /// Latency per model (one entry with a single model), queueing delay, estimate error.
    lat: Vec<Exact>,
    queue: Exact,
    err: Option<Exact>,
    late: u64,
    batches: Option<(u64, f64, u32)>,
    // Invariants.
    conservation: bool,
    causality: bool,
    overlap_ok: bool,
    /// Per instance: (start, finish, batch id) of the intervals a later query could overlap,
    /// by start (new ones land at or near the back: starts on an instance mostly follow the
    /// trace's order).
    open: Vec<VecDeque<(u64, u64, u32)>>,
    /// With batching: batches not yet complete, by id, and the number completed and found
    /// consistent.
    forming: Option<HashMap<u32, Forming>>,
    batches_ok: bool,
    batches_done: u64,
    /// Queries that started on an instance that existed then (reconfigurable servers).
    in_life: u64,
}

impl Accumulator {
    /// An accumulator for `models` models with SLAs `slas` on `server`; `rules`: the batching
    /// rules (empty: none); `estimates`: the run is not exact. `spill`: a folder the
    /// distributions' values are spilled to (a streamed replay); without one they are read back
    /// from the chunks at the end ([`Accumulator::finish`]).
    pub fn new(
        models: usize,
        slas: &[Option<ModelSla>],
        server: &Server,
        rules: &[BatchRule],
        estimates: bool,
        spill: Option<&Path>,
    ) -> Result<Accumulator> {
        let spill = spill.map(|dir| Spill {
            lat: (0..models)
                .map(|m| dir.join(format!("latency-{m}.u64")))
                .collect(),
            queue: dir.join("queue.u64"),
            error: dir.join("error.u64"),
        });
        let lat = (0..models)
            .map(|m| Exact::new(spill.as_ref().map(|s| s.lat[m].as_path())))
            .collect::<Result<Vec<_>>>()?;
        let batched = !rules.is_empty();
        let ni = server.instances.len();
        Ok(Accumulator {
            sla_ns: super::sla_ns(slas, models),
            instances: ni,
            max_batch: rules.iter().map(|r| r.max_batch).collect(),
            queries: 0,
            t0: None,
            t1: 0,
            count: vec![0; models],
            good: vec![0; models],
            inst_q: vec![0; ni],
            lat,
            queue: Exact::new(spill.as_ref().map(|s| s.queue.as_path()))?,
            err: if estimates {
                Some(Exact::new(spill.as_ref().map(|s| s.error.as_path()))?)
            } else {
                None
            },
            spill,
            late: 0,
            batches: batched.then_some((0, 0.0, 0)),
            conservation: true,
            causality: true,
            overlap_ok: true,
            open: vec![VecDeque::new(); ni],
            forming: batched.then(HashMap::new),
            batches_ok: true,
            batches_done: 0,
            in_life: 0,
        })
    }

    /// Count a chunk (they come in trace order).
    pub fn add(&mut self, c: &Chunk) -> Result<()> {
        let n = c.len();
        let batched = self.forming.is_some();
        let fits = |len: usize, wanted: bool| len == if wanted { n } else { 0 };
        if !(fits(c.model.len(), true)
            && fits(c.batch.len(), true)
            && fits(c.start_ns.len(), true)
            && fits(c.finish_ns.len(), true)
            && fits(c.instance.len(), true)
            && fits(c.batch_id.len(), batched)
            && fits(c.est_done_ns.len(), self.err.is_some()))
        {
            return Err(Error::Internal(format!(
                "metrics: the records of {n} queries do not match them in length"
            )));
        }
        for k in 0..n {
            let (a, s, f, i, m) = (
                c.arrival_ns[k],
                c.start_ns[k],
                c.finish_ns[k],
                c.instance[k],
                c.model[k] as usize,
            );
            self.t0.get_or_insert(a);
            self.queries += 1;
            self.t1 = self.t1.max(f);
            self.causality &= s >= a && f > s;
            let valid = (i as usize) < self.instances;
            self.conservation &= valid;
            let l = c.latency(k);
            self.count[m] += 1;
            if let Some(sla) = self.sla_ns[m]
                && l <= sla
            {
                self.good[m] += 1;
            }
            self.lat[m].push(l)?;
            self.queue.push(c.queue(k))?;
            if let Some(e) = &mut self.err {
                e.push(c.error(k))?;
                self.late += (f > c.est_done_ns[k]) as u64;
            }
            if !valid {
                continue;
            }
            self.inst_q[i as usize] += 1;
            if let Some(life) = c.lifetimes
                && life
                    .get(i as usize)
                    .is_some_and(|&(born, gone)| born <= s && s <= gone)
            {
                self.in_life += 1;
            }
            let bid = if batched { c.batch_id[k] } else { 0 };
            self.interval(i as usize, a, s, f, bid);
            if let Some(forming) = &mut self.forming {
                let key = (c.model[k], i, s, f);
                let Some(size) = c.batch_size_of(k) else {
                    self.batches_ok = false;
                    continue;
                };
                let e = forming
                    .entry(bid)
                    .or_insert((key.0, key.1, key.2, key.3, 0, 0));
                if (e.0, e.1, e.2, e.3) != key {
                    self.batches_ok = false;
                }
                e.4 += c.batch[k] as u64;
                e.5 += 1;
                if e.4 >= size as u64 {
                    let (m, .., sum, members) = forming.remove(&bid).expect("present");
                    let max = self.max_batch.get(m as usize).copied().unwrap_or(u32::MAX);
                    self.batches_ok &= sum == size as u64 && (sum <= max as u64 || members == 1);
                    self.batches_done += 1;
                }
            }
        }
        if let Some((count, sum, max)) = &mut self.batches {
            for &b in c.retired_batches {
                *count += 1;
                *sum += b as f64;
                *max = (*max).max(b);
            }
        }
        Ok(())
    }

    /// Check the interval [s, f) of batch `bid` on instance `i`, of a query that arrived at `a`,
    /// against the open ones.
    fn interval(&mut self, i: usize, a: u64, s: u64, f: u64, bid: u32) {
        let o = &mut self.open[i];
        // Every later query arrives (so starts) at or after `a`: an interval that ends by then
        // can overlap none of them. (Without overlaps, the earliest start ends first.)
        while o.front().is_some_and(|x| x.1 <= a) {
            o.pop_front();
        }
        // The first interval that starts at or after s.
        let p = if o.back().is_none_or(|x| x.0 < s) {
            o.len()
        } else {
            o.partition_point(|x| x.0 < s)
        };
        if let Some(&(ps, pf, pb)) = o.get(p)
            && ps == s
        {
            // A batch's members share one interval; anything else at the same start overlaps.
            if !(pb == bid && pf == f && self.forming.is_some()) {
                self.overlap_ok = false;
            }
            return;
        }
        if p > 0 && o[p - 1].1 > s {
            self.overlap_ok = false;
        }
        if let Some(&(ns, ..)) = o.get(p)
            && ns < f
        {
            self.overlap_ok = false;
        }
        o.insert(p, (s, f, bid));
    }

    /// The metrics and the invariants. `queries`: the trace's queries (conservation); `rec`
    /// holds the run's counters, busy times and reconfiguration log (not read per query);
    /// `chunks`: without a spill folder, every chunk counted (the values are read back from
    /// them), else none.
    pub fn finish(
        mut self,
        queries: u64,
        models: &[String],
        server: &Server,
        rec: &Records,
        slas: &[Option<ModelSla>],
        chunks: &[Chunk],
    ) -> Result<(Metrics, Invariants)> {
        let nm = models.len();
        let spilled = self.spill.is_some();
        let resolve = |e: &Exact, files: &[PathBuf], value: Value, model: Option<u32>| {
            resolve(e, spilled.then_some(files), chunks, value, model)
        };
        let mut lat_files: Vec<PathBuf> = Vec::new();
        for e in &mut self.lat {
            lat_files.extend(e.close()?);
        }
        let queue_files: Vec<PathBuf> = self.queue.close()?.into_iter().collect();
        let err_files: Vec<PathBuf> = match &mut self.err {
            Some(e) => e.close()?.into_iter().collect(),
            None => Vec::new(),
        };
        let (latency, per_model) = if nm == 1 {
            (
                resolve(&self.lat[0], &lat_files, |c, k| c.latency(k), None)?,
                Vec::new(),
            )
        } else {
            let mut all = Exact::new(None)?;
            for e in &self.lat {
                all.merge_counts(e);
            }
            let per = self
                .lat
                .iter()
                .enumerate()
                .map(|(m, e)| {
                    let files = lat_files.get(m..=m).unwrap_or_default();
                    resolve(e, files, |c, k| c.latency(k), Some(m as u32))
                })
                .collect::<Result<Vec<_>>>()?;
            (resolve(&all, &lat_files, |c, k| c.latency(k), None)?, per)
        };
        let queue = resolve(&self.queue, &queue_files, |c, k| c.queue(k), None)?;
        let estimates = match &self.err {
            Some(e) => Some((resolve(e, &err_files, |c, k| c.error(k), None)?, self.late)),
            None => None,
        };
        let t0 = self.t0.unwrap_or(0);
        // Every query that arrived completed exactly once: a record for each, on an instance
        // the server has.
        let conservation = self.conservation && self.queries == queries;
        let parts = Parts {
            queries: self.queries,
            t0,
            t1: if self.queries == 0 { t0 } else { self.t1 },
            count: self.count,
            good: self.good,
            inst_q: self.inst_q,
            latency,
            per_model,
            queue,
            estimates,
            batches: self.batches,
        };
        let batches = self.forming.as_ref().map(|f| {
            conservation
                && self.batches_ok
                && f.is_empty()
                && self.batches_done == parts.batches.map_or(0, |b| b.0)
        });
        let reconfiguration = rec.reconfig.as_ref().map(|log| {
            conservation
                && rec.starts == queries
                && log.lifetimes.len() == self.instances
                && self.in_life == queries
        });
        let invariants = Invariants {
            conservation,
            causality: self.causality,
            no_overlap: conservation && self.overlap_ok,
            batches,
            reconfiguration,
        };
        Ok((
            super::assemble(parts, models, server, rec, slas),
            invariants,
        ))
    }
}

/// How a distribution's value is read from a row of a chunk.
type Value = for<'a, 'b> fn(&'a Chunk<'b>, usize) -> u64;

/// The exact distribution of `e`'s values, read back from its spill `files`, or without them
/// from `chunks` (`model`: only that model's rows).
fn resolve(
    e: &Exact,
    files: Option<&[PathBuf]>,
    chunks: &[Chunk],
    value: Value,
    model: Option<u32>,
) -> Result<Dist> {
    if let Some(files) = files {
        return e.resolve(files);
    }
    e.resolve_with(|f| {
        for c in chunks {
            for k in 0..c.len() {
                if model.is_none_or(|m| c.model[k] == m) {
                    f(value(c, k));
                }
            }
        }
        Ok(())
    })
}
