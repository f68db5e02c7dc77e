//! What an instance does with its work: the implementations of the loop's seam,
//! [`InstanceModel`] (defined with the loop it serves, in [`super::sim`]). The loop ([`super::sim`]) decides *when* things happen and asks the
//! scheduler *where* a query goes; the instance model decides what the instance does with a
//! query sent to it and what it runs next when its running work ends.
//!
//! Today's instances run a *batch at a time*, in two models: [`OneAtATime`] (no batching: every
//! query is a batch of its own) and [`Batching`] (a Triton-style dynamic batcher in front of
//! every instance, [`crate::server::batcher`]). Another kind of instance (a replica that steps
//! a changing batch of requests) is another implementation of the trait, run by the same loop.

use super::rows::Rows;
use super::sim::{InstanceModel, Sim, finish};
use crate::error::{Error, Result};
use crate::policy::Scheduler;
use crate::server::ServerState;
use crate::server::batcher::{self, Cut};

/// An instance that runs one query at a time (no batching, the default): a query sent to an
/// idle instance starts at once, else waits in its local queue; a freed instance starts the
/// head of its queue or a query the scheduler hands it.
pub(super) struct OneAtATime;

impl InstanceModel for OneAtATime {
    const BATCHED: bool = false;

    #[inline(always)]
    fn dispatched<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        q: u32,
        i: usize,
        now: u64,
        _: &mut dyn Scheduler,
    ) -> Result<()> {
        if sim.fleet.st.is_idle(i) {
            sim.start_one(q, i, now)
        } else {
            let est = sim.est(q, i);
            sim.fleet.st.push_queue(i, q, est);
            Ok(())
        }
    }

    #[inline(always)]
    fn free<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()> {
        match sim.next_head(i, now, s)? {
            Some(q) => sim.start_one(q, i, now),
            None => Ok(()),
        }
    }

    fn timer<'a, T: Rows<'a>>(_: &mut Sim<'a, T, Self>, i: usize, _: u64) -> Result<()> {
        Err(Error::Internal(format!(
            "a timer fired for instance {i}, which runs one query at a time and sets none"
        )))
    }

    #[inline(always)]
    fn timer_stands(&self, _: &ServerState, _: usize, _: u64) -> bool {
        false
    }
}

/// An instance behind a dynamic batcher (`--batching`; the rules are
/// [`crate::server::batcher`]'s): a freed instance opens a batch with a head, queries of its
/// model join, and the batch starts when full or at its deadline (a timer).
#[derive(Default)]
pub(super) struct Batching {
    /// The queries a scheduler hands a forming batch (a buffer reused from batch to batch).
    scratch: Vec<u32>,
}

impl InstanceModel for Batching {
    const BATCHED: bool = true;

    /// Join a forming batch, open one on an idle instance, or queue.
    #[inline(always)]
    fn dispatched<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        q: u32,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()> {
        let (m, b) = (sim.model_at(q), sim.batch_at(q));
        let rule = sim.rule_on(m, i);
        let joins = sim
            .fleet
            .st
            .forming(i)
            .is_some_and(|(fm, sum)| batcher::admits(fm, sum, m, b, rule));
        if joins {
            sim.join(i, q);
            if sim
                .fleet
                .st
                .forming(i)
                .is_some_and(|f| f.1 >= rule.max_batch)
            {
                sim.start_batch(i, now)?;
            }
        } else if sim.fleet.st.is_idle(i) {
            sim.fleet.st.set_not_idle(i);
            sim.form(i, q, now, s)?;
        } else {
            let est = sim.est(q, i);
            sim.fleet.st.push_queue(i, q, est);
        }
        Ok(())
    }

    /// Open the instance's next batch, or leave it idle.
    fn free<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()> {
        match sim.next_head(i, now, s)? {
            Some(head) => sim.form(i, head, now, s),
            None => Ok(()),
        }
    }

    /// The forming batch's deadline: it starts.
    fn timer<'a, T: Rows<'a>>(sim: &mut Sim<'a, T, Self>, i: usize, now: u64) -> Result<()> {
        sim.start_batch(i, now)
    }

    #[inline(always)]
    fn timer_stands(&self, st: &ServerState, i: usize, t: u64) -> bool {
        st.deadline_is(i, t)
    }
}

impl<'a, T: Rows<'a>> Sim<'a, T, OneAtATime> {
    /// Start query `q` alone on instance `i` at `now`.
    #[inline]
    fn start_one(&mut self, q: u32, i: usize, now: u64) -> Result<()> {
        let qi = self.slot(q);
        let (m, b) = (self.trace.model[qi], self.trace.batch[qi]);
        let slice = self.fleet.slices[i];
        let (est, ex) = self.times.table.get(m, slice, b);
        let s = self
            .times
            .true_service(est, m, slice, b, q, &mut self.rec.noise_fallback);
        let end = finish(now, s, est)?;
        self.rec.extrapolated += ex as u64;
        let g = self.fleet.gid[i];
        self.rec.start_ns[qi] = now;
        self.rec.finish_ns[qi] = end;
        self.rec.instance[qi] = g;
        self.rec.busy_ns[g as usize] += s;
        self.rec.starts += 1;
        self.fleet.st.start_running(i, now + est);
        if self.track_est && self.rec.est_done_ns[qi] == u64::MAX {
            self.rec.est_done_ns[qi] = now + est;
        }
        self.agenda.done_at(end, g);
        Ok(())
    }
}

impl<'a, T: Rows<'a>> Sim<'a, T, Batching> {
    /// The batching rule of model `m` on instance `i`.
    #[inline]
    fn rule_on(&self, m: u32, i: usize) -> crate::service::BatchRule {
        self.fleet
            .st
            .rule_on(m, self.fleet.slices[i], self.times.table)
            .expect("a batching instance has a rule for every model")
    }

    /// Add query `q` to the forming batch of `i`.
    #[inline]
    fn join(&mut self, i: usize, q: u32) {
        self.fleet.st.join(i, q, self.batch_at(q));
        // Mark it taken, so a scheduler cannot hand it out twice.
        let k = self.slot(q);
        self.rec.instance[k] = self.fleet.gid[i];
    }

    /// Open a batch on `i` (not idle, nothing running) with `head`, let queries join, and
    /// start it or wait for its deadline.
    fn form(&mut self, i: usize, head: u32, now: u64, scheduler: &mut dyn Scheduler) -> Result<()> {
        let (m, b) = (self.model_at(head), self.batch_at(head));
        let rule = self.rule_on(m, i);
        let oldest = self.arrival_at(head);
        self.fleet.st.open_batch(i, m, oldest + rule.max_delay_ns);
        self.join(i, head);
        // Join from the local queue: the head's model in order, while the sum fits.
        let mut cut = Cut::open(m, b, rule);
        let (service, slice, g) = (self.times.table, self.fleet.slices[i], self.fleet.gid[i]);
        let trace = &*self.trace;
        let base = if T::WINDOW { self.rec.base } else { 0 };
        let instance = &mut self.rec.instance;
        self.fleet.st.cut_queue(
            i,
            &mut cut,
            |q| {
                (
                    trace.model[q as usize - base],
                    trace.batch[q as usize - base],
                )
            },
            |q| {
                let k = q as usize - base;
                service.get(trace.model[k], slice, trace.batch[k]).0
            },
            |q| instance[q as usize - base] = g,
        );
        // Join held queries the scheduler hands over.
        if !cut.full() {
            let mut got = std::mem::take(&mut self.inst.scratch);
            got.clear();
            scheduler.join_batch(i, m, cut.room(), &self.view(now), &mut got);
            for &q in &got {
                self.check_handed(q, now)?;
                let (qm, qb) = (self.model_at(q), self.batch_at(q));
                if !batcher::admits(m, cut.sum, qm, qb, rule) {
                    return Err(Error::Internal(format!(
                        "scheduler joined query {q} (model {qm}, batch {qb}) to a batch of model {m} with room {}",
                        cut.room()
                    )));
                }
                cut.sum += qb;
                self.join(i, q);
            }
            self.inst.scratch = got;
        }
        let start = batcher::start_time(now, cut.full(), oldest, rule);
        if start <= now {
            self.start_batch(i, now)?;
        } else {
            self.fleet.st.wait_for_deadline(i);
            self.agenda.timer_at(start, self.fleet.gid[i]);
        }
        Ok(())
    }

    /// Start the forming batch of `i` at `now`.
    fn start_batch(&mut self, i: usize, now: u64) -> Result<()> {
        let (m, sum, members) = self.fleet.st.take_batch(i);
        let slice = self.fleet.slices[i];
        let (est, ex) = self.times.table.get(m, slice, sum);
        let s =
            self.times
                .true_service(est, m, slice, sum, members[0], &mut self.rec.noise_fallback);
        let end = finish(now, s, est)?;
        let bid = self.rec.batch_base + self.rec.batch_size.len() as u32;
        let g = self.fleet.gid[i];
        self.rec.batch_size.push(sum);
        self.rec.starts += members.len() as u64;
        let base = if T::WINDOW { self.rec.base } else { 0 };
        for &q in &members {
            let q = q as usize - base;
            self.rec.start_ns[q] = now;
            self.rec.finish_ns[q] = end;
            self.rec.instance[q] = g;
            self.rec.batch_id[q] = bid;
            if self.track_est && self.rec.est_done_ns[q] == u64::MAX {
                self.rec.est_done_ns[q] = now + est;
            }
        }
        self.rec.extrapolated += if ex { members.len() as u64 } else { 0 };
        self.rec.busy_ns[g as usize] += s;
        self.fleet.st.start_running(i, now + est);
        self.agenda.done_at(end, g);
        self.fleet.st.recycle(i, members);
        Ok(())
    }
}
