//! `mig-replay trace import`: converters from public production traces to the trace schema.
//!
//! - **Azure LLM inference 2023** (`azure`): real timestamps (`TIMESTAMP`, 100 ns resolution,
//!   rounded to the microsecond); each request becomes one query of `--model` whose batch is
//!   `ceil(ContextTokens / --tokens-per-item)`, clamped to `[1, --max-batch]`: a prompt of N
//!   tokens is served as N/64 sequences of a 64-token encoder (the BERT profiles are measured at
//!   sequence length 64). `--tokens total` uses ContextTokens + GeneratedTokens instead.
//!   With `--llm` ([`azure_llm`]) each request keeps its token counts instead: an LLM trace
//!   (batch 1) with `prompt_tokens` = ContextTokens and `output_tokens` = GeneratedTokens.
//! - **A vLLM run** (`vllm-run`, [`vllm_run`]): the `requests.jsonl` + `meta.json` of a
//!   benchmark run in the format LLMServingSim ships (one JSON object per request with
//!   `input_toks`, `output_toks` and the engine's `queued_ts`), as an LLM trace whose arrivals
//!   are the engine's `queued_ts` (see [`vllm_run`] for why).
//! - **Alibaba GenAI 2026** (`alibaba`): real timestamps (`gmt_create`, 1 s resolution, so
//!   requests within one second share an arrival time); batch = `num_images_per_prompt` (empty
//!   cells count as 1, the Stable Diffusion default; counted in the notes); the K most requested
//!   `checkpoint_model_version_id`s map, in order of popularity, onto the K `--models`; the other
//!   ids (an empty id counts as one id, `(empty)`) are either spread over the same models by popularity rank (`--others spread`, default,
//!   keeps every arrival) or dropped (`--others drop`).
//!
//! Time starts at the first request. `--rate R` rescales time so that the mean rate is R
//! queries/s; without it the trace keeps its real time.

use super::{MAX_TOKENS, Trace};
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

/// A token count of `file`'s column `column` at `line` (1-based, the file's own numbering),
/// checked to be in `1..=MAX_TOKENS`.
fn token_count(file: &Path, column: &str, line: usize, v: i64) -> Result<u32> {
    if (1..=MAX_TOKENS as i64).contains(&v) {
        return Ok(v as u32);
    }
    let why = if v < 1 {
        "expected a token count >= 1".to_string()
    } else {
        format!("absurd; expected at most {MAX_TOKENS} tokens (2^20)")
    };
    Err(Error::column(
        file,
        column,
        format!("line {line}: value {v}: {why}"),
    ))
}

/// Import an Azure LLM inference trace CSV as an LLM trace (`trace import azure --llm`): every
/// request of model `model`, batch 1, `prompt_tokens` = ContextTokens and `output_tokens` =
/// GeneratedTokens, each in `1..=MAX_TOKENS` (an error names the line otherwise).
pub fn azure_llm(path: &Path, model: &str) -> Result<(Trace, ImportNotes)> {
    if model.trim().is_empty() {
        return Err(Error::Usage("--model must name the model".into()));
    }
    let c = CsvTable::read(path)?;
    let ts = c.timestamps_us("TIMESTAMP")?;
    let ctx = c.ints("ContextTokens")?;
    let gen_tokens = c.ints("GeneratedTokens")?;
    let mut rows = Vec::with_capacity(c.len());
    let t0 = ts.iter().copied().min().unwrap_or(0);
    for r in 0..c.len() {
        let p = token_count(path, "ContextTokens", r + 2, ctx[r])?;
        let o = token_count(path, "GeneratedTokens", r + 2, gen_tokens[r])?;
        rows.push(((ts[r] - t0) as u64 * 1000, model, p, o));
    }
    let t = Trace::from_llm_rows(rows);
    let mut notes = ImportNotes::default();
    notes.lines.push(format!(
        "{} LLM requests of {model}: prompt_tokens = ContextTokens, output_tokens = GeneratedTokens, batch 1",
        c.len()
    ));
    Ok((t, notes))
}

/// The last path component of a Hugging Face model id (`meta-llama/Llama-3.1-8B` ->
/// `Llama-3.1-8B`).
pub fn short_model_name(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// Import a vLLM benchmark run directory (`trace import vllm-run DIR`): `DIR/requests.jsonl`,
/// one JSON object per line with `input_toks`, `output_toks` and `queued_ts` (seconds, float),
/// and `DIR/meta.json` (`model`, `engine_kwargs`), as LLMServingSim's `bench/examples` ship them.
///
/// Arrivals are the engine clock's `queued_ts` minus the smallest, rounded to the nearest
/// microsecond. Why `queued_ts` and not `arrival_time`: `queued_ts` is the moment vLLM's engine
/// core put the request in its scheduler's waiting queue, on the same monotonic clock as the
/// `scheduled_ts`, `first_token_ts` and `last_token_ts` the run's TTFT, TPOT and latency are
/// measured on; it is when the engine a replay models first sees the request. `arrival_time` is
/// the front end's wall clock (`time.time()`, another clock, so it cannot be subtracted from
/// the others), stamped before tokenization and the hand-over to the engine core, so it also
/// holds client- and front-end-side delay that no engine model reproduces.
///
/// The model is `model` when given, else the last path component of `meta.json`'s `model`.
/// Ids: the number after the last `-` of every `request_id` when they all have one and are
/// distinct (`bench-17` -> 17), else the 0-based line order of the requests.
pub fn vllm_run(dir: &Path, model: Option<&str>) -> Result<(Trace, ImportNotes)> {
    let req = dir.join("requests.jsonl");
    let meta_path = dir.join("meta.json");
    let meta: Option<serde_json::Value> = if meta_path.exists() || model.is_none() {
        let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        Some(serde_json::from_str(&text).map_err(|e| {
            Error::file(&meta_path, format!("not JSON: {e}; expected a JSON object"))
        })?)
    } else {
        None
    };
    let model = match model {
        Some(m) if !m.trim().is_empty() => m.to_string(),
        Some(_) => return Err(Error::Usage("--model must name the model".into())),
        None => {
            let id = meta
                .as_ref()
                .and_then(|m| m.get("model"))
                .and_then(|v| v.as_str())
                .filter(|s| !short_model_name(s).trim().is_empty())
                .ok_or_else(|| {
                    Error::column(
                        &meta_path,
                        "model",
                        "missing or not a non-empty string; expected the served model's name (or give --model)",
                    )
                })?;
            short_model_name(id).to_string()
        }
    };
    let text = std::fs::read_to_string(&req).map_err(|e| Error::io(&req, e))?;
    let at = |line: usize, field: &str, msg: String| {
        Error::column(&req, field, format!("line {line}: {msg}"))
    };
    let (mut queued, mut prompt, mut output, mut names) = (vec![], vec![], vec![], vec![]);
    for (k, l) in text.lines().enumerate() {
        let line = k + 1;
        if l.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| {
            Error::file(
                &req,
                format!("line {line}: not JSON ({e}); expected one JSON object per line"),
            )
        })?;
        let int = |field: &str| -> Result<i64> {
            match v.get(field) {
                None => Err(at(line, field, "missing field".into())),
                Some(x) => x.as_i64().ok_or_else(|| {
                    at(
                        line,
                        field,
                        format!("{x} is not an integer; expected a token count"),
                    )
                }),
            }
        };
        prompt.push(token_count(&req, "input_toks", line, int("input_toks")?)?);
        output.push(token_count(&req, "output_toks", line, int("output_toks")?)?);
        let q = match v.get("queued_ts") {
            None => return Err(at(line, "queued_ts", "missing field".into())),
            Some(x) => x.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                at(
                    line,
                    "queued_ts",
                    format!("{x} is not a number; expected the engine's queue time in seconds"),
                )
            })?,
        };
        queued.push((q, line));
        names.push(
            v.get("request_id")
                .and_then(|x| x.as_str())
                .map(str::to_string),
        );
    }
    if queued.is_empty() {
        return Err(Error::file(
            &req,
            "no requests; expected one JSON object per line",
        ));
    }
    let q0 = queued.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
    let mut arrival_ns = Vec::with_capacity(queued.len());
    for &(q, line) in &queued {
        let us = ((q - q0) * 1e6).round();
        if us * 1000.0 > super::MAX_TIME_NS as f64 {
            return Err(at(
                line,
                "queued_ts",
                format!("{q} s is more than 2^62 ns after the first request's {q0} s"),
            ));
        }
        arrival_ns.push(us as u64 * 1000);
    }
    // Ids: the request ids' numbers when they all have distinct ones, else the line order.
    let numbered: Option<Vec<i64>> = names
        .iter()
        .map(|n| n.as_deref()?.rsplit_once('-')?.1.parse::<i64>().ok())
        .collect();
    let ids = match numbered {
        Some(v)
            if {
                let mut s = v.clone();
                s.sort_unstable();
                s.windows(2).all(|w| w[0] != w[1])
            } =>
        {
            v
        }
        _ => (0..queued.len() as i64).collect(),
    };
    let mut t = Trace {
        models: vec![model.clone()],
        model: vec![0; arrival_ns.len()],
        batch: vec![1; arrival_ns.len()],
        arrival_ns,
        id: ids,
        tokens: Some(super::Tokens { prompt, output }),
        ..Trace::default()
    };
    t.sort_stable();
    t.compact_ids();
    let mut notes = ImportNotes::default();
    notes.lines.push(format!(
        "{} LLM requests of {model} from {}; arrivals = queued_ts - {q0} s (the engine clock), to the microsecond",
        t.len(),
        req.display()
    ));
    if let Some(m) = &meta {
        let kw = m.get("engine_kwargs");
        let get = |k: &str| {
            kw.and_then(|w| w.get(k))
                .map_or("?".to_string(), |v| v.to_string())
        };
        notes.lines.push(format!(
            "engine (meta.json): vllm {}, tensor_parallel_size {}, max_num_seqs {}, max_num_batched_tokens {}",
            m.get("vllm_version").and_then(|v| v.as_str()).unwrap_or("?"),
            get("tensor_parallel_size"),
            get("max_num_seqs"),
            get("max_num_batched_tokens")
        ));
    }
    Ok((t, notes))
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
