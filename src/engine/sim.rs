//! The event loop itself (see the module docs of [`crate::engine`] for its semantics): one
//! loop for every replay, whole or streamed, fixed or reconfigurable, generic over how the
//! trace is held ([`Rows`]) and over what an instance does with its work ([`InstanceModel`]).
//!
//! The loop's state is split by concern: the trace and the cursor into it, the [`Fleet`] (the
//! server as it stands, the engine's state of each instance, instance ids), the [`Times`]
//! (profiled and true service times), the [`Agenda`] of pending events, the [`Records`], the
//! instance model's own state, and a reconfigurable run's repartitioner state.

use super::Records;
use super::event::{Agenda, Event};
use super::repartition::Reconf;
use super::rows::Rows;
use crate::error::{Error, Result};
use crate::policy::{Dispatch, QueryInfo, Scheduler};
use crate::server::{Instance, Server, ServerState, ServerView};
use crate::service::{BatchRule, Noise, NoiseStream, ServiceModel, ServiceTable};
use crate::trace::Trace;

/// `Records::instance` of a query not yet started (or joined to a batch).
pub(super) const UNSET: u32 = u32::MAX;

/// [`Fleet::cur_of`] of an instance that no longer exists.
pub(super) const GONE: u32 = u32::MAX;

/// The end of work started at `now` that runs `s` ns (profiled `est`): an error instead of an
/// overflow when simulated time passes 2^63 ns (noise or queues that long mean the inputs are
/// not a replay of anything).
#[inline(always)]
pub(super) fn finish(now: u64, s: u64, est: u64) -> Result<u64> {
    match now.checked_add(s.max(est)) {
        Some(t) if t < 1 << 63 => Ok(now + s),
        _ => Err(overflow(now, s)),
    }
}

#[cold]
#[inline(never)]
fn overflow(now: u64, s: u64) -> Error {
    Error::Usage(format!(
        "simulated time overflows 2^63 ns (a batch of {s} ns started at {now} ns): the service times (noise, extrapolated batches) or the load are beyond what can be replayed"
    ))
}

/// What an instance does with its work. The loop calls [`Self::dispatched`] when the
/// scheduler sends a query to instance `i`, [`Self::free`] when the work `i` runs ends (an
/// [`super::event::Event::Done`] the model scheduled with [`super::event::Agenda::done_at`]),
/// and [`Self::timer`] when a timer it set fires. A model may keep state of its own in the
/// loop (`Sim::inst`); the instances' queues and forming batches that the schedulers' view
/// reads live in the [`ServerState`].
pub(super) trait InstanceModel: Sized {
    /// Whether the records keep a batch id per query.
    const BATCHED: bool;

    /// Query `q`, sent by the scheduler to instance `i` at `now`: start it, queue it, or let
    /// it join work being formed.
    fn dispatched<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        q: u32,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()>;

    /// Instance `i` has nothing running (its work ended, or it was just created or left
    /// idle): start what it runs next, or leave it idle.
    fn free<'a, T: Rows<'a>>(
        sim: &mut Sim<'a, T, Self>,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<()>;

    /// A timer set for instance `i` fires at `now` (one that still stands).
    fn timer<'a, T: Rows<'a>>(sim: &mut Sim<'a, T, Self>, i: usize, now: u64) -> Result<()>;

    /// Whether a timer set for instance `i` at `t` still stands.
    fn timer_stands(&self, st: &ServerState, i: usize, t: u64) -> bool;
}

/// How the loop reaches the scheduler: borrowed for a fixed server, owned (and replaced at each
/// reconfiguration) for a reconfigurable one.
pub(super) trait Sched {
    fn get(&mut self) -> &mut dyn Scheduler;
    /// Replace the scheduler (a reconfigurable run only).
    fn replace(&mut self, s: Box<dyn Scheduler>);
}

impl Sched for &mut dyn Scheduler {
    #[inline(always)]
    fn get(&mut self) -> &mut dyn Scheduler {
        &mut **self
    }
    fn replace(&mut self, _: Box<dyn Scheduler>) {
        unreachable!("the scheduler of a server that never changes is never replaced")
    }
}

impl Sched for Box<dyn Scheduler> {
    #[inline(always)]
    fn get(&mut self) -> &mut dyn Scheduler {
        self.as_mut()
    }
    fn replace(&mut self, s: Box<dyn Scheduler>) {
        *self = s;
    }
}

/// Where a run of the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Every query was replayed.
    Done,
    /// The next arrival is beyond the trace's loaded rows and more may come (a streamed
    /// replay): append them, then run again.
    NeedRows,
}

/// The server as it stands: its layout, the engine's state of every current instance, and
/// the identities of every instance that ever existed.
pub(super) struct Fleet {
    /// The server (changes only in a reconfigurable run).
    pub(super) server: Server,
    /// The slice of every current instance.
    pub(super) slices: Vec<usize>,
    pub(super) st: ServerState,
    /// Instance ids: every instance that ever existed, in creation order (the instances of
    /// the initial server first, in their order); `Records::instance` and `busy_ns` use them.
    pub(super) incarnations: Vec<Instance>,
    /// Current index -> instance id, and instance id -> current index ([`GONE`]).
    pub(super) gid: Vec<u32>,
    pub(super) cur_of: Vec<u32>,
}

impl Fleet {
    fn new(server: &Server, rules: &[BatchRule]) -> Fleet {
        let ni = server.instances.len();
        Fleet {
            server: server.clone(),
            slices: server.instances.iter().map(|i| i.slice).collect(),
            st: ServerState::with_rules(ni, rules.to_vec()),
            incarnations: server.instances.clone(),
            gid: (0..ni as u32).collect(),
            cur_of: (0..ni as u32).collect(),
        }
    }
}

/// Service times: profiled (the table, what schedulers see) and true (the noise drawn on
/// them, one seeded stream per run).
pub(super) struct Times<'a> {
    pub(super) table: &'a ServiceTable,
    noise: Noise,
    stream: NoiseStream,
}

impl Times<'_> {
    /// The true service time of work whose profiled latency is `est` (model `m` on `slice`,
    /// summed batch `sum`, drawn for the query at global position `head`); `fallback` counts
    /// draws that used `profile:cv=X`'s fallback.
    #[inline]
    pub(super) fn true_service(
        &mut self,
        est: u64,
        m: u32,
        slice: usize,
        sum: u32,
        head: u32,
        fallback: &mut u64,
    ) -> u64 {
        match self.noise {
            Noise::None => est,
            Noise::LogNormal { cv } => self.stream.draw(est, cv, head),
            Noise::Profile { fallback_cv } => {
                let cv = match self.table.cv(m, slice, sum) {
                    Some(cv) => cv,
                    None => {
                        *fallback += 1;
                        // Checked before the replay: without a fallback every std exists.
                        fallback_cv.unwrap_or(0.0)
                    }
                };
                self.stream.draw(est, cv, head)
            }
        }
    }
}

pub(super) struct Sim<'a, T: Rows<'a>, M: InstanceModel> {
    /// The trace: the whole trace, or a streamed window of it ([`Rows`]).
    pub(super) trace: T,
    /// The global position of the next arrival, and the clock.
    pub(super) next: usize,
    pub(super) now: u64,
    /// Whether rows may still be appended after the trace's last (a streamed replay).
    pub(super) more: bool,
    pub(super) fleet: Fleet,
    pub(super) times: Times<'a>,
    pub(super) agenda: Agenda,
    pub(super) rec: Records,
    /// Whether the run is not exact (records each query's estimated completion).
    pub(super) track_est: bool,
    /// What an instance does with its work, and its state.
    pub(super) inst: M,
    /// Reconfigurable runs: the repartitioner's state.
    pub(super) re: Option<Box<Reconf<'a>>>,
}

impl<'a, T: Rows<'a>, M: InstanceModel> Sim<'a, T, M> {
    pub(super) fn new(
        trace: T,
        server: &Server,
        service: &'a ServiceTable,
        model: &ServiceModel,
        rules: &[BatchRule],
        inst: M,
    ) -> Sim<'a, T, M> {
        let n = trace.len();
        let base = trace.base;
        let ni = server.instances.len();
        let exact = model.noise.is_none() && rules.is_empty();
        Sim {
            next: base,
            now: 0,
            more: false,
            trace,
            fleet: Fleet::new(server, rules),
            times: Times {
                table: service,
                noise: model.noise,
                stream: NoiseStream::new(model.seed),
            },
            agenda: Agenda::new(ni),
            rec: Records {
                start_ns: vec![0; n],
                finish_ns: vec![0; n],
                instance: vec![UNSET; n],
                busy_ns: vec![0; ni],
                batch_id: if M::BATCHED {
                    vec![UNSET; n]
                } else {
                    Vec::new()
                },
                est_done_ns: if exact { Vec::new() } else { vec![u64::MAX; n] },
                base,
                ..Records::default()
            },
            track_est: !exact,
            inst,
            re: None,
        }
    }

    pub(super) fn view(&self, now: u64) -> ServerView<'_> {
        ServerView::new(
            now,
            &self.fleet.server,
            &self.fleet.st,
            self.times.table,
            &self.trace,
        )
    }

    /// The whole trace of a replay that is not streamed (a reconfigurable one).
    pub(super) fn whole(&self) -> &'a Trace {
        self.trace.whole()
    }

    /// The slot of the query at global position `q` in the records (and the trace).
    #[inline(always)]
    pub(super) fn slot(&self, q: u32) -> usize {
        if T::WINDOW {
            q as usize - self.rec.base
        } else {
            q as usize
        }
    }

    /// The model, batch and arrival of the query at global position `q`.
    #[inline(always)]
    pub(super) fn model_at(&self, q: u32) -> u32 {
        self.trace.model[self.slot(q)]
    }
    #[inline(always)]
    pub(super) fn batch_at(&self, q: u32) -> u32 {
        self.trace.batch[self.slot(q)]
    }
    #[inline(always)]
    pub(super) fn arrival_at(&self, q: u32) -> u64 {
        self.trace.arrival_ns[self.slot(q)]
    }

    /// One past the global position of the last row.
    #[inline(always)]
    pub(super) fn end(&self) -> usize {
        if T::WINDOW {
            self.trace.end()
        } else {
            self.trace.len()
        }
    }

    /// Check a query a scheduler handed out.
    pub(super) fn check_handed(&self, q: u32, now: u64) -> Result<()> {
        if (T::WINDOW && (q as usize) < self.rec.base)
            || q as usize >= self.end()
            || self.rec.instance[self.slot(q)] != UNSET
        {
            return Err(Error::Internal(format!(
                "scheduler returned query {q}, which does not exist or was already started"
            )));
        }
        if self.arrival_at(q) > now {
            return Err(Error::Internal(format!(
                "scheduler started query {q} before its arrival"
            )));
        }
        Ok(())
    }

    /// Check the instance a scheduler sent query `q` to.
    #[inline(always)]
    pub(super) fn check_target(&self, q: u32, i: usize) -> Result<()> {
        let m = self.model_at(q);
        let slices = &self.fleet.slices;
        let ok = i < slices.len()
            && self.times.table.has(m, slices[i])
            && self.times.table.fits(m, slices[i], self.batch_at(q));
        if ok {
            Ok(())
        } else {
            Err(self.bad_target(q, i))
        }
    }

    /// Why a dispatch is refused.
    #[cold]
    #[inline(never)]
    fn bad_target(&self, q: u32, i: usize) -> Error {
        let ni = self.fleet.slices.len();
        if i >= ni {
            return Error::Internal(format!(
                "scheduler sent query {q} to instance {i}, but the server has {ni}"
            ));
        }
        let m = self.model_at(q);
        let slice = self.fleet.server.gpu.profiles[self.fleet.slices[i]].name;
        if !self.times.table.has(m, self.fleet.slices[i]) {
            return Error::Internal(format!(
                "scheduler sent model '{}' to instance {i} ({slice}), where it is not profiled",
                self.trace.models[m as usize]
            ));
        }
        Error::Internal(format!(
            "scheduler sent a batch of {} of model '{}' to instance {i} ({slice}), whose memory it exceeds",
            self.batch_at(q),
            self.trace.models[m as usize]
        ))
    }

    /// Profiled latency of query `q` alone on instance `i`.
    #[inline]
    pub(super) fn est(&self, q: u32, i: usize) -> u64 {
        self.times
            .table
            .get(self.model_at(q), self.fleet.slices[i], self.batch_at(q))
            .0
    }

    /// Offer arriving query `q` to the scheduler: the instance it was sent to (checked, with
    /// its estimated completion recorded when the run is not exact), or `None` if held.
    #[inline]
    fn offer(&mut self, q: u32, now: u64, scheduler: &mut dyn Scheduler) -> Result<Option<usize>> {
        let info = QueryInfo {
            idx: q,
            model: self.model_at(q),
            batch: self.batch_at(q),
            arrival_ns: self.arrival_at(q),
        };
        let Dispatch::To(i) = scheduler.on_arrival(&info, &self.view(now)) else {
            return Ok(None);
        };
        self.check_target(q, i)?;
        if self.track_est {
            let k = self.slot(q);
            self.rec.est_done_ns[k] = self
                .view(now)
                .estimate_done(i, info.model, info.batch)
                .expect("checked: profiled");
        }
        Ok(Some(i))
    }

    /// Offer query `q` (arrived, or handed back) and place it: the instance model takes it if
    /// the scheduler sends it to an instance, or the scheduler keeps it; held by the engine
    /// while no instance of the server can serve it (during a reconfiguration).
    #[inline(always)]
    pub(super) fn place(&mut self, q: u32, now: u64, s: &mut dyn Scheduler) -> Result<()> {
        if self.re.is_some() && !self.servable(q) {
            self.hold(q);
            return Ok(());
        }
        if let Some(i) = self.offer(q, now, s)? {
            M::dispatched(self, q, i, now, s)?;
        }
        Ok(())
    }

    /// Instance `i` has nothing running: the head of its local queue, or else a query the
    /// scheduler hands it (checked), or `None` (the instance is then idle).
    #[inline(always)]
    pub(super) fn next_head(
        &mut self,
        i: usize,
        now: u64,
        s: &mut dyn Scheduler,
    ) -> Result<Option<u32>> {
        if let Some(q) = self.pop_queue(i) {
            return Ok(Some(q));
        }
        self.fleet.st.set_idle(i);
        let Some(q) = s.next_for(i, &self.view(now)) else {
            return Ok(None);
        };
        self.check_handed(q, now)?;
        if !self.times.table.all_fit() || self.re.is_some() {
            self.check_target(q, i)?;
        }
        self.fleet.st.set_not_idle(i);
        Ok(Some(q))
    }

    /// The head of `i`'s local queue, if any.
    #[inline]
    fn pop_queue(&mut self, i: usize) -> Option<u32> {
        let (trace, service, slice) = (&*self.trace, self.times.table, self.fleet.slices[i]);
        let base = if T::WINDOW { self.rec.base } else { 0 };
        self.fleet.st.pop_queue(i, |q| {
            let k = q as usize - base;
            service.get(trace.model[k], slice, trace.batch[k]).0
        })
    }

    /// The loop: take the next event and apply it, until nothing is left to happen (or, in a
    /// streamed replay, the next arrival is beyond the rows loaded).
    pub(super) fn run<S: Sched>(&mut self, sched: &mut S) -> Result<Step> {
        let mut next = self.next;
        let mut now = self.now;
        loop {
            if T::WINDOW && self.more && next >= self.end() {
                (self.next, self.now) = (next, now);
                return Ok(Step::NeedRows);
            }
            let t_arr = if next < self.end() {
                self.trace.arrival_ns[if T::WINDOW {
                    next - self.trace.base
                } else {
                    next
                }]
            } else {
                u64::MAX
            };
            let (fleet, inst) = (&self.fleet, &self.inst);
            let Some((t, ev)) = self.agenda.next(t_arr, |t, g| {
                let i = fleet.cur_of[g as usize];
                i != GONE && inst.timer_stands(&fleet.st, i as usize, t)
            }) else {
                break;
            };
            debug_assert!(t >= now, "clock went back");
            now = t;
            self.rec.events += 1;
            match ev {
                Event::Done(g) => {
                    let i = self.fleet.cur_of[g as usize];
                    if i == GONE {
                        self.retired_work_done(g, now)?;
                    } else {
                        M::free(self, i as usize, now, sched.get())?;
                    }
                }
                Event::Timer(g) => {
                    let i = self.fleet.cur_of[g as usize] as usize;
                    M::timer(self, i, now)?;
                }
                Event::Reconfig => self.reconfig_event(now, sched)?,
                Event::Arrival => {
                    let q = next as u32;
                    next += 1;
                    self.place(q, now, sched.get())?;
                }
            }
        }
        debug_assert!(next == self.end());
        (self.next, self.now) = (next, now);
        self.finish_run()?;
        Ok(Step::Done)
    }
}
