//! `mig-replay run`: one replay, `summary.json` and `queries.parquet`.

use super::{NAMES, ParamArgs, ServerArgs};
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::policy::{Registry, RunParams};
use crate::profile::Profiles;
use crate::report::{InputFile, QUERIES_ROW_GROUP, QueriesWriter, Summary};
use crate::scenario::{Inputs, PolicySource, Scenario};
use crate::trace::Trace;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Policy: PART+SCHED (e.g. paris+elsa) or an alias (fcfs, homogeneous, fixed); see `mig-replay policy list`.
    #[arg(long)]
    pub policy: String,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Latency SLA of every model in ms (`--param sla.<model>=MS` sets one model's): every
    /// query is judged by its own model's SLA, and SLA-aware policies use the same.
    #[arg(long, allow_negative_numbers = true)]
    pub sla_ms: Option<f64>,
    /// Divide every inter-arrival time by K (K = 2 doubles the offered load).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub rate_scale: f64,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write only summary.json, not the per-query queries.parquet (for sweeps and huge traces).
    #[arg(long)]
    pub no_queries: bool,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
    /// Require a streamed replay (the default whenever the run allows it): the trace is read
    /// twice (a first pass for its models and batch mix) and never held whole, queries.parquet
    /// is written as the replay goes, and percentiles are resolved exactly from values spilled
    /// to a temporary folder in --out (8 bytes per query for latency and for queueing delay, 8
    /// more when not exact), so memory stays bounded whatever the trace's length. The outputs
    /// are the same, byte for byte. A repartitioner or --timeline-s cannot stream: with
    /// --stream they are refused; without it the run is replayed in memory and says why. An
    /// unsorted trace is sorted in memory first.
    #[arg(long, conflicts_with = "in_memory")]
    pub stream: bool,
    /// Replay in memory even where the run could stream (the trace and every record held
    /// whole; the same outputs).
    #[arg(long)]
    pub in_memory: bool,
    /// Write timeline.parquet and the timeline plot with windows of this many simulated
    /// seconds (default for a run with a repartitioner: 1/200 of the replay, at least 1 ms;
    /// without one, no timeline unless given).
    #[arg(long, allow_negative_numbers = true)]
    pub timeline_s: Option<f64>,
    /// An LLM replay's SLO of one model (repeatable): MODEL:ttft_ms=MS,tpot_ms=MS (either
    /// bound may be left out). Goodput counts the requests that meet every bound.
    #[arg(long)]
    pub slo: Vec<String>,
}

/// The inputs of a run, with their hashes, as `summary.json` records them.
pub fn inputs(trace: &Trace, profiles: &Profiles) -> Result<BTreeMap<String, InputFile>> {
    let mut m = BTreeMap::new();
    m.insert(
        "trace".into(),
        InputFile {
            path: trace.path.display().to_string(),
            sha256: trace.sha256.get()?,
        },
    );
    m.insert(
        "profiles".into(),
        InputFile {
            path: profiles.path.display().to_string(),
            sha256: profiles.sha256.get()?,
        },
    );
    Ok(m)
}

/// `--timeline-s` as a window in ns, checked before anything runs or is written.
fn timeline_window(a: &RunArgs) -> Result<Option<u64>> {
    match a.timeline_s {
        Some(w) if w.is_finite() && w * 1e9 >= 1.0 && w * 1e9 <= u64::MAX as f64 => {
            Ok(Some((w * 1e9) as u64))
        }
        Some(w) => Err(Error::Usage(format!(
            "--timeline-s must be a number of seconds >= 1e-9, got {}",
            crate::error::num(w)
        ))),
        None => Ok(None),
    }
}

/// Refuse an `--out` that exists and is not a folder, or in which one of the `files` a
/// command writes is a folder, before anything is computed.
pub(super) fn check_out_dir(out: &std::path::Path, files: &[&str]) -> Result<()> {
    match std::fs::metadata(out) {
        Ok(m) if !m.is_dir() => Err(Error::Usage(format!(
            "--out {}: is a file; expected a folder (or a path that does not exist yet)",
            out.display()
        ))),
        Ok(_) => {
            for f in files {
                crate::io::atomic::check_target(&out.join(f))?;
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// Windows of at least `asked` ns, but no more of them over `end` ns than there are queries
/// (a window per query already resolves every completion) nor than a million (no one reads a
/// longer timeline). Returns the window and whether it was widened.
pub fn bounded_window(asked: u64, end: u64, queries: usize) -> (u64, bool) {
    let most = (queries.max(1) as u64).min(1_000_000);
    let w = asked.max(end.div_ceil(most)).max(1);
    (w, w > asked)
}

/// Why this run cannot stream, if it cannot: the reason in a few words, and the error that
/// `--stream` gets.
fn cannot_stream(a: &RunArgs, policy: &PolicySource) -> Option<(String, String)> {
    if a.timeline_s.is_some() {
        return Some((
            "--timeline-s needs every record in memory".into(),
            "--timeline-s is not available with --stream (the timeline needs every record in memory); run without --stream".into(),
        ));
    }
    if policy.reconfigurable() {
        return Some((
            format!(
                "the repartitioner '{}' reconfigures the server, reading windows of the entire trace",
                policy.repartitioner()
            ),
            format!(
                "--stream replays a server that never changes; the repartitioner '{}' reads windows of the entire trace (run without --stream)",
                policy.repartitioner()
            ),
        ));
    }
    None
}

pub fn run(a: RunArgs, registry: &Registry) -> Result<i32> {
    if super::llm_search::is_llm_profiles(&a.server.profiles) {
        return run_llm(a);
    }
    if !a.slo.is_empty() {
        return Err(Error::Usage(
            "--slo is an LLM run's (its --profiles an LLM profile file, .toml); a DNN run's SLA is --sla-ms".into(),
        ));
    }
    let t0 = Instant::now();
    let asked_window = timeline_window(&a)?;
    crate::trace::check_rate_scale(a.rate_scale, 0)?;
    check_out_dir(
        &a.out,
        &[
            "summary.json",
            "queries.parquet",
            "timeline.parquet",
            "timeline.svg",
            "timeline.png",
        ],
    )?;
    let gpu = GpuSpec::by_name(&a.server.gpu)?;
    let mut params = a.params.run_params()?;
    params.slas = params.slas.with_global(a.sla_ms);
    let policy = PolicySource::registered(registry, &a.policy, &params)?;
    match cannot_stream(&a, &policy) {
        Some((_, refused)) if a.stream => return Err(Error::Usage(refused)),
        Some((why, _)) if !a.in_memory && !a.quiet => {
            eprintln!("note: replaying in memory, not streamed: {why}");
        }
        None if !a.in_memory => return run_streamed(a, gpu, &params, policy, t0),
        _ => {}
    }
    let mut trace = Trace::load(&a.server.trace)?;
    trace.scale_rate(a.rate_scale)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    let scenario = Scenario::new(
        Inputs::of_run(trace, profiles, (gpu, a.server.gpus), policy, &params),
        &NAMES,
    )?;
    let (trace, profiles) = (scenario.trace(), scenario.profiles());
    let t_load = t0.elapsed();
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    // queries.parquet: its trace columns are encoded on a second thread while the
    // single-threaded replay runs.
    let mut queries = queries_writer(&a, scenario.service())?;
    let (r, prepared) = std::thread::scope(|s| {
        let prep = queries.as_mut().map(|q| s.spawn(|| q.prepare(trace)));
        let r = crate::drive::replay::replay(&scenario);
        let prepared = prep.map_or(Ok(Ok(())), |h| h.join());
        (r, prepared)
    });
    let r = r?;
    prepared.map_err(|_| Error::Internal("the queries.parquet thread panicked".into()))??;
    let t_sim = t0.elapsed() - t_load;
    let summary = Summary::new(&r, &trace.models, inputs(trace, profiles)?, a.rate_scale);
    let end = r.records.finish_ns.iter().copied().max().unwrap_or(0);
    let window = match asked_window {
        Some(w) => {
            let (b, widened) = bounded_window(w, end, trace.len());
            if widened {
                eprintln!(
                    "note: --timeline-s {} would cut the {} s replay into more windows than its {} queries (or a million); using windows of {} s",
                    crate::error::num(w as f64 / 1e9),
                    crate::error::num(end as f64 / 1e9),
                    trace.len(),
                    crate::error::num(b as f64 / 1e9)
                );
            }
            Some(b)
        }
        // At most a million windows: a longer timeline is not a figure anyone reads.
        None if r.repartition.is_some() => {
            Some(crate::metrics::timeline::default_window_ns(&r.records).max(end / 1_000_000))
        }
        None => None,
    };
    let t_write = Instant::now();
    if let Some(q) = queries {
        q.finish(trace, &r)?;
    }
    summary.write(&a.out.join("summary.json"))?;
    if let Some(w) = window {
        crate::report::timeline::write(&a.out, trace, &r, w)?;
    }
    if !a.quiet {
        print!("{}", summary.text());
        println!(
            "wrote {}/summary.json{} (load {:.0} ms, replay {:.0} ms, write {:.0} ms, total {:.0} ms)",
            a.out.display(),
            match (a.no_queries, window.is_some()) {
                (true, false) => "",
                (true, true) => ", timeline.parquet and timeline.svg/.png",
                (false, false) => " and queries.parquet",
                (false, true) => ", queries.parquet, timeline.parquet and timeline.svg/.png",
            },
            t_load.as_secs_f64() * 1e3,
            t_sim.as_secs_f64() * 1e3,
            t_write.elapsed().as_secs_f64() * 1e3,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    crate::drive::replay::require_invariants(&r.invariants, "(see summary.json)")?;
    Ok(0)
}

/// A streamed `run` (the default where the run allows it): the replay of [`crate::drive::stream`],
/// the same outputs.
fn run_streamed(
    a: RunArgs,
    gpu: GpuSpec,
    params: &RunParams,
    policy: PolicySource,
    t0: Instant,
) -> Result<i32> {
    let source = crate::drive::stream::Source::open(&a.server.trace, a.rate_scale)?;
    let profiles = Profiles::load(&a.server.profiles)?;
    let scenario = Scenario::new(
        Inputs::of_run(
            source.head(),
            profiles,
            (gpu, a.server.gpus),
            policy,
            params,
        ),
        &NAMES,
    )?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let queries = queries_writer(&a, scenario.service())?;
    let opts = crate::drive::stream::StreamOptions {
        rows_per_group: QUERIES_ROW_GROUP,
        cut_rows: crate::drive::stream::CUT_ROWS,
        spill_in: a.out.clone(),
    };
    let queries = queries.map(|q| Box::new(q) as Box<dyn crate::drive::stream::GroupSink>);
    let r = crate::drive::stream::replay_stream(&scenario, source, queries, &opts)?;
    let head = scenario.trace();
    let summary = Summary::new(
        &r,
        &head.models,
        inputs(head, scenario.profiles())?,
        a.rate_scale,
    );
    summary.write(&a.out.join("summary.json"))?;
    if !a.quiet {
        print!("{}", summary.text());
        println!(
            "wrote {}/summary.json{} (streamed: {:.0} ms in all)",
            a.out.display(),
            if a.no_queries {
                ""
            } else {
                " and queries.parquet"
            },
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    crate::drive::replay::require_invariants(&r.invariants, "(see summary.json)")?;
    Ok(0)
}

/// The writer of `--out`/queries.parquet (none with `--no-queries`): its batch columns exist
/// when batching can merge.
fn queries_writer(
    a: &RunArgs,
    service: &crate::service::ServiceModel,
) -> Result<Option<QueriesWriter>> {
    if a.no_queries {
        return Ok(None);
    }
    Ok(Some(QueriesWriter::create(
        &a.out.join("queries.parquet"),
        QueriesWriter::batched(service),
        QUERIES_ROW_GROUP,
    )?))
}

/// `run` on an LLM trace (its `--profiles` an LLM profile file, TOML): the replica replay of
/// [`crate::drive::llm`], `summary.json` and `queries.parquet`.
fn run_llm(a: RunArgs) -> Result<i32> {
    let t0 = Instant::now();
    super::llm_search::refuse_dnn_params(&a.params)?;
    for (given, flag) in [
        (
            a.sla_ms.is_some(),
            "--sla-ms (an LLM run's SLOs are --slo MODEL:ttft_ms=..,tpot_ms=..)",
        ),
        (a.timeline_s.is_some(), "--timeline-s"),
        (a.stream, "--stream"),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} is not available for an LLM replay"
            )));
        }
    }
    crate::trace::check_rate_scale(a.rate_scale, 0)?;
    check_out_dir(
        &a.out,
        &[
            "summary.json",
            "queries.parquet",
            "ttft-cdf.svg",
            "ttft-cdf.png",
            "tpot-cdf.svg",
            "tpot-cdf.png",
        ],
    )?;
    let policy = crate::policy::router::LlmPolicy::parse(&a.policy)?;
    let params = super::llm_search::llm_params(&a.params.param)?;
    let slos = super::llm_search::slos(&a.slo)?;
    let mut trace = Trace::load(&a.server.trace)?;
    trace.scale_rate(a.rate_scale)?;
    let profiles = crate::llm::profile::LlmProfiles::load(&a.server.profiles)?;
    let s = crate::drive::llm::LlmScenario {
        trace: &trace,
        profiles: &profiles,
        gpu: a.server.gpu.clone(),
        gpus: a.server.gpus,
        policy,
        params,
        slos,
    };
    let t_load = t0.elapsed();
    let r = crate::drive::llm::replay(&s)?;
    let t_sim = t0.elapsed() - t_load;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut inputs = BTreeMap::new();
    inputs.insert(
        "trace".to_string(),
        InputFile {
            path: trace.path.display().to_string(),
            sha256: trace.sha256.get()?,
        },
    );
    inputs.insert(
        "profiles".to_string(),
        InputFile {
            path: profiles.path.display().to_string(),
            sha256: crate::io::sha256_hex(
                &std::fs::read(&profiles.path).map_err(|e| Error::io(&profiles.path, e))?,
            ),
        },
    );
    let summary = crate::report::llm::LlmSummary {
        kind: "llm",
        policy: policy.name(),
        gpu: s.gpu.clone(),
        gpus: s.gpus,
        params: s.params.clone(),
        replicas: r.replicas.clone(),
        rate_scale: a.rate_scale,
        metrics: r.metrics.clone(),
        inputs,
        mig_replay_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    if !a.no_queries {
        crate::report::llm::write_queries(&a.out.join("queries.parquet"), &trace, &r)?;
    }
    let per_model = (0..trace.models.len() as u32)
        .map(|m| {
            let (a, b) = crate::report::llm::ttft_tpot_ms(&trace, &r, m);
            (trace.models[m as usize].clone(), a, b)
        })
        .collect();
    crate::report::llm::write_cdfs(&a.out, "", &summary.policy, per_model)?;
    summary.write(&a.out.join("summary.json"))?;
    if !a.quiet {
        print!("{}", summary.text());
        let tokens: u64 = r.outcome.replicas.iter().map(|x| x.tokens).sum();
        let secs = t_sim.as_secs_f64().max(1e-9);
        println!(
            "wrote {}/summary.json{}, ttft-cdf.svg/.png and tpot-cdf.svg/.png (load {:.0} ms, replay {:.0} ms: {:.3e} steps/s, {:.3e} simulated tokens/s; total {:.0} ms)",
            a.out.display(),
            if a.no_queries {
                ""
            } else {
                " and queries.parquet"
            },
            t_load.as_secs_f64() * 1e3,
            t_sim.as_secs_f64() * 1e3,
            r.metrics.steps as f64 / secs,
            tokens as f64 / secs,
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(0)
}
