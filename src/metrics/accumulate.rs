//! Every per-query figure of a replay and every end-of-run invariant, accumulated chunk by
//! chunk ([`Accumulator`]): an in-memory replay hands its whole records as one [`Chunk`]
//! ([`super::compute`]), a streamed replay ([`crate::drive::stream`]) each row group as it is cut. Each
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

/// Everything accumulated over the chunks: the counts and distributions of the metrics, and
/// the state of every invariant check.
pub struct Accumulator {
    /// Whether the distributions' values are spilled to files (a streamed replay); otherwise
    /// they are read back from the chunks, which the caller still holds.
    spilled: bool,
    counts: Counts,
    checks: Checks,
}

/// The metrics' half: counts and distributions.
struct Counts {
    sla_ns: Vec<Option<u64>>,
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
}

/// The invariants' half.
struct Checks {
    instances: usize,
    max_batch: Vec<u32>,
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

/// Chunks of at least this many rows are counted by both halves side by side.
const SIDE_BY_SIDE: usize = 1 << 20;

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
        let dist = |name: String| Exact::new(spill.map(|dir| dir.join(name)).as_deref());
        let lat = (0..models)
            .map(|m| dist(format!("latency-{m}.u64")))
            .collect::<Result<Vec<_>>>()?;
        let batched = !rules.is_empty();
        let ni = server.instances.len();
        let counts = Counts {
            sla_ns: super::sla_ns(slas, models),
            queries: 0,
            t0: None,
            t1: 0,
            count: vec![0; models],
            good: vec![0; models],
            inst_q: vec![0; ni],
            lat,
            queue: dist("queue.u64".into())?,
            err: if estimates {
                Some(dist("error.u64".into())?)
            } else {
                None
            },
            late: 0,
            batches: batched.then_some((0, 0.0, 0)),
        };
        let checks = Checks {
            instances: ni,
            max_batch: rules.iter().map(|r| r.max_batch).collect(),
            conservation: true,
            causality: true,
            overlap_ok: true,
            open: vec![VecDeque::new(); ni],
            forming: batched.then(HashMap::new),
            batches_ok: true,
            batches_done: 0,
            in_life: 0,
        };
        Ok(Accumulator {
            spilled: spill.is_some(),
            counts,
            checks,
        })
    }

    /// Count a chunk (they come in trace order).
    pub fn add(&mut self, c: &Chunk) -> Result<()> {
        let n = c.len();
        let fits = |len: usize, wanted: bool| len == if wanted { n } else { 0 };
        if !(fits(c.model.len(), true)
            && fits(c.batch.len(), true)
            && fits(c.start_ns.len(), true)
            && fits(c.finish_ns.len(), true)
            && fits(c.instance.len(), true)
            && fits(c.batch_id.len(), self.checks.forming.is_some())
            && fits(c.est_done_ns.len(), self.counts.err.is_some()))
        {
            return Err(Error::Internal(format!(
                "metrics: the records of {n} queries do not match them in length"
            )));
        }
        let (counts, checks) = (&mut self.counts, &mut self.checks);
        if n >= SIDE_BY_SIDE {
            rayon::join(|| counts.add(c), || checks.add(c)).0
        } else {
            checks.add(c);
            counts.add(c)
        }
    }
}

impl Counts {
    fn add(&mut self, c: &Chunk) -> Result<()> {
        for k in 0..c.len() {
            let (a, f, m) = (c.arrival_ns[k], c.finish_ns[k], c.model[k] as usize);
            self.t0.get_or_insert(a);
            self.queries += 1;
            self.t1 = self.t1.max(f);
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
            if let Some(q) = self.inst_q.get_mut(c.instance[k] as usize) {
                *q += 1;
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
}

impl Checks {
    fn add(&mut self, c: &Chunk) {
        let batched = self.forming.is_some();
        for k in 0..c.len() {
            let (a, s, f, i) = (
                c.arrival_ns[k],
                c.start_ns[k],
                c.finish_ns[k],
                c.instance[k],
            );
            self.causality &= s >= a && f > s;
            let valid = (i as usize) < self.instances;
            self.conservation &= valid;
            if !valid {
                continue;
            }
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
        if p == o.len() {
            o.push_back((s, f, bid));
            return;
        }
        if o[p].0 < f {
            self.overlap_ok = false;
        }
        o.insert(p, (s, f, bid));
    }
}

impl Accumulator {
    /// The metrics and the invariants. `queries`: the trace's queries (conservation); `rec`
    /// holds the run's counters, busy times and reconfiguration log (not read per query);
    /// `chunks`: without a spill folder, every chunk counted (the values are read back from
    /// them), else none.
    pub fn finish(
        self,
        queries: u64,
        models: &[String],
        server: &Server,
        rec: &Records,
        slas: &[Option<ModelSla>],
        chunks: &[Chunk],
    ) -> Result<(Metrics, Invariants)> {
        let Accumulator {
            spilled,
            counts: mut n,
            checks: k,
        } = self;
        let nm = models.len();
        let resolve = |e: &Exact, files: &[PathBuf], value: Value, model: Option<u32>| {
            resolve(e, spilled.then_some(files), chunks, value, model)
        };
        let mut lat_files: Vec<PathBuf> = Vec::new();
        for e in &mut n.lat {
            lat_files.extend(e.close()?);
        }
        let queue_files: Vec<PathBuf> = n.queue.close()?.into_iter().collect();
        let err_files: Vec<PathBuf> = match &mut n.err {
            Some(e) => e.close()?.into_iter().collect(),
            None => Vec::new(),
        };
        // The latencies, and the other distributions, each a pass (or more) over the values:
        // side by side.
        let (lat, rest) = rayon::join(
            || -> Result<(Dist, Vec<Dist>)> {
                if nm == 1 {
                    let all = resolve(&n.lat[0], &lat_files, |c, k| c.latency(k), None)?;
                    return Ok((all, Vec::new()));
                }
                let mut all = Exact::new(None)?;
                for e in &n.lat {
                    all.merge_counts(e);
                }
                let per = n
                    .lat
                    .iter()
                    .enumerate()
                    .map(|(m, e)| {
                        let files = lat_files.get(m..=m).unwrap_or_default();
                        resolve(e, files, |c, k| c.latency(k), Some(m as u32))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((resolve(&all, &lat_files, |c, k| c.latency(k), None)?, per))
            },
            || -> Result<(Dist, Option<Dist>)> {
                let queue = resolve(&n.queue, &queue_files, |c, k| c.queue(k), None)?;
                let err = match &n.err {
                    Some(e) => Some(resolve(e, &err_files, |c, k| c.error(k), None)?),
                    None => None,
                };
                Ok((queue, err))
            },
        );
        let ((latency, per_model), (queue, err)) = (lat?, rest?);
        let t0 = n.t0.unwrap_or(0);
        // Every query that arrived completed exactly once: a record for each, on an instance
        // the server has.
        let conservation = k.conservation && n.queries == queries;
        let parts = Parts {
            queries: n.queries,
            t0,
            t1: if n.queries == 0 { t0 } else { n.t1 },
            count: n.count,
            good: n.good,
            inst_q: n.inst_q,
            latency,
            per_model,
            queue,
            estimates: err.map(|e| (e, n.late)),
            batches: n.batches,
        };
        let batches = k.forming.as_ref().map(|f| {
            conservation
                && k.batches_ok
                && f.is_empty()
                && k.batches_done == parts.batches.map_or(0, |b| b.0)
        });
        let reconfiguration = rec.reconfig.as_ref().map(|log| {
            conservation
                && rec.starts == queries
                && log.lifetimes.len() == k.instances
                && k.in_life == queries
        });
        let invariants = Invariants {
            conservation,
            causality: k.causality,
            no_overlap: conservation && k.overlap_ok,
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
        let mut buf = [0u64; 4096];
        let mut have = 0;
        for c in chunks {
            for k in 0..c.len() {
                if model.is_none_or(|m| c.model[k] == m) {
                    buf[have] = value(c, k);
                    have += 1;
                    if have == buf.len() {
                        f(&buf);
                        have = 0;
                    }
                }
            }
        }
        f(&buf[..have]);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuSpec;

    const MS: u64 = 1_000_000;

    /// One GPU of two 1g.10gb instances.
    fn server() -> Server {
        let gpu = GpuSpec::by_name("A100-80GB").unwrap();
        let layout = gpu.parse_layout("1g.10gb+1g.10gb").unwrap();
        Server::new(gpu.clone(), vec![layout]).unwrap()
    }

    /// Rows `lo..hi` of `c` as a chunk of their own (batch sizes and their base unchanged: the
    /// rows look their batches up there); `last`: the chunk retires every batch.
    fn part<'a>(c: &Chunk<'a>, lo: usize, hi: usize, last: bool) -> Chunk<'a> {
        let cut = |v: &'a [u32]| if v.is_empty() { v } else { &v[lo..hi] };
        Chunk {
            arrival_ns: &c.arrival_ns[lo..hi],
            model: &c.model[lo..hi],
            batch: &c.batch[lo..hi],
            start_ns: &c.start_ns[lo..hi],
            finish_ns: &c.finish_ns[lo..hi],
            instance: &c.instance[lo..hi],
            batch_id: cut(c.batch_id),
            est_done_ns: if c.est_done_ns.is_empty() {
                c.est_done_ns
            } else {
                &c.est_done_ns[lo..hi]
            },
            retired_batches: if last { c.retired_batches } else { &[] },
            ..*c
        }
    }

    /// The metrics and invariants of `trace` and `rec` counted in chunks cut at `cuts` (none:
    /// one chunk, as an in-memory replay counts them).
    fn count(
        trace: &Trace,
        rec: &Records,
        slas: &[Option<ModelSla>],
        rules: &[BatchRule],
        cuts: &[usize],
    ) -> (Metrics, Invariants) {
        let s = server();
        if cuts.is_empty() {
            return super::super::compute(trace, &s, rec, slas, rules).unwrap();
        }
        let whole = Chunk::of_replay(trace, rec);
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(trace.len());
        let chunks: Vec<Chunk> = bounds
            .windows(2)
            .map(|w| part(&whole, w[0], w[1], w[1] == trace.len()))
            .collect();
        let estimates = !rec.est_done_ns.is_empty();
        let nm = trace.models.len();
        let mut acc = Accumulator::new(nm, slas, &s, rules, estimates, None).unwrap();
        for c in &chunks {
            acc.add(c).unwrap();
        }
        acc.finish(trace.len() as u64, &trace.models, &s, rec, slas, &chunks)
            .unwrap()
    }

    /// Six queries of models a (SLA 10 ms) and b (none) on two instances, every figure by
    /// hand.
    fn six() -> (Trace, Records, Vec<Option<ModelSla>>) {
        let trace = Trace::from_rows([
            (0, "a", 1),
            (MS, "b", 2),
            (2 * MS, "a", 1),
            (3 * MS, "a", 1),
            (5 * MS, "b", 1),
            (6 * MS, "a", 1),
        ]);
        // Instance 0: [0, 4) [4, 9) [9, 10) ms; instance 1: [1, 3) [3, 15) [15, 16) ms.
        let rec = Records {
            start_ns: [0, 1, 4, 3, 9, 15].map(|x| x * MS).to_vec(),
            finish_ns: [4, 3, 9, 15, 10, 16].map(|x| x * MS).to_vec(),
            instance: vec![0, 1, 0, 1, 0, 1],
            busy_ns: vec![10 * MS, 15 * MS],
            starts: 6,
            ..Records::default()
        };
        let sla = ModelSla {
            model: "a".into(),
            sla_ms: 10.0,
            source: "test".into(),
            by_rule: false,
        };
        (trace, rec, vec![Some(sla), None])
    }

    #[test]
    fn counts_by_hand_in_one_chunk_and_in_several() {
        let (trace, rec, slas) = six();
        for cuts in [&[][..], &[2, 5], &[1, 2, 3, 4, 5]] {
            let (m, inv) = count(&trace, &rec, &slas, &[], cuts);
            let h = &m.headline;
            assert!(inv.all_ok(), "{cuts:?}: {inv:?}");
            assert_eq!(inv.batches, None);
            assert_eq!(h.queries, 6);
            // Window 0 to 16 ms.
            assert_eq!(h.duration_s, 0.016);
            assert_eq!(h.throughput_qps, 6.0 / 0.016);
            // Latencies 4 2 7 12 5 10 ms: sorted 2 4 5 7 10 12; nearest rank ceil(p n).
            let l = &h.latency;
            assert!((l.mean_ms - 40.0 / 6.0).abs() < 1e-12, "{cuts:?}");
            assert_eq!(
                (l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms),
                (5.0, 12.0, 12.0, 12.0),
                "{cuts:?}"
            );
            // Queueing 0 0 2 0 4 9 ms: sorted 0 0 0 2 4 9.
            assert_eq!(
                (m.queue.p50_ms, m.queue.p90_ms, m.queue.max_ms),
                (0.0, 9.0, 9.0)
            );
            assert_eq!(h.queue_mean_ms, 2.5);
            // Model a: 4 7 12 10 ms, 3 within 10 ms; b has no SLA.
            let a = &m.per_model["a"];
            assert_eq!(
                (a.queries, a.latency.p50_ms, a.latency.max_ms),
                (4, 7.0, 12.0)
            );
            assert_eq!(a.latency.mean_ms, 8.25);
            assert_eq!(a.sla_violation_rate, Some(0.25));
            assert_eq!(a.goodput_qps, Some(3.0 / 0.016));
            let b = &m.per_model["b"];
            assert_eq!(
                (b.queries, b.latency.p50_ms, b.latency.max_ms),
                (2, 2.0, 5.0)
            );
            assert_eq!(b.sla_violation_rate, None);
            assert_eq!(h.sla_violation_rate, Some(0.25));
            assert_eq!(h.goodput_qps, None);
            let q: Vec<u64> = m.instances.iter().map(|i| i.queries).collect();
            assert_eq!(q, [3, 3]);
            assert_eq!(m.instances[0].busy_fraction, 10.0 / 16.0);
        }
    }

    #[test]
    fn a_planted_overlap_across_a_chunk_boundary_is_caught() {
        let (trace, mut rec, slas) = six();
        // Query 2 starts at 3 ms on instance 0, where query 0 runs until 4 ms: query 0 is in the
        // first chunk, query 2 in the second. Query 1 (instance 1) lands between them.
        rec.start_ns[2] = 3 * MS;
        for cuts in [&[][..], &[2], &[1, 2], &[1]] {
            let (_, inv) = count(&trace, &rec, &slas, &[], cuts);
            assert!(!inv.no_overlap, "{cuts:?}");
            assert!(inv.conservation && inv.causality, "{cuts:?}");
        }
        // At 4 ms it follows query 0 exactly: no overlap.
        rec.start_ns[2] = 4 * MS;
        assert!(count(&trace, &rec, &slas, &[], &[2]).1.no_overlap);
        // Query 5 (arrives at 6 ms) starts at 14 ms on instance 1, where query 3 (arrived at 3
        // ms, first chunk) runs until 15 ms; queries of later chunks touch instance 0 only.
        let (_, mut rec, _) = six();
        rec.start_ns[5] = 14 * MS;
        for cuts in [&[][..], &[4], &[4, 5]] {
            assert!(
                !count(&trace, &rec, &slas, &[], cuts).1.no_overlap,
                "{cuts:?}"
            );
        }
    }

    #[test]
    fn planted_conservation_and_causality_violations() {
        let (trace, rec, slas) = six();
        let mut off = rec.clone();
        off.instance[3] = 2; // the server has instances 0 and 1
        let (_, inv) = count(&trace, &off, &slas, &[], &[3]);
        assert!(!inv.conservation && !inv.no_overlap && inv.causality);
        let mut early = rec.clone();
        early.start_ns[4] = 4 * MS; // before its arrival at 5 ms
        let (_, inv) = count(&trace, &early, &slas, &[], &[4]);
        assert!(inv.conservation && !inv.causality);
        // A record missing: the counted queries are not the trace's.
        let s = server();
        let c = Chunk::of_replay(&trace, &rec);
        let five = part(&c, 0, 5, true);
        let mut acc = Accumulator::new(2, &slas, &s, &[], false, None).unwrap();
        acc.add(&five).unwrap();
        let (m, inv) = acc
            .finish(6, &trace.models, &s, &rec, &slas, &[five])
            .unwrap();
        assert!(!inv.conservation && inv.causality);
        assert_eq!(m.headline.queries, 5);
    }

    /// Three queries of one model in two batches (one of them split across the chunks).
    fn batched() -> (Trace, Records) {
        let trace = Trace::from_rows([(0, "m", 1), (1, "m", 2), (5, "m", 1)]);
        let rec = Records {
            start_ns: vec![10, 10, 5],
            finish_ns: vec![20, 20, 30],
            instance: vec![0, 0, 1],
            busy_ns: vec![10, 25],
            batch_id: vec![1, 1, 0],
            batch_size: vec![1, 3],
            est_done_ns: vec![18, 20, 35],
            starts: 3,
            ..Records::default()
        };
        (trace, rec)
    }

    #[test]
    fn batches_by_hand_in_one_chunk_and_in_two() {
        let (trace, rec) = batched();
        let rules = [BatchRule {
            max_batch: 4,
            max_delay_ns: 10,
        }];
        for cuts in [&[][..], &[1]] {
            let (m, inv) = count(&trace, &rec, &[None], &rules, cuts);
            assert!(
                inv.all_ok() && inv.batches == Some(true),
                "{cuts:?}: {inv:?}"
            );
            let b = m.batches.unwrap();
            assert_eq!(
                (b.batches, b.mean_queries, b.mean_size, b.max_size),
                (2, 1.5, 2.0, 3)
            );
            // Errors |20 - 18|, 0, |30 - 35| ns; one query later than estimated.
            let e = m.estimates.unwrap();
            assert_eq!((e.abs_error_p50_ms, e.abs_error_max_ms), (2e-6, 5e-6));
            assert_eq!(e.late_fraction, 1.0 / 3.0);
            // A member that finished apart from its batch; a batch above max_batch.
            let mut apart = rec.clone();
            apart.finish_ns[1] = 21;
            assert_eq!(
                count(&trace, &apart, &[None], &rules, cuts).1.batches,
                Some(false)
            );
            let small = [BatchRule {
                max_batch: 2,
                max_delay_ns: 10,
            }];
            assert_eq!(
                count(&trace, &rec, &[None], &small, cuts).1.batches,
                Some(false)
            );
        }
    }
}
