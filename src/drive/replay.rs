//! One replay from a checked [`Scenario`] to metrics: partition, build the server and the
//! service table, run the event loop, check invariants, compute metrics. The scenario carries
//! the trace, the profile, the server (GPU kind and count), the policy, the service model, the
//! SLAs (resolved once, [`Scenario::slas`]: the partitioner, the scheduler and the metrics all
//! use those) and the reconfiguration rules.

use crate::engine::{self, Invariants, Reconfigurable, Records};
use crate::error::{Error, Result};
use crate::gpu::Layout;
use crate::metrics::{self, Metrics};
use crate::policy::{
    Explanation, Partition, PartitionContext, Policy, RepartitionContext, SchedContext,
};
use crate::scenario::Scenario;
use crate::server::Server;
use crate::service::{BatchRule, Noise, ServiceModel, ServiceTable};
use crate::sla::ModelSla;
use crate::trace::Trace;
use std::sync::Arc;

/// The outcome of a replay.
pub struct Replay {
    /// The policy name as given, and its halves.
    pub policy: String,
    pub partitioner: String,
    pub scheduler: String,
    /// Every policy parameter with its value.
    pub params: std::collections::BTreeMap<String, String>,
    /// What the partitioner reported about its choice (PARIS: knees, map, shares, deviation).
    pub partition: Option<Arc<dyn Explanation>>,
    /// What the scheduler decided before the replay (ELSA: the SLA per model).
    pub scheduler_details: Option<Arc<dyn Explanation>>,
    pub server: Server,
    /// The service model (noise, batching) the replay ran with.
    pub service: ServiceModel,
    /// With batching: the rule of each trace model; empty otherwise.
    pub batch_rules: Vec<BatchRule>,
    /// The SLA of every trace model (trace-model order), as resolved for this run.
    pub slas: Vec<Option<ModelSla>>,
    pub records: Records,
    pub metrics: Metrics,
    pub invariants: Invariants,
    /// The repartitioner, when not `static`: its name, whether it reads ahead (foresight), its
    /// parameters and the reconfiguration rules (its log is `records.reconfig`).
    pub repartition: Option<RepartitionInfo>,
}

/// Which repartitioner a reconfigurable replay ran with.
#[derive(Debug, Clone)]
pub struct RepartitionInfo {
    pub name: String,
    pub reads_ahead: bool,
    pub model: crate::server::reconfig::ReconfigModel,
}

/// The end-of-run invariants as a result: every one holds, or an [`Error::Internal`] (a bug in
/// mig-replay or in a plugin, never the input's fault: exit code 3) that names the run (`what`)
/// and the invariants violated.
pub fn require_invariants(inv: &Invariants, what: &str) -> Result<()> {
    if inv.all_ok() {
        return Ok(());
    }
    let violated: Vec<&str> = [
        ("conservation", inv.conservation),
        ("causality", inv.causality),
        ("no_overlap", inv.no_overlap),
        ("batches", inv.batches != Some(false)),
        ("reconfiguration", inv.reconfiguration != Some(false)),
    ]
    .iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| *name)
    .collect();
    Err(Error::Internal(format!(
        "simulator invariants violated {what}: {}",
        violated.join(", ")
    )))
}

/// What a replay builds before its event loop: the first layouts (and what the partitioner
/// said of them), the server, the batching rules and the service table.
pub(crate) struct Setup {
    pub explanation: Option<Arc<dyn Explanation>>,
    pub server: Server,
    pub rules: Vec<BatchRule>,
    pub table: ServiceTable,
    pub repartitioner: Box<dyn crate::policy::Repartitioner>,
    pub reconfigurable: bool,
}

/// Build everything the event loop needs for `scenario` with `policy` (built from it). The
/// scenario's trace is the whole trace, or a streamed replay's head ([`Trace::head`]: no rows,
/// the whole trace's mix).
pub(crate) fn setup(scenario: &Scenario, policy: &mut Policy) -> Result<Setup> {
    let (trace, profiles, gpu, gpus) = (
        scenario.trace(),
        scenario.profiles(),
        scenario.gpu(),
        scenario.gpus(),
    );
    let resolved = scenario.slas();
    let ctx = PartitionContext {
        gpu,
        gpus,
        profiles,
        trace,
        slas: resolved,
    };
    let mut repartitioner = policy.repartition.build()?;
    let reconfigurable = !policy.repartition.is_static();
    // The repartitioner's first layouts (planned on what it may see at time 0), else the
    // partitioner's plan over the whole trace.
    // The explanation of the first plan (of the window it read) is the run's `partition`.
    let mut first_explanation = None;
    let first = if reconfigurable {
        let mut plan = |w: &Trace| -> Result<Vec<Layout>> {
            let p = policy
                .partitioner
                .partition(&PartitionContext { trace: w, ..ctx })?;
            first_explanation = p.explanation;
            Ok(p.layouts)
        };
        repartitioner.initial(&mut RepartitionContext {
            now_ns: 0,
            trace,
            gpu,
            layouts: &[],
            busy: false,
            plan: &mut plan,
        })?
    } else {
        None
    };
    let Partition {
        layouts,
        explanation,
    } = match first {
        Some(l) => Partition {
            layouts: l,
            explanation: first_explanation,
        },
        None => policy.partitioner.partition(&ctx)?,
    };
    if layouts.len() != gpus {
        return Err(Error::Internal(format!(
            "partitioner of '{}' returned {} layouts for {gpus} GPUs",
            policy.name,
            layouts.len()
        )));
    }
    let server = Server::new(gpu.clone(), layouts)?;
    let model = scenario.service();
    let rules = model.batch_rules(&trace.models)?;
    let largest = rules.iter().map(|r| r.max_batch).max().unwrap_or(1);
    let table = ServiceTable::build(
        profiles,
        gpu,
        &trace.models,
        &server.slices_used(),
        trace.max_batch().max(largest),
        |m| trace.first_row_of_model(m),
    )?;
    // Every query must fit the memory of some instance of the server as laid out: the first
    // query of every (model, batch) that fits none is named.
    if !table.all_fit() {
        let used = server.slices_used();
        let mix = trace.mix();
        let misfit = mix
            .first
            .iter()
            .filter(|&(&(m, b), _)| !used.iter().any(|&s| table.fits(m, s, b)))
            .min_by_key(|&(_, &(q, _))| q);
        if let Some((&(m, b), &(q, id))) = misfit {
            return Err(Error::file(
                &profiles.path,
                format!(
                    "query {id} (sorted trace row {q}): a batch of {b} of model '{}' exceeds the memory (memory_mb) of every slice of this server ({}); the policy's layout cannot serve it",
                    trace.models[m as usize],
                    server
                        .layout_names()
                        .into_iter()
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            ));
        }
    }
    if let Noise::Profile { fallback_cv: None } = model.noise {
        for (m, name) in trace.models.iter().enumerate() {
            for &s in &server.slices_used() {
                if !table.has_std(m as u32, s) {
                    return Err(Error::file(
                        &profiles.path,
                        format!(
                            "--service-noise profile: no latency_std_ms for model '{name}' on slice {} (every point needs one); use profile:cv=X to fill the gaps with a coefficient of variation X, or lognormal:cv=X",
                            gpu.profiles[s].name
                        ),
                    ));
                }
            }
        }
    }
    Ok(Setup {
        explanation,
        server,
        rules,
        table,
        repartitioner,
        reconfigurable,
    })
}

/// Replay `scenario` with a fresh policy of its own.
pub fn replay(scenario: &Scenario) -> Result<Replay> {
    let mut policy = scenario.policy().build()?;
    let Setup {
        explanation,
        server,
        rules,
        table,
        repartitioner,
        reconfigurable,
    } = setup(scenario, &mut policy)?;
    let (trace, profiles, gpu, gpus) = (
        scenario.trace(),
        scenario.profiles(),
        scenario.gpu(),
        scenario.gpus(),
    );
    let resolved = scenario.slas();
    let reconfig = scenario.reconfig();
    let model = scenario.service();
    let (records, scheduler_details, server) = if reconfigurable {
        let exact = model.is_exact();
        let factory = &mut policy.scheduler;
        let partitioner = &policy.partitioner;
        let table_ref = &table;
        let mut details = None;
        let details_ref = &mut details;
        let setup = engine::Setup {
            server: &server,
            service: &table,
            model,
            rules: &rules,
        };
        let engine::Outcome { records, instances } = engine::replay(
            &setup,
            engine::Feed::Whole(trace),
            engine::Scheduling::Reconfigurable(Reconfigurable {
                repartitioner,
                plan: Box::new(move |w: &Trace| {
                    Ok(partitioner
                        .partition(&PartitionContext {
                            gpu,
                            gpus,
                            profiles,
                            trace: w,
                            slas: resolved,
                        })?
                        .layouts)
                }),
                scheduler: Box::new(move |s: &Server| {
                    let sched = factory(&SchedContext {
                        gpu,
                        server: s,
                        service: table_ref,
                        profiles,
                        trace,
                        slas: resolved,
                        exact_estimates: exact,
                    })?;
                    if details_ref.is_none() {
                        *details_ref = Some(sched.details());
                    }
                    Ok(sched)
                }),
                model: reconfig.model,
            }),
        )?;
        // The metrics see every instance that existed, by instance id.
        let all = Server {
            gpu: server.gpu.clone(),
            layouts: server.layouts.clone(),
            instances,
        };
        (records, details.flatten(), all)
    } else {
        let mut scheduler = (policy.scheduler)(&SchedContext {
            gpu,
            server: &server,
            service: &table,
            profiles,
            trace,
            slas: resolved,
            exact_estimates: model.is_exact(),
        })?;
        let setup = engine::Setup {
            server: &server,
            service: &table,
            model,
            rules: &rules,
        };
        let records = engine::replay(
            &setup,
            engine::Feed::Whole(trace),
            engine::Scheduling::Fixed(scheduler.as_mut()),
        )?
        .records;
        (records, scheduler.details(), server)
    };
    let (metrics, invariants) = metrics::compute(trace, &server, &records, resolved, &rules)?;
    // A reconfigurable run's parameters name the rules it ran under.
    let mut params = policy.params.clone();
    if reconfigurable {
        params.extend(crate::policy::params::reconfig_keys(reconfig)?);
    }
    Ok(Replay {
        policy: policy.name.clone(),
        partitioner: policy.partitioner_name.clone(),
        scheduler: policy.scheduler_name.clone(),
        params,
        partition: explanation,
        scheduler_details,
        server,
        service: model.clone(),
        batch_rules: rules,
        slas: resolved.to_vec(),
        records,
        metrics,
        invariants,
        repartition: reconfigurable.then(|| RepartitionInfo {
            name: policy.repartition.name.to_string(),
            reads_ahead: policy.repartition.reads_ahead,
            model: reconfig.model,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_hold() -> Invariants {
        Invariants {
            conservation: true,
            causality: true,
            no_overlap: true,
            batches: Some(true),
            reconfiguration: None,
        }
    }

    /// Each invariant violated on its own is a bug (exit code 3) named in the message; none
    /// violated is no error. (The exit codes are the documented ones: 2 bad input, 3 a bug.)
    #[test]
    fn a_violated_invariant_is_an_internal_error_naming_it() {
        assert!(require_invariants(&all_hold(), "here").is_ok());
        for name in [
            "conservation",
            "causality",
            "no_overlap",
            "batches",
            "reconfiguration",
        ] {
            let mut inv = all_hold();
            match name {
                "conservation" => inv.conservation = false,
                "causality" => inv.causality = false,
                "no_overlap" => inv.no_overlap = false,
                "batches" => inv.batches = Some(false),
                _ => inv.reconfiguration = Some(false),
            }
            let e = require_invariants(&inv, "for 'p' on 3 GPUs").unwrap_err();
            assert!(matches!(e, Error::Internal(_)), "{name}: {e:?}");
            assert_eq!(e.exit_code(), 3, "{name}");
            assert!(
                e.to_string().ends_with(&format!(
                    "simulator invariants violated for 'p' on 3 GPUs: {name}"
                )),
                "{name}: {e}"
            );
        }
    }
}
