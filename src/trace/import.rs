//! `mig-replay trace import`: converters from public production traces to the trace schema.
//!
//! - **Azure LLM inference 2023** (`azure`): real timestamps (`TIMESTAMP`, 100 ns resolution,
//!   rounded to the microsecond); each request becomes one query of `--model` whose batch is
//!   `ceil(ContextTokens / --tokens-per-item)`, clamped to `[1, --max-batch]`: a prompt of N
//!   tokens is served as N/64 sequences of a 64-token encoder (the BERT profiles are measured at
//!   sequence length 64). `--tokens total` uses ContextTokens + GeneratedTokens instead.
//! - **Alibaba GenAI 2026** (`alibaba`): real timestamps (`gmt_create`, 1 s resolution, so
//!   requests within one second share an arrival time); batch = `num_images_per_prompt` (empty
//!   cells count as 1, the Stable Diffusion default; counted in the notes); the K most requested
//!   `checkpoint_model_version_id`s map, in order of popularity, onto the K `--models`; the other
//!   ids (an empty id counts as one id, `(empty)`) are either spread over the same models by popularity rank (`--others spread`, default,
//!   keeps every arrival) or dropped (`--others drop`).
//!
//! Time starts at the first request. `--rate R` rescales time so that the mean rate is R
//! queries/s; without it the trace keeps its real time.

use super::Trace;
use crate::error::{Error, Result};
use crate::io::csv::CsvTable;
use std::collections::HashMap;
use std::path::Path;

/// What an import did, for the terminal and the README.
#[derive(Debug, Clone, Default)]
pub struct ImportNotes {
    pub lines: Vec<String>,
}

fn to_trace(ts_us: &[i64], models: &[String], batch: &[u32]) -> Trace {
    let t0 = ts_us.iter().copied().min().unwrap_or(0);
    Trace::from_rows(
        ts_us
            .iter()
            .zip(models)
            .zip(batch)
            .map(|((&t, m), &b)| (((t - t0) as u64) * 1000, m.as_str(), b)),
    )
}

/// Rescale time so that the mean rate ((n-1)/span) is `rate` queries/s.
pub fn rescale_to_rate(t: &mut Trace, rate: f64, notes: &mut ImportNotes) -> Result<()> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Error::Usage(format!(
            "--rate must be > 0 queries/s, got {}",
            crate::error::num(rate)
        )));
    }
    let n = t.len();
    let span =
        t.arrival_ns.last().copied().unwrap_or(0) - t.arrival_ns.first().copied().unwrap_or(0);
    if n < 2 || span == 0 {
        return Err(Error::Usage(
            "cannot rescale a trace with fewer than two distinct arrival times".into(),
        ));
    }
    let native = (n - 1) as f64 / (span as f64 / 1e9);
    t.scale_rate(rate / native)?;
    // Keep whole microseconds, as the Parquet schema stores them.
    for a in &mut t.arrival_ns {
        *a = *a / 1000 * 1000;
    }
    notes.lines.push(format!(
        "time rescaled by {:.6}: mean rate {native:.4} -> {rate} queries/s",
        native / rate
    ));
    Ok(())
}

/// Which token count makes the batch of an Azure request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenRule {
    /// ContextTokens (the prompt).
    Context,
    /// ContextTokens + GeneratedTokens.
    Total,
}

/// Import an Azure LLM inference trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`).
pub fn azure(
    path: &Path,
    model: &str,
    tokens_per_item: u32,
    max_batch: u32,
    rule: TokenRule,
) -> Result<(Trace, ImportNotes)> {
    if tokens_per_item == 0 || max_batch == 0 {
        return Err(Error::Usage(
            "--tokens-per-item and --max-batch must be >= 1".into(),
        ));
    }
    let c = CsvTable::read(path)?;
    let ts = c.timestamps_us("TIMESTAMP")?;
    let ctx = c.ints_at_least("ContextTokens", 0)?;
    let gen_tokens = c.ints_at_least("GeneratedTokens", 0)?;
    let mut clamped = 0;
    let mut batch = Vec::with_capacity(c.len());
    for r in 0..c.len() {
        let tokens = match rule {
            TokenRule::Context => ctx[r],
            TokenRule::Total => ctx[r] + gen_tokens[r],
        } as u64;
        let b = tokens.div_ceil(tokens_per_item as u64).max(1);
        if b > max_batch as u64 {
            clamped += 1;
        }
        batch.push(b.min(max_batch as u64) as u32);
    }
    let models = vec![model.to_string(); c.len()];
    let mut notes = ImportNotes::default();
    notes.lines.push(format!(
        "{} requests; batch = ceil({} / {tokens_per_item}) clamped to [1, {max_batch}]; {clamped} clamped at {max_batch}",
        c.len(),
        if rule == TokenRule::Context { "ContextTokens" } else { "(ContextTokens + GeneratedTokens)" }
    ));
    Ok((to_trace(&ts, &models, &batch), notes))
}

/// What to do with Alibaba model ids beyond the top K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Others {
    /// Map the id of popularity rank r to models[r mod K]: every arrival is kept.
    Spread,
    /// Drop requests of the less popular ids.
    Drop,
}

/// Import the Alibaba GenAI 2026 LoRA request trace CSV.
pub fn alibaba(path: &Path, models: &[String], others: Others) -> Result<(Trace, ImportNotes)> {
    if models.is_empty() {
        return Err(Error::Usage(
            "give at least one model to map onto (--models)".into(),
        ));
    }
    let c = CsvTable::read(path)?;
    let ts = c.timestamps_us("gmt_create")?;
    let raw_ids = c.optional_strings("checkpoint_model_version_id")?;
    let empty_ids = raw_ids.iter().filter(|i| i.is_none()).count();
    let ids: Vec<String> = raw_ids
        .into_iter()
        .map(|i| i.unwrap_or_else(|| "(empty)".into()))
        .collect();
    let raw = c.optional_floats("num_images_per_prompt")?;
    // Popularity rank of each id: by request count, ties by id.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *count.entry(id).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = count.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rank: HashMap<&str, usize> = ranked
        .iter()
        .enumerate()
        .map(|(r, (id, _))| (*id, r))
        .collect();
    let k = models.len();
    let (mut t_us, mut ms, mut bs) = (vec![], vec![], vec![]);
    let (mut missing, mut dropped) = (0, 0);
    for r in 0..c.len() {
        let rk = rank[ids[r].as_str()];
        if rk >= k && others == Others::Drop {
            dropped += 1;
            continue;
        }
        let b = match raw[r] {
            None => {
                missing += 1;
                1
            }
            Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => v as u32,
            Some(v) => {
                return Err(Error::column(
                    path,
                    "num_images_per_prompt",
                    format!(
                        "line {}: {v}; expected an integer >= 1 or an empty cell",
                        r + 2
                    ),
                ));
            }
        };
        t_us.push(ts[r]);
        ms.push(models[rk % k].clone());
        bs.push(b);
    }
    if t_us.is_empty() {
        return Err(Error::file(
            path,
            "no requests left after mapping model ids",
        ));
    }
    let mut notes = ImportNotes::default();
    let top: Vec<String> = ranked
        .iter()
        .take(k)
        .zip(models)
        .map(|((id, c), m)| format!("{id} ({c} requests) -> {m}"))
        .collect();
    notes.lines.push(format!(
        "{} requests, {} distinct model ids; top {k}: {}",
        c.len(),
        ranked.len(),
        top.join(", ")
    ));
    notes.lines.push(match others {
        Others::Spread => format!("the other {} ids spread over the models by popularity rank (rank r -> model r mod {k})", ranked.len().saturating_sub(k)),
        Others::Drop => format!("{dropped} requests of the other ids dropped"),
    });
    notes.lines.push(format!(
        "batch = num_images_per_prompt; {missing} empty cells counted as 1"
    ));
    notes.lines.push(format!(
        "{empty_ids} requests with an empty checkpoint_model_version_id ranked as one id, '(empty)'"
    ));
    Ok((to_trace(&t_us, &ms, &bs), notes))
}
