//! Applying a repartitioner's plans in the event loop (the rules are described in
//! [`super`]).

use super::super::records::ReconfigEvent;
use super::super::rows::Rows;
use super::super::sim::{GONE, InstanceModel, Sched, Sim, UNSET};
use super::{Phase, Reconf, Reconfigurable};
use crate::error::{Error, Result};
use crate::gpu::Layout;
use crate::policy::RepartitionContext;
use crate::server::reconfig::{assign, kept, same_placements};
use crate::server::{Instance, Server};
use std::cmp::Reverse;
use std::collections::HashMap;

/// The most times a replay consults its repartitioner (a period of seconds on a trace of
/// centuries would otherwise never end).
const MAX_CHECKS: u64 = 10_000_000;

/// The most instance rebuilds (reconfigurations x instances) a replay performs: about 85 ns
/// each on this project's VM, so about 85 s.
const REBUILD_BUDGET: u64 = 1_000_000_000;

impl<'a, T: Rows<'a>, M: InstanceModel> Sim<'a, T, M> {
    /// Make this replay reconfigurable.
    pub(in crate::engine) fn attach(&mut self, cfg: Reconfigurable<'a>) {
        let mut re = Box::new(Reconf::new(cfg, &self.fleet.server.layouts));
        re.log.lifetimes = vec![(0, u64::MAX); self.fleet.incarnations.len()];
        self.re = Some(re);
        self.refresh_servable();
        self.refresh_t_re();
    }

    /// Whether some current instance can serve query `q` (its model profiled on the slice, its
    /// batch within the slice's memory).
    #[inline]
    pub(in crate::engine) fn servable(&self, q: u32) -> bool {
        let re = self.re.as_ref().expect("reconfigurable");
        let q = q as usize;
        self.trace.batch[q] <= re.servable[self.trace.model[q] as usize]
    }

    pub(in crate::engine) fn hold(&mut self, q: u32) {
        self.re.as_mut().expect("reconfigurable").limbo.push(q);
    }

    fn refresh_servable(&mut self) {
        let mut sv = vec![0u32; self.trace.models.len()];
        let mut slices = self.fleet.slices.clone();
        slices.sort_unstable();
        slices.dedup();
        for (m, v) in sv.iter_mut().enumerate() {
            for &s in &slices {
                if self.times.table.has(m as u32, s) {
                    *v = (*v).max(self.times.table.max_fitting(m as u32, s));
                }
            }
        }
        self.re.as_mut().expect("reconfigurable").servable = sv;
    }

    /// The next reconfiguration event: a region coming up, or a check (checks stop after the
    /// last arrival).
    fn refresh_t_re(&mut self) {
        let re = self.re.as_ref().expect("reconfigurable");
        let up = re.up.peek().map_or(u64::MAX, |r| r.0.0);
        // Once every query has started no check is needed (nothing left depends on the
        // layout), but the reconfigurations under way and those waiting their turn still
        // complete: the replay ends with every GPU in the layout it was moved to.
        if self.rec.starts == self.trace.len() as u64 {
            self.agenda.t_re = up;
            return;
        }
        let last = self.trace.arrival_ns.last().copied().unwrap_or(0);
        let check = if re.next_check <= last {
            re.next_check
        } else {
            u64::MAX
        };
        self.agenda.t_re = up.min(check);
    }

    /// A reconfiguration event at `now`: regions coming up first (all that come up at this
    /// instant, in one step), then a check.
    pub(in crate::engine) fn reconfig_event<S: Sched>(
        &mut self,
        now: u64,
        sched: &mut S,
    ) -> Result<()> {
        let re = self.re.as_mut().expect("reconfigurable");
        let mut ups = Vec::new();
        while let Some(&Reverse((t, g))) = re.up.peek() {
            if t != now {
                break;
            }
            re.up.pop();
            ups.push(g as usize);
        }
        if ups.is_empty() {
            self.check(now, sched)?;
        } else {
            self.come_up(&ups, now, sched)?;
        }
        self.refresh_t_re();
        Ok(())
    }

    /// Consult the repartitioner.
    fn check<S: Sched>(&mut self, now: u64, sched: &mut S) -> Result<()> {
        let trace = self.whole();
        let gpu = self.fleet.server.gpu.clone();
        let re: &mut Reconf = self.re.as_mut().expect("reconfigurable");
        re.log.checks += 1;
        if re.log.checks > MAX_CHECKS {
            return Err(Error::Usage(format!(
                "the repartitioner was consulted {MAX_CHECKS} times by {:.3} s of simulated time (the trace runs to {:.3} s): lengthen its period",
                now as f64 / 1e9,
                self.trace.arrival_ns.last().copied().unwrap_or(0) as f64 / 1e9
            )));
        }
        let busy = re.busy();
        if busy {
            re.log.checks_busy += 1;
        }
        let replan = {
            let mut ctx = RepartitionContext {
                now_ns: now,
                trace,
                gpu: &gpu,
                layouts: &re.target,
                busy,
                plan: re.cfg.plan.as_mut(),
            };
            re.cfg.repartitioner.check(&mut ctx)?
        };
        re.next_check = match replan.next_check_ns {
            Some(t) if t > now => t,
            Some(_) => {
                return Err(Error::Internal(format!(
                    "repartitioner asked to be consulted again at or before now ({now} ns)"
                )));
            }
            None => u64::MAX,
        };
        let Some(planned) = replan.layouts else {
            return Ok(());
        };
        if busy {
            re.log.plans_skipped_busy += 1;
            return Ok(());
        }
        if planned.len() != re.target.len() {
            return Err(Error::Internal(format!(
                "repartitioner planned {} layouts for {} GPUs",
                planned.len(),
                re.target.len()
            )));
        }
        // Check every planned layout before anything changes.
        Server::new(gpu.clone(), planned.clone()).map_err(|e| {
            Error::Internal(format!("repartitioner planned an illegal server: {e}"))
        })?;
        let assigned = assign(&re.target, &planned);
        let mut changed = false;
        for (g, l) in assigned.into_iter().enumerate() {
            if same_placements(&re.target[g], &l) {
                continue;
            }
            re.target[g] = l;
            re.phase[g] = Phase::Waiting;
            re.waiting.push_back(g);
            changed = true;
        }
        if changed {
            // Each begin and each region coming up rebuilds the server, its state and the
            // scheduler: O(instances). Refuse a plan whose rolling application would take
            // minutes instead of letting the replay crawl.
            let c = re.waiting.len() as u64;
            let rebuilds = 2 * c.div_ceil(re.cfg.model.max_concurrent as u64);
            let work = rebuilds.saturating_mul(self.fleet.server.instances.len().max(1) as u64);
            re.work = re.work.saturating_add(work);
            if re.work > REBUILD_BUDGET {
                return Err(Error::Usage(format!(
                    "the repartitioner's plans would reconfigure {c} GPUs {} at a time on a server of {} instances: about {} instance rebuilds in all, more than {REBUILD_BUDGET} (minutes of replay); raise reconfig.max_concurrent, lengthen the period, or use fewer GPUs",
                    re.cfg.model.max_concurrent,
                    self.fleet.server.instances.len(),
                    re.work
                )));
            }
            re.log.plans_applied += 1;
            re.decided_ns = now;
            re.reason = replan.reason;
            self.start_waiting(now, sched)?;
        }
        Ok(())
    }

    /// Begin the waiting GPUs' reconfigurations, up to `max_concurrent` at once (those that
    /// begin at one instant in one step).
    fn start_waiting<S: Sched>(&mut self, now: u64, sched: &mut S) -> Result<()> {
        let re = self.re.as_mut().expect("reconfigurable");
        let room = (re.cfg.model.max_concurrent as usize).saturating_sub(re.in_progress());
        let n = room.min(re.waiting.len());
        let gs: Vec<usize> = re.waiting.drain(..n).collect();
        if gs.is_empty() {
            return Ok(());
        }
        self.begin(&gs, now, sched)
    }

    /// Begin the reconfiguration of GPUs `gs`: their destroyed instances leave the server now.
    fn begin<S: Sched>(&mut self, gs: &[usize], now: u64, sched: &mut S) -> Result<()> {
        let re = self.re.as_mut().expect("reconfigurable");
        let gpu = &self.fleet.server.gpu;
        let mut layouts = self.fleet.server.layouts.clone();
        for &g in gs {
            let old = self.fleet.server.layouts[g].clone();
            let new = re.target[g].clone();
            let keep = kept(&old, &new, re.cfg.model.drain);
            let gpcs = |l: &Layout| -> u32 {
                l.placements
                    .iter()
                    .filter(|p| !keep.contains(p))
                    .map(|p| gpu.profiles[p.slice].gpcs as u32)
                    .sum()
            };
            let ev = ReconfigEvent {
                gpcs_destroyed: gpcs(&old),
                gpcs_created: gpcs(&new),
                gpu: g as u32,
                decided_ns: re.decided_ns,
                begin_ns: now,
                down_ns: None,
                up_ns: None,
                layout_before: old.placement_string(gpu),
                layout_after: new.placement_string(gpu),
                layout_name_before: old.name(gpu),
                layout_name_after: new.name(gpu),
                instances_kept: keep.len() as u32,
                instances_destroyed: (old.placements.len() - keep.len()) as u32,
                instances_created: (new.placements.len() - keep.len()) as u32,
                queries_handed_back: 0,
                queries_held_handed_back: 0,
                batches_retired: 0,
                reason: re.reason.clone(),
            };
            re.open_event[g] = re.log.events.len();
            re.log.events.push(ev);
            layouts[g] = Layout { placements: keep };
        }
        let (per_gpu, held) = self.rebuild(layouts, now, sched)?;
        let first = gs.iter().copied().min().expect("some GPU begins");
        for &g in gs {
            let (back, retired) = per_gpu.get(&g).copied().unwrap_or((0, 0));
            let re = self.re.as_mut().expect("reconfigurable");
            let e = &mut re.log.events[re.open_event[g]];
            e.queries_handed_back = back;
            if g == first {
                e.queries_held_handed_back += held;
            }
            e.batches_retired = retired;
            if retired == 0 {
                self.go_down(g, now)?;
            } else {
                re.phase[g] = Phase::Draining(retired);
            }
        }
        Ok(())
    }

    fn go_down(&mut self, g: usize, now: u64) -> Result<()> {
        let re = self.re.as_mut().expect("reconfigurable");
        re.phase[g] = Phase::Down;
        re.log.events[re.open_event[g]].down_ns = Some(now);
        let cost = re.cfg.model.cost_ns;
        // A region that would come up beyond 2^63 ns (rolling reconfigurations of long costs
        // queued one after another) is bad input, not a replay.
        let up = now
            .checked_add(cost)
            .filter(|&t| t < 1 << 63)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "GPU {g} would come back up beyond 2^63 ns of simulated time ({} s down from {:.3} s): reconfig.cost_s is too long for this many GPUs reconfiguring {} at a time",
                    cost as f64 / 1e9,
                    now as f64 / 1e9,
                    re.cfg.model.max_concurrent
                ))
            })?;
        re.up.push(Reverse((up, g as u32)));
        Ok(())
    }

    /// Work on a destroyed instance (id `gid`) ended: its GPU may go down.
    pub(in crate::engine) fn retired_work_done(&mut self, gid: u32, now: u64) -> Result<()> {
        let g = self.fleet.incarnations[gid as usize].gpu as usize;
        let re = self.re.as_mut().ok_or_else(|| {
            Error::Internal("a batch ended on an instance that does not exist".into())
        })?;
        match re.phase[g] {
            Phase::Draining(1) => {
                self.go_down(g, now)?;
            }
            Phase::Draining(k) => re.phase[g] = Phase::Draining(k - 1),
            p => {
                return Err(Error::Internal(format!(
                    "a retired batch ended on GPU {g}, which is not draining ({p:?})"
                )));
            }
        }
        self.refresh_t_re();
        Ok(())
    }

    /// The new instances of GPUs `gs` join.
    fn come_up<S: Sched>(&mut self, gs: &[usize], now: u64, sched: &mut S) -> Result<()> {
        let re = self.re.as_mut().expect("reconfigurable");
        let mut layouts = self.fleet.server.layouts.clone();
        for &g in gs {
            layouts[g] = re.target[g].clone();
            re.phase[g] = Phase::Serving;
            re.log.events[re.open_event[g]].up_ns = Some(now);
        }
        let (_, held) = self.rebuild(layouts, now, sched)?;
        let first = gs.iter().copied().min().expect("some GPU comes up");
        let re = self.re.as_mut().expect("reconfigurable");
        re.log.events[re.open_event[first]].queries_held_handed_back += held;
        self.start_waiting(now, sched)
    }

    /// Move the server to `layouts` at `now`: renumber, retire the destroyed instances, create
    /// the new ones, rebuild the scheduler, and place again every query that was handed back
    /// or held. Returns, per GPU that lost instances, (queries its destroyed instances handed
    /// back, batches retired on them), and the number of queries the old scheduler held and
    /// gave back.
    #[allow(clippy::type_complexity)]
    fn rebuild<S: Sched>(
        &mut self,
        layouts: Vec<Layout>,
        now: u64,
        sched: &mut S,
    ) -> Result<(HashMap<usize, (u64, u32)>, u64)> {
        let server = Server::partial(self.fleet.server.gpu.clone(), layouts)?;
        let key = |x: &Instance| (x.gpu, x.slice, x.start);
        let old: HashMap<(u32, usize, u8), usize> = self
            .fleet
            .server
            .instances
            .iter()
            .enumerate()
            .map(|(i, x)| (key(x), i))
            .collect();
        let old_of: Vec<u32> = server
            .instances
            .iter()
            .map(|x| old.get(&key(x)).map_or(u32::MAX, |&i| i as u32))
            .collect();
        // The ids of the instances gone, and the batches still running on them.
        let mut stays = vec![false; self.fleet.server.instances.len()];
        for &o in old_of.iter().filter(|&&o| o != u32::MAX) {
            stays[o as usize] = true;
        }
        let mut per_gpu: HashMap<usize, (u64, u32)> = HashMap::new();
        let mut is_gone = vec![false; self.fleet.incarnations.len()];
        let mut gone = Vec::new();
        for (i, _) in stays.iter().enumerate().filter(|(_, s)| !**s) {
            let g = self.fleet.gid[i];
            is_gone[g as usize] = true;
            gone.push(g);
            per_gpu
                .entry(self.fleet.server.instances[i].gpu as usize)
                .or_default()
                .0 += self.fleet.st.waiting(i) as u64;
        }
        for id in self.agenda.running() {
            if is_gone[id as usize] {
                let g = self.fleet.incarnations[id as usize].gpu as usize;
                per_gpu.entry(g).or_default().1 += 1;
            }
        }
        let re = self.re.as_mut().expect("reconfigurable");
        for &g in &gone {
            re.log.lifetimes[g as usize].1 = now;
        }
        let back = self.fleet.st.renumber(&old_of);
        // New ids for created instances.
        let mut gid = Vec::with_capacity(old_of.len());
        for (j, &o) in old_of.iter().enumerate() {
            if o == u32::MAX {
                let id = self.fleet.incarnations.len() as u32;
                self.fleet.incarnations.push(server.instances[j]);
                self.fleet.cur_of.push(GONE);
                self.rec.busy_ns.push(0);
                re.log.lifetimes.push((now, u64::MAX));
                gid.push(id);
            } else {
                gid.push(self.fleet.gid[o as usize]);
            }
        }
        for &g in &gone {
            self.fleet.cur_of[g as usize] = GONE;
        }
        for (j, &g) in gid.iter().enumerate() {
            self.fleet.cur_of[g as usize] = j as u32;
        }
        self.fleet.gid = gid;
        self.fleet.slices = server.instances.iter().map(|i| i.slice).collect();
        self.fleet.server = server;
        self.refresh_servable();
        // The scheduler: what it holds, then a fresh one for the new server.
        let mut again = sched.get().take_held();
        let held = again.len() as u64;
        again.extend(back);
        again.append(&mut self.re.as_mut().expect("reconfigurable").limbo);
        // A server with no instance left gets no scheduler (every query waits with the engine).
        if !self.fleet.server.instances.is_empty() {
            let re = self.re.as_mut().expect("reconfigurable");
            let fresh = (re.cfg.scheduler)(&self.fleet.server)?;
            sched.replace(fresh);
            // The rebuilt scheduler starts from the server's true state, not from idle.
            sched.get().resume(&self.view(now));
        }
        again.sort_unstable_by_key(|&q| (self.trace.arrival_ns[q as usize], q));
        again.dedup();
        for q in again {
            let qi = q as usize;
            if self.rec.finish_ns[qi] != 0 {
                return Err(Error::Internal(format!(
                    "query {q} was handed back after it started"
                )));
            }
            self.rec.instance[qi] = UNSET;
            if self.track_est {
                self.rec.est_done_ns[qi] = u64::MAX;
            }
            self.place(q, now, sched.get())?;
        }
        // Every idle instance asks for work (the new ones, and any a held query could use).
        let idle = self.fleet.st.idle_instances();
        for i in idle {
            if !self.fleet.st.is_idle(i) {
                continue;
            }
            M::free(self, i, now, sched.get())?;
        }
        Ok((per_gpu, held))
    }

    /// The end of the loop: on a reconfigurable server, every query must have been served.
    pub(in crate::engine) fn finish_run(&mut self) -> Result<()> {
        let Some(re) = self.re.as_mut() else {
            return Ok(());
        };
        if let Some(&q) = re.limbo.first() {
            return Err(Error::Other(format!(
                "{} queries (the first: trace row {q}) were never served: at the end of the replay no instance of the server could serve them",
                re.limbo.len()
            )));
        }
        if let Some(q) = self.rec.instance.iter().position(|&i| i == UNSET) {
            return Err(Error::Internal(format!(
                "query {q} was never served (a scheduler that holds queries must return them from take_held when the server is reconfigured)"
            )));
        }
        if let Some(e) = re.log.events.iter().find(|e| e.up_ns.is_none()) {
            return Err(Error::Internal(format!(
                "the reconfiguration of GPU {} begun at {} ns never completed",
                e.gpu, e.begin_ns
            )));
        }
        if !re.waiting.is_empty() {
            return Err(Error::Internal(format!(
                "{} GPU reconfigurations never began",
                re.waiting.len()
            )));
        }
        re.log.final_layouts = self
            .fleet
            .server
            .layouts
            .iter()
            .map(|l| l.placement_string(&self.fleet.server.gpu))
            .collect();
        self.rec.reconfig = Some(std::mem::take(&mut re.log));
        Ok(())
    }
}
