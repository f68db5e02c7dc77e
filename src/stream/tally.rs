//! The metrics and the invariant checks of a streamed replay, row group by row group: what
//! [`crate::metrics::compute`] and [`crate::engine::check_invariants`] compute from whole
//! records, with the same definitions, keeping no per-query state but the spill files of
//! [`crate::metrics::exact`] and the intervals still open on each instance.

use crate::metrics::exact::Exact;
use crate::engine::{Invariants, Records, RowGroup};
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics, Parts};
use crate::server::Server;
use crate::service::BatchRule;
use crate::sla::ModelSla;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// A batch seen in part: (model, instance, start, finish) of its first member, its summed
/// batch so far and its members.
type Forming = (u32, u32, u64, u64, u64, u32);

/// Everything accumulated over the row groups.
pub struct Tally {
    sla_ns: Vec<Option<u64>>,
    instances: usize,
    max_batch: Vec<u32>,
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
    /// With batching: batches not yet complete, by id: (model, instance, start, finish, summed
    /// batch, members), and the number completed and found consistent.
    forming: Option<HashMap<u32, Forming>>,
    batches_ok: bool,
    batches_done: u64,
}

impl Tally {
    /// A tally for `models` models with SLAs `slas` on `server`, spilling to `dir`; `rules`: the
    /// batching rules (empty: none); `estimates`: the run is not exact.
    pub fn new(
        dir: &Path,
        models: usize,
        slas: &[Option<ModelSla>],
        server: &Server,
        rules: &[BatchRule],
        estimates: bool,
    ) -> Result<Tally> {
        let spill = |name: String| dir.join(name);
        let lat = (0..models)
            .map(|m| Exact::new(Some(&spill(format!("latency-{m}.u64")))))
            .collect::<Result<Vec<_>>>()?;
        let batched = !rules.is_empty();
        Ok(Tally {
            sla_ns: metrics::sla_ns(slas, models),
            instances: server.instances.len(),
            max_batch: rules.iter().map(|r| r.max_batch).collect(),
            queries: 0,
            t0: None,
            t1: 0,
            count: vec![0; models],
            good: vec![0; models],
            inst_q: vec![0; server.instances.len()],
            lat,
            queue: Exact::new(Some(&spill("queue.u64".into())))?,
            err: if estimates {
                Some(Exact::new(Some(&spill("error.u64".into())))?)
            } else {
                None
            },
            late: 0,
            batches: batched.then_some((0, 0.0, 0)),
            conservation: true,
            causality: true,
            overlap_ok: true,
            open: vec![VecDeque::new(); server.instances.len()],
            forming: batched.then(HashMap::new),
            batches_ok: true,
            batches_done: 0,
        })
    }

    /// Count a row group (they come in order).
    pub fn add(&mut self, g: &RowGroup) -> Result<()> {
        let batched = self.forming.is_some();
        for k in 0..g.len() {
            let (a, s, f, i, m) = (
                g.arrival_ns[k],
                g.start_ns[k],
                g.finish_ns[k],
                g.instance[k],
                g.model[k] as usize,
            );
            self.t0.get_or_insert(a);
            self.queries += 1;
            self.t1 = self.t1.max(f);
            self.causality &= s >= a && f > s;
            let valid = (i as usize) < self.instances;
            self.conservation &= valid;
            // The in-memory figures subtract without checking: a query that never ran is a
            // broken run (its invariants say so); here it counts as 0.
            let l = f.saturating_sub(a);
            self.count[m] += 1;
            if let Some(sla) = self.sla_ns[m]
                && l <= sla
            {
                self.good[m] += 1;
            }
            self.lat[m].push(l)?;
            self.queue.push(s.saturating_sub(a))?;
            if let Some(e) = &mut self.err {
                let est = g.est_done_ns[k];
                e.push(f.abs_diff(est))?;
                self.late += (f > est) as u64;
            }
            if !valid {
                continue;
            }
            self.inst_q[i as usize] += 1;
            let bid = if batched { g.batch_id[k] } else { 0 };
            self.interval(i as usize, s, f, bid);
            if let Some(forming) = &mut self.forming {
                let key = (g.model[k], i, s, f);
                let Some(size) = g.batch_size_of(k) else {
                    self.batches_ok = false;
                    continue;
                };
                let e = forming
                    .entry(bid)
                    .or_insert((key.0, key.1, key.2, key.3, 0, 0));
                if (e.0, e.1, e.2, e.3) != key {
                    self.batches_ok = false;
                }
                e.4 += g.batch[k] as u64;
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
            for &b in &g.retired_batches {
                *count += 1;
                *sum += b as f64;
                *max = (*max).max(b);
            }
        }
        // Every later query arrives (so starts) at or after this group's last arrival: an
        // interval that ends by then can overlap none of them.
        if let Some(&a) = g.arrival_ns.last() {
            for o in &mut self.open {
                while o.front().is_some_and(|x| x.1 <= a) {
                    o.pop_front();
                }
            }
        }
        Ok(())
    }

    /// Check the interval [s, f) of batch `bid` on instance `i` against the open ones.
    fn interval(&mut self, i: usize, s: u64, f: u64, bid: u32) {
        let o = &mut self.open[i];
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

    /// The metrics and the invariants, `rec` holding the run's counters and busy times;
    /// `queries`: the trace's queries (conservation).
    pub fn finish(
        mut self,
        queries: u64,
        models: &[String],
        server: &Server,
        rec: &Records,
        slas: &[Option<ModelSla>],
    ) -> Result<(Metrics, Invariants)> {
        let mut lat_files: Vec<PathBuf> = Vec::new();
        for e in &mut self.lat {
            lat_files.extend(e.close()?);
        }
        let queue_files: Vec<PathBuf> = self.queue.close()?.into_iter().collect();
        let err_files: Vec<PathBuf> = match &mut self.err {
            Some(e) => e.close()?.into_iter().collect(),
            None => Vec::new(),
        };
        let nm = models.len();
        let (latency, per_model) = if nm == 1 {
            (self.lat[0].resolve(&lat_files)?, Vec::new())
        } else {
            let mut all = Exact::new(None)?;
            for e in &self.lat {
                all.merge_counts(e);
            }
            let per = self
                .lat
                .iter()
                .zip(&lat_files)
                .map(|(e, f)| e.resolve(std::slice::from_ref(f)))
                .collect::<Result<Vec<_>>>()?;
            (all.resolve(&lat_files)?, per)
        };
        let queue = self.queue.resolve(&queue_files)?;
        let estimates = match &self.err {
            Some(e) => Some((e.resolve(&err_files)?, self.late)),
            None => None,
        };
        let t0 = self.t0.unwrap_or(0);
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
        if self.queries != queries {
            return Err(Error::Internal(format!(
                "streamed replay: {} records for {queries} queries",
                self.queries
            )));
        }
        let conservation = self.conservation;
        let batches = self.forming.as_ref().map(|f| {
            conservation
                && self.batches_ok
                && f.is_empty()
                && self.batches_done == parts.batches.map_or(0, |b| b.0)
        });
        let invariants = Invariants {
            conservation,
            causality: self.causality,
            no_overlap: conservation && self.overlap_ok,
            batches,
            reconfiguration: None,
        };
        Ok((
            metrics::assemble(parts, models, server, rec, slas),
            invariants,
        ))
    }
}
