//! The scenario of a replay: the trace, the profiles, the server (GPU kind and count), the
//! policy, the service model, the SLAs and the reconfiguration rules, checked together once
//! where they enter (the command line, a sweep's tasks) and carried as one value by every
//! driver: [`crate::drive::replay::replay`], [`crate::drive::stream::replay_stream`],
//! [`crate::drive::peak::find_peak`], [`crate::drive::capacity::plan`] and the sweep.
//!
//! Every check of these inputs lives here, and the SLA of every model is resolved here, once
//! ([`crate::sla`]): the partitioner, the scheduler, the metrics and the peak and plan criteria
//! all read [`Scenario::slas`]. A check's error names the input as the caller spells it
//! ([`Names`]: a command-line flag, a sweep key), so the library names no flag of its own.

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::policy::{Policy, Registry, RunParams};
use crate::profile::Profiles;
use crate::server::reconfig::ReconfigRules;
use crate::service::ServiceModel;
use crate::sla::{ModelSla, SlaSpec};
use crate::trace::Trace;
use std::sync::Arc;

/// The largest server a replay builds: more GPUs than any cluster holds, and few enough that
/// its state fits in memory.
pub const MAX_GPUS: usize = 100_000;

/// What the caller calls the inputs a check may refuse: a flag (`--gpus`) or a sweep key
/// (`key 'gpus'`).
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The GPU count.
    pub gpus: &'a str,
    /// The SLA of every model, ms.
    pub sla_ms: &'a str,
}

impl Default for Names<'_> {
    fn default() -> Self {
        Names {
            gpus: "the GPU count",
            sla_ms: "the SLA of every model (ms)",
        }
    }
}

/// A GPU count a server can have: 1 to [`MAX_GPUS`]; `name` is what the caller calls it.
pub fn check_gpus(gpus: usize, name: &str) -> Result<()> {
    if gpus == 0 || gpus > MAX_GPUS {
        return Err(Error::Usage(format!(
            "{name} must be between 1 and {MAX_GPUS}, got {gpus}"
        )));
    }
    Ok(())
}

/// An SLA in ms: a positive finite number; `name` is what the caller calls it.
pub fn check_sla_ms(ms: f64, name: &str) -> Result<()> {
    if !(ms.is_finite() && ms > 0.0) {
        return Err(Error::Usage(format!(
            "{name} must be a positive number, got {}",
            crate::error::num(ms)
        )));
    }
    Ok(())
}

/// Where a scenario's policy comes from: a fresh [`Policy`] per replay (a policy's scheduler
/// factory and repartitioner hold state), and what a first build told of it.
#[derive(Clone)]
pub struct PolicySource {
    label: String,
    make: Arc<dyn Fn() -> Result<Policy> + Send + Sync>,
    needs_sla: bool,
    identical_fcfs: bool,
    repartitioner: &'static str,
    reconfigurable: bool,
    reads_ahead: bool,
}

impl std::fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySource")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl PolicySource {
    /// The policy that `make` builds (once now, to check it and learn what the drivers need to
    /// know of it), named `label` in results and errors.
    pub fn new(
        label: impl Into<String>,
        make: impl Fn() -> Result<Policy> + Send + Sync + 'static,
    ) -> Result<PolicySource> {
        let p = make()?;
        Ok(PolicySource {
            label: label.into(),
            needs_sla: p.needs_sla,
            identical_fcfs: p.identical_fcfs,
            repartitioner: p.repartition.name,
            reconfigurable: !p.repartition.is_static(),
            reads_ahead: p.repartition.reads_ahead,
            make: Arc::new(make),
        })
    }

    /// Policy `label` (a name or `name[k=v,...]`) of `registry` for a run given `run`
    /// ([`Registry::build_for`]), named `label`; the run's reconfiguration rules are checked
    /// against its repartitioner.
    pub fn registered(registry: &Registry, label: &str, run: &RunParams) -> Result<PolicySource> {
        let (registry, l, r) = (registry.clone(), label.to_string(), run.clone());
        let s = PolicySource::new(label.trim(), move || registry.build_for(&l, &r))?;
        s.check_reconfig(&run.reconfig)?;
        Ok(s)
    }

    /// The same policy named `label` in results and errors (a sweep's label).
    pub fn labelled(mut self, label: impl Into<String>) -> PolicySource {
        self.label = label.into();
        self
    }

    /// A fresh policy.
    pub fn build(&self) -> Result<Policy> {
        (self.make)()
    }

    /// The name results and errors give the policy.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its scheduler needs an SLA for every model (the default rule fills the missing ones).
    pub fn needs_sla(&self) -> bool {
        self.needs_sla
    }

    /// Same layout on every GPU and plain FIFO ([`Policy::identical_fcfs`]).
    pub fn identical_fcfs(&self) -> bool {
        self.identical_fcfs
    }

    /// Its repartitioner reconfigures the server during the replay (it is not `static`).
    pub fn reconfigurable(&self) -> bool {
        self.reconfigurable
    }

    /// Its repartitioner's name (`static` when it never reconfigures).
    pub fn repartitioner(&self) -> &'static str {
        self.repartitioner
    }

    /// Its repartitioner reads the trace ahead of the clock (perfect foresight).
    pub fn reads_ahead(&self) -> bool {
        self.reads_ahead
    }

    /// The reconfiguration rules apply to a server that reconfigures: given to one that never
    /// does, they are refused, naming the first key.
    fn check_reconfig(&self, rules: &ReconfigRules) -> Result<()> {
        if !self.reconfigurable
            && let Some(k) = rules.given.keys().next()
        {
            return Err(Error::Usage(format!(
                "reconfig.{k} applies to a reconfigurable server, but the repartitioner is '{}' (it never reconfigures): give --repartition NAME (or repartition.name), or drop reconfig.{k}",
                self.repartitioner
            )));
        }
        Ok(())
    }
}

/// The inputs of a scenario, before they are checked ([`Scenario::new`]).
#[derive(Clone)]
pub struct Inputs {
    /// The whole trace as replayed, or a streamed replay's head ([`Trace::head`]: no rows, the
    /// whole trace's models and batch mix).
    pub trace: Arc<Trace>,
    pub profiles: Arc<Profiles>,
    pub gpu: GpuSpec,
    pub gpus: usize,
    pub policy: PolicySource,
    pub service: ServiceModel,
    pub slas: SlaSpec,
    pub reconfig: ReconfigRules,
}

impl Inputs {
    /// The inputs of a run given `run` (its service model, SLAs and reconfiguration rules).
    pub fn of_run(
        trace: impl Into<Arc<Trace>>,
        profiles: impl Into<Arc<Profiles>>,
        (gpu, gpus): (GpuSpec, usize),
        policy: PolicySource,
        run: &RunParams,
    ) -> Inputs {
        Inputs {
            trace: trace.into(),
            profiles: profiles.into(),
            gpu,
            gpus,
            policy,
            service: run.service.clone(),
            slas: run.slas.clone(),
            reconfig: run.reconfig.clone(),
        }
    }
}

/// A checked scenario (see the module docs). Its parts are read through its methods; a driver
/// that varies one (the rate scale, the GPU count) derives a scenario with [`Scenario::scaled`]
/// or [`Scenario::with_gpus`].
#[derive(Clone)]
pub struct Scenario {
    inputs: Inputs,
    /// The SLA of every trace model (trace-model order), resolved once.
    resolved: Vec<Option<ModelSla>>,
}

impl Scenario {
    /// Check every input, and resolve every model's SLA; `names` is what the caller calls
    /// the inputs a check may refuse.
    pub fn new(inputs: Inputs, names: &Names) -> Result<Scenario> {
        check_gpus(inputs.gpus, names.gpus)?;
        if let Some(s) = inputs.slas.global_ms {
            check_sla_ms(s, names.sla_ms)?;
        }
        inputs.policy.check_reconfig(&inputs.reconfig)?;
        let trace = &inputs.trace;
        if trace.queries() == 0 {
            return Err(Error::file(&trace.path, "trace has no queries"));
        }
        if trace.is_llm() {
            return Err(Error::file(
                &trace.path,
                "an LLM trace (prompt_tokens, output_tokens) replays on LLM replicas: give it an LLM profile file (--profiles profiles/llm.toml, docs/llm.md), not batch profiles",
            ));
        }
        let (profiles, gpu) = (&inputs.profiles, &inputs.gpu);
        if !profiles.gpus().iter().any(|g| g == gpu.name) {
            return Err(Error::file(
                &profiles.path,
                format!(
                    "no rows for GPU {}; the file profiles: {}",
                    gpu.name,
                    profiles.gpus().join(", ")
                ),
            ));
        }
        let resolved = inputs
            .slas
            .resolve(trace, profiles, gpu, inputs.policy.needs_sla)?;
        Ok(Scenario { inputs, resolved })
    }

    /// The same scenario with every inter-arrival time divided by `k`: the models and the batch
    /// mix, so the SLAs, stay as they are.
    pub fn scaled(&self, k: f64) -> Result<Scenario> {
        let mut t = (*self.inputs.trace).clone();
        t.scale_rate(k)?;
        let mut s = self.clone();
        s.inputs.trace = Arc::new(t);
        Ok(s)
    }

    /// The same scenario on `gpus` GPUs (checked as [`Scenario::new`] checks the count).
    pub fn with_gpus(&self, gpus: usize) -> Result<Scenario> {
        check_gpus(gpus, Names::default().gpus)?;
        let mut s = self.clone();
        s.inputs.gpus = gpus;
        Ok(s)
    }

    pub fn trace(&self) -> &Trace {
        &self.inputs.trace
    }
    pub fn profiles(&self) -> &Profiles {
        &self.inputs.profiles
    }
    pub fn gpu(&self) -> &GpuSpec {
        &self.inputs.gpu
    }
    pub fn gpus(&self) -> usize {
        self.inputs.gpus
    }
    pub fn policy(&self) -> &PolicySource {
        &self.inputs.policy
    }
    pub fn service(&self) -> &ServiceModel {
        &self.inputs.service
    }
    pub fn reconfig(&self) -> &ReconfigRules {
        &self.inputs.reconfig
    }
    /// The SLA of every trace model (trace-model order; `None` for a model without one), as
    /// resolved for this scenario.
    pub fn slas(&self) -> &[Option<ModelSla>] {
        &self.resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyParams;

    fn inputs(params: &[(&str, &str)], gpus: usize, global_ms: Option<f64>) -> Result<Inputs> {
        let mut prof = Profiles::default();
        for m in ["a", "b"] {
            prof.insert("A100-40GB", m, "7g.40gb", &[(1, 10.0)]);
        }
        let mut run = RunParams::split(PolicyParams::from_pairs(params))?;
        run.slas = run.slas.with_global(global_ms);
        // The baseline policy: whole GPUs, one FIFO queue.
        let name = crate::policy::DEFAULT_BASELINE;
        let policy = PolicySource::new(name, {
            let (reg, run) = (Registry::builtin(), run.clone());
            move || reg.build_for(name, &run)
        })?;
        Ok(Inputs::of_run(
            Trace::from_rows([(0, "a", 1), (5, "b", 1)]),
            prof,
            (GpuSpec::by_name("A100-40GB")?, gpus),
            policy,
            &run,
        ))
    }

    const NAMES: Names = Names {
        gpus: "--gpus",
        sla_ms: "key 'sla_ms'",
    };

    #[test]
    fn each_check_names_the_input_as_the_caller_does() {
        for (gpus, ok) in [
            (0, false),
            (1, true),
            (MAX_GPUS, true),
            (MAX_GPUS + 1, false),
        ] {
            let r = Scenario::new(inputs(&[], gpus, None).unwrap(), &NAMES);
            match r {
                Ok(s) => assert!(ok && s.gpus() == gpus, "{gpus}"),
                Err(e) => {
                    assert!(!ok, "{gpus}: {e}");
                    assert_eq!(e.exit_code(), 2);
                    assert_eq!(
                        e.to_string(),
                        format!("--gpus must be between 1 and 100000, got {gpus}")
                    );
                }
            }
        }
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let e = Scenario::new(inputs(&[], 1, Some(bad)).unwrap(), &NAMES)
                .err()
                .expect("refused");
            assert!(
                e.to_string()
                    .starts_with("key 'sla_ms' must be a positive number, got "),
                "{e}"
            );
        }
        // The one check of a GPU count, also what `with_gpus` applies.
        let s = Scenario::new(inputs(&[], 1, None).unwrap(), &NAMES).unwrap();
        assert!(s.with_gpus(0).is_err() && s.with_gpus(3).unwrap().gpus() == 3);
    }

    #[test]
    fn the_slas_are_resolved_once_and_kept_under_a_rate_scale() {
        let s = Scenario::new(inputs(&[("sla.b", "30")], 1, Some(15.0)).unwrap(), &NAMES).unwrap();
        let got = |s: &Scenario| {
            s.slas()
                .iter()
                .map(|x| x.as_ref().map(|x| (x.sla_ms, x.source.clone())))
                .collect::<Vec<_>>()
        };
        let want = vec![
            Some((15.0, "--sla-ms".to_string())),
            Some((30.0, "param sla.b".to_string())),
        ];
        assert_eq!(got(&s), want);
        let k = s.scaled(2.0).unwrap();
        assert_eq!(got(&k), want);
        // Halved arrivals: 5 ns at rate scale 2 arrives at 2.5, rounded to 3.
        assert_eq!(k.trace().arrival_ns, [0, 3]);
        // A model the trace lacks is refused, naming the key.
        let e = Scenario::new(inputs(&[("sla.c", "30")], 1, None).unwrap(), &NAMES)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("parameter 'sla.c'"), "{e}");
    }

    #[test]
    fn reconfiguration_rules_need_a_server_that_reconfigures() {
        let e = Scenario::new(
            inputs(&[("reconfig.cost_s", "3")], 1, None).unwrap(),
            &NAMES,
        )
        .err()
        .expect("refused");
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().starts_with(
                "reconfig.cost_s applies to a reconfigurable server, but the repartitioner is 'static'"
            ),
            "{e}"
        );
        let s = Scenario::new(
            inputs(
                &[
                    ("repartition.name", "periodic"),
                    ("reconfig.cost_s", "3"),
                    ("reconfig.drain", "gpu"),
                ],
                1,
                None,
            )
            .unwrap(),
            &NAMES,
        )
        .unwrap();
        assert!(s.policy().reconfigurable());
        assert_eq!(s.reconfig().model.cost_ns, 3_000_000_000);
        assert_eq!(
            s.reconfig().model.drain,
            crate::server::reconfig::Drain::Gpu
        );
        assert_eq!(s.reconfig().model.max_concurrent, 1);
    }
}
