//! A plugin binary in one file: the whole mig-replay command line plus `best-fit`, an
//! SLA-aware scheduler of our own. Each query goes to the instance whose estimated completion
//! meets the query's SLA with the least slack, keeping the instances that would serve it
//! sooner free for later queries; when no instance meets the SLA, to the earliest estimated
//! completion. Ties go to the lowest index.
//!
//! This file is the worked example of docs/PLUGINS.md, section 1 (a test checks that the two
//! are the same text); `cargo run --example best_fit -- policy list` lists `best-fit`.

use mig_replay::Error;
use mig_replay::policy::{
    Cost, Dispatch, Explanation, QueryInfo, Registry, SchedContext, Scheduler, SchedulerEntry,
};
use mig_replay::server::ServerView;
use mig_replay::sla::ModelSla;
use serde::Serialize;
use std::sync::Arc;

/// The scheduler: the SLA of every trace model, read once when it is built.
pub struct BestFit {
    /// SLA of each trace model in ns, indexed by `QueryInfo::model`.
    sla_ns: Vec<u64>,
    /// The same SLAs with where each came from, for `details`.
    slas: Vec<ModelSla>,
}

impl BestFit {
    /// Its entry says `needs_sla: true`, so the run gives every trace model an SLA
    /// (`sla.<model>`, else `--sla-ms`, else the default rule) in `ctx.slas`.
    pub fn new(ctx: &SchedContext) -> mig_replay::Result<BestFit> {
        let mut slas = Vec::new();
        for (m, sla) in ctx.slas.iter().enumerate() {
            let sla = sla.clone().ok_or_else(|| {
                Error::Usage(format!(
                    "best-fit: model '{}' has no SLA",
                    ctx.trace.models[m]
                ))
            })?;
            slas.push(sla);
        }
        Ok(BestFit {
            sla_ns: slas.iter().map(ModelSla::ns).collect(),
            slas,
        })
    }
}

impl Scheduler for BestFit {
    fn on_arrival(&mut self, q: &QueryInfo, view: &ServerView) -> Dispatch {
        // The SLA counts from the query's arrival (after a reconfiguration the engine offers
        // queries again, later than they arrived).
        let deadline = q.arrival_ns + self.sla_ns[q.model as usize];
        let mut fit: Option<(u64, usize)> = None; // the latest completion meeting the SLA
        let mut earliest: Option<(u64, usize)> = None;
        for i in 0..view.len() {
            // None: the model is not profiled on this instance's slice, or the batch does not
            // fit its memory.
            let Some(done) = view.estimate_done(i, q.model, q.batch) else {
                continue;
            };
            if done <= deadline && fit.is_none_or(|(d, _)| done > d) {
                fit = Some((done, i));
            }
            if earliest.is_none_or(|(d, _)| done < d) {
                earliest = Some((done, i));
            }
        }
        let (_, i) = fit
            .or(earliest)
            .expect("the engine checks that some instance serves every query");
        Dispatch::To(i)
    }

    /// Printed by `run`, recorded in summary.json under `scheduler_details`.
    fn details(&self) -> Option<Arc<dyn Explanation>> {
        Some(Arc::new(BestFitDetails {
            sla: self.slas.clone(),
        }))
    }
}

/// What `best-fit` decided before the replay: the SLA it holds each model to.
#[derive(Debug, Serialize)]
pub struct BestFitDetails {
    pub sla: Vec<ModelSla>,
}

impl Explanation for BestFitDetails {
    /// One line (the run prints every model's SLA and its source itself).
    fn text(&self) -> String {
        format!(
            "best-fit: the least slack within each of the {} models' SLA\n",
            self.sla.len()
        )
    }
}

/// The registry entry: what `PART+best-fit` builds and what the drivers need to know.
pub const ENTRY: SchedulerEntry = SchedulerEntry {
    name: "best-fit",
    help: "the instance whose estimated completion meets the SLA with the least slack, else the earliest (example plugin)",
    params: &[],
    build: |_params, ctx| Ok(Box::new(BestFit::new(ctx)?)),
    // The scan of `least-loaded` (every instance's `estimate_done` per query): its cost.
    cost: Cost {
        exact: 4,
        noisy: 16,
        batched: 30,
    },
    heat_maps: true,
    needs_sla: true,
    fcfs_earliest_free: false,
};

fn main() {
    let mut registry = Registry::builtin();
    registry.register_scheduler(ENTRY);
    std::process::exit(mig_replay::cli::main_with(registry));
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_replay::gpu::GpuSpec;
    use mig_replay::profile::Profiles;
    use mig_replay::server::{Server, ServerState};
    use mig_replay::service::ServiceTable;
    use mig_replay::trace::Trace;

    const MS: u64 = 1_000_000;

    /// A decision on a constructed state. Instances 0 (4g), 1 (2g), 2 (1g); one model, batch 1,
    /// profiled at 10, 20 and 30 ms. All idle at t = 0, the estimated completions are 10, 20
    /// and 30 ms, so an SLA of 25 ms is met by 0 and 1 (1 with less slack), 35 ms by all
    /// three (2 with the least slack), 5 ms by none (0 is earliest). With 0 busy until 30 ms,
    /// it completes at 40 ms: within 45 ms, the latest of 40, 20, 30.
    #[test]
    fn least_slack_within_the_sla_else_earliest() {
        let gpu = GpuSpec::by_name("A100-40GB").unwrap();
        let mut prof = Profiles::default();
        for (s, ms) in [("4g.20gb", 10.0), ("2g.10gb", 20.0), ("1g.5gb", 30.0)] {
            prof.insert("A100-40GB", "m", s, &[(1, ms)]);
        }
        let layout = gpu.parse_layout("4g.20gb+2g.10gb+1g.5gb").unwrap();
        let server = Server::new(gpu.clone(), vec![layout]).unwrap();
        let trace = Trace::from_rows([(0, "m", 1)]);
        let table = ServiceTable::build(
            &prof,
            &gpu,
            &trace.models,
            &server.slices_used(),
            trace.max_batch(),
            |m| trace.first_row_of_model(m),
        )
        .unwrap();
        let q = QueryInfo {
            idx: 0,
            model: 0,
            batch: 1,
            arrival_ns: 0,
        };
        let decide = |sla_ms: u64, state: &ServerState| {
            let mut s = BestFit {
                sla_ns: vec![sla_ms * MS],
                slas: vec![],
            };
            s.on_arrival(&q, &ServerView::new(0, &server, state, &table, &trace))
        };
        let mut state = ServerState::new(3);
        assert_eq!(decide(25, &state), Dispatch::To(1));
        assert_eq!(decide(35, &state), Dispatch::To(2));
        assert_eq!(decide(5, &state), Dispatch::To(0));
        state.set_busy_until(0, 30 * MS);
        assert_eq!(decide(45, &state), Dispatch::To(0));
        assert_eq!(decide(35, &state), Dispatch::To(2));
    }
}
