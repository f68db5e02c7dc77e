//! Building LLM profile rows from the shipped sources.
//!
//! - [`import_llmservingsim`]: LLMServingSim's per-layer tables of one GPU (`dense.csv`,
//!   `attention.csv`, `per_sequence.csv` under `tp<N>/`, measured on ONE decoder layer) →
//!   the step model, times the layer count: the dense table summed over its operators (exact at
//!   its points), the attention terms and the per-sequence terms fit by least squares on the
//!   relative error over the tables' own points ([`wls_relative`]).
//! - [`import_blis`]: BLIS's fitted coefficients (`defaults.yaml`), taken as they are:
//!   `c0 = b0`, `p1 = b1`, `d1 = b2`.
//!
//! The architecture (KV bytes per token, weights) comes from the model's `config.json`
//! ([`ModelArch`]). `docs/llm-profiles.md` describes the choices.

use crate::error::{Error, Result, num};
use crate::gpu::GpuSpec;
use crate::llm::profile::{LlmProfile, ModelArch, WHOLE};
use crate::llm::step::{StepContent, StepModel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// vLLM's default `max_num_seqs` and `max_num_batched_tokens` for a GPU (vLLM 0.19,
/// `EngineArgs`' usage-context defaults): 1024 sequences and 8192 tokens on a GPU with at least
/// 70 GiB other than an A100, else 256 and 2048.
pub fn vllm_default_limits(gpu: &str, gpu_memory_gib: f64) -> (u32, u32) {
    if gpu_memory_gib >= 70.0 && !gpu.to_ascii_uppercase().contains("A100") {
        (1024, 8192)
    } else {
        (256, 2048)
    }
}

/// Weighted least squares on the RELATIVE error: the coefficients `c` minimizing
/// `sum_i ((x_i . c - y_i) / y_i)^2`. Columns that are zero on every row get coefficient 0.
/// Solved by Householder QR on the scaled rows (`x_i / y_i`, target 1), columns scaled to unit
/// maximum first. `y_i` must be positive. An error names the first column the rows cannot
/// determine (`names[j]`).
pub fn wls_relative(x: &[Vec<f64>], y: &[f64], names: &[&str]) -> Result<Vec<f64>> {
    let m = names.len();
    let used: Vec<usize> = (0..m).filter(|&j| x.iter().any(|r| r[j] != 0.0)).collect();
    let n = used.len();
    let rows = x.len();
    if rows < n {
        return Err(Error::Other(format!(
            "{rows} points cannot determine {n} coefficients"
        )));
    }
    // The scaled system A c' = b, A[i][j] = x[i][used[j]] / y_i / scale_j, b_i = 1.
    let mut scale = vec![0.0f64; n];
    for r in x.iter().zip(y) {
        for (j, &u) in used.iter().enumerate() {
            scale[j] = scale[j].max((r.0[u] / r.1).abs());
        }
    }
    // Column-major copy for the Householder sweep.
    let mut a: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..rows).map(|i| x[i][used[j]] / y[i] / scale[j]).collect())
        .collect();
    let mut b = vec![1.0f64; rows];
    for k in 0..n {
        let norm = a[k][k..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm < 1e-12 {
            return Err(Error::Other(format!(
                "the points cannot determine coefficient {} (it moves with the others)",
                names[used[k]]
            )));
        }
        let alpha = if a[k][k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = a[k][k..].to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|t| t * t).sum();
        if vv > 0.0 {
            for col in a.iter_mut().skip(k) {
                let dot: f64 = v.iter().zip(&col[k..]).map(|(p, q)| p * q).sum();
                let f = 2.0 * dot / vv;
                for (c, p) in col[k..].iter_mut().zip(&v) {
                    *c -= f * p;
                }
            }
            let dot: f64 = v.iter().zip(&b[k..]).map(|(p, q)| p * q).sum();
            let f = 2.0 * dot / vv;
            for (c, p) in b[k..].iter_mut().zip(&v) {
                *c -= f * p;
            }
        }
        if a[k][k].abs() < 1e-12 * norm.max(1.0) {
            return Err(Error::Other(format!(
                "the points cannot determine coefficient {} (it moves with the others)",
                names[used[k]]
            )));
        }
    }
    let mut c = vec![0.0f64; n];
    for k in (0..n).rev() {
        let mut s = b[k];
        for j in k + 1..n {
            s -= a[j][k] * c[j];
        }
        c[k] = s / a[k][k];
    }
    let mut out = vec![0.0f64; m];
    for (j, &u) in used.iter().enumerate() {
        out[u] = c[j] / scale[j];
    }
    Ok(out)
}

/// Relative errors `|pred - y| / y`, summarized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorSummary {
    pub points: usize,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

impl ErrorSummary {
    /// Exact order statistics (nearest rank) of the relative errors.
    pub fn of(mut errs: Vec<f64>) -> ErrorSummary {
        errs.sort_by(f64::total_cmp);
        let n = errs.len();
        let at = |p: f64| {
            if n == 0 {
                0.0
            } else {
                errs[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
            }
        };
        ErrorSummary {
            points: n,
            p50: at(0.5),
            p90: at(0.9),
            max: errs.last().copied().unwrap_or(0.0),
        }
    }

    fn text(&self) -> String {
        format!(
            "{} points, p50 {:.1}% p90 {:.1}% max {:.1}%",
            self.points,
            100.0 * self.p50,
            100.0 * self.p90,
            100.0 * self.max
        )
    }
}

/// What a fit of LLMServingSim's tables measured on the tables' own points.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// The attention fit over every point of `attention.csv`.
    pub attention: ErrorSummary,
    /// Over its pure-prefill points (no decode).
    pub attention_prefill: ErrorSummary,
    /// Over its pure-decode points.
    pub attention_decode: ErrorSummary,
    /// Over its mixed points (a prefill chunk and decodes).
    pub attention_mixed: ErrorSummary,
    /// The lm_head + sampler fit over `per_sequence.csv`'s points.
    pub per_sequence: ErrorSummary,
    /// Points of the dense table (interpolated exactly there).
    pub dense_points: usize,
}

/// A small CSV of numbers with a header: each row's fields by column name.
struct Csv {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path, want: &[&str]) -> Result<Csv> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| Error::file(path, "empty: expected a header line"))?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        for w in want {
            if !header.iter().any(|h| h == w) {
                return Err(Error::column(
                    path,
                    w,
                    format!("missing (the header has: {})", header.join(", ")),
                ));
            }
        }
        let mut rows = Vec::new();
        for (i, l) in lines.enumerate() {
            let f: Vec<String> = l.split(',').map(|s| s.trim().to_string()).collect();
            if f.len() != header.len() {
                return Err(Error::cell(
                    path,
                    &header[0],
                    i,
                    format!("{} fields, expected {}", f.len(), header.len()),
                ));
            }
            rows.push(f);
        }
        if rows.is_empty() {
            return Err(Error::file(path, "no data rows"));
        }
        Ok(Csv {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap()
    }

    fn str(&self, row: usize, name: &str) -> &str {
        &self.rows[row][self.col(name)]
    }

    /// A finite number >= 0 (> 0 with `positive`).
    fn num(&self, row: usize, name: &str, positive: bool) -> Result<f64> {
        let s = self.str(row, name);
        let v: f64 = s
            .parse()
            .map_err(|_| Error::cell(&self.path, name, row, format!("'{s}' is not a number")))?;
        if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
            return Err(Error::cell(
                &self.path,
                name,
                row,
                format!(
                    "{s}: expected a finite number {}",
                    if positive { "> 0" } else { ">= 0" }
                ),
            ));
        }
        Ok(v)
    }

    /// A whole number >= 0.
    fn int(&self, row: usize, name: &str) -> Result<u64> {
        let s = self.str(row, name);
        s.parse().map_err(|_| {
            Error::cell(
                &self.path,
                name,
                row,
                format!("'{s}' is not an integer >= 0"),
            )
        })
    }
}

/// LLMServingSim's pooled skew correction for tensor parallelism `tp`
/// (`skew_fit: per_tp: <tp>: alpha_default: A` in `meta.yaml`), fitted by their profiler on
/// skewed decode batches it measured (the profile's own tables, not a serving run); `None`
/// when the profile has no skew fit.
pub fn skew_alpha(meta: &str, tp: u32) -> Option<f64> {
    let mut lines = meta
        .lines()
        .skip_while(|l| !l.starts_with("skew_fit:"))
        .skip(1);
    let want = format!("{tp}:");
    lines.by_ref().find(|l| l.trim() == "per_tp:")?;
    let at = lines.by_ref().find(|l| l.trim() == want)?;
    let indent = at.len() - at.trim_start().len();
    for l in lines {
        let i = l.len() - l.trim_start().len();
        if !l.trim().is_empty() && i <= indent {
            return None;
        }
        if let Some(v) = l.trim().strip_prefix("alpha_default:") {
            return v
                .trim()
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite() && *a >= 0.0);
        }
    }
    None
}

/// The top-level `key: value` scalars of a YAML file (unindented lines only; quotes dropped).
/// LLMServingSim's `meta.yaml` needs no more.
fn yaml_top_scalars(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in text.lines() {
        if l.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
            if !v.is_empty() {
                out.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    out
}

/// How many times each operator of LLMServingSim's `dense.csv` runs in one step, per
/// LLMServingSim's own pipeline (`profiler/models/<arch>.yaml`'s `sequence`): `embedding` and
/// `final_layernorm` once per step; `layernorm` twice per layer (input and post-attention
/// norms: the table holds the mean of one call); `qk_norm` twice per layer (q_norm and k_norm:
/// the table holds the mean of one call; LLMServingSim itself counts it once); every other
/// operator once per layer. `None` for an operator this importer does not know.
pub fn dense_multiplier(op: &str, layers: u64) -> Option<u64> {
    match op {
        "embedding" | "final_layernorm" => Some(1),
        "layernorm" | "qk_norm" => Some(2 * layers),
        "qkv_proj" | "rotary_emb" | "o_proj" | "gate_up_proj" | "act_fn" | "down_proj" => {
            Some(layers)
        }
        _ => None,
    }
}

/// Tensor-parallel all-reduce cost added to the dense term: two all-reduces per layer (after
/// o_proj and after down_proj, as vLLM's row-parallel layers do) of `T * hidden * dtype` bytes,
/// each a ring all-reduce over `tp` GPUs: `2 (tp - 1)` steps of `latency + bytes / (tp * bw)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllReduce {
    /// Per step of the ring, microseconds.
    pub latency_us: f64,
    /// Link bandwidth, GB/s (1e9 bytes/s).
    pub gbps: f64,
}

impl AllReduce {
    /// Microseconds of one step's all-reduces at `t` tokens.
    pub fn step_us(&self, t: f64, arch: &ModelArch, tp: u32) -> f64 {
        if tp <= 1 {
            return 0.0;
        }
        let tp = f64::from(tp);
        let bytes = t * (arch.hidden_size * arch.dtype_bytes) as f64;
        let one = 2.0 * (tp - 1.0) * (self.latency_us + bytes / (tp * self.gbps * 1e3));
        2.0 * arch.num_hidden_layers as f64 * one
    }
}

/// Options of [`import_llmservingsim`].
#[derive(Debug, Clone)]
pub struct LlmServingSimImport {
    /// The profile folder (`meta.yaml`, `tp<N>/`).
    pub dir: PathBuf,
    /// The model's Hugging Face `config.json`.
    pub model_config: PathBuf,
    pub tp: u32,
    /// The GPU kind's name (default: `meta.yaml`'s `hardware`).
    pub gpu: Option<String>,
    /// Memory of one GPU, GiB (required for a kind outside the MIG catalog).
    pub gpu_memory_gib: Option<f64>,
    /// The profile's model name (default: `meta.yaml`'s `model` after its last `/`).
    pub name: Option<String>,
    pub max_num_seqs: Option<u32>,
    pub max_num_batched_tokens: Option<u32>,
    pub block_size: Option<u32>,
    pub activation_bytes: u64,
    pub kv_blocks: u32,
    /// Tensor-parallel communication to add (none: the tables' times only).
    pub allreduce: Option<AllReduce>,
    /// Appended to the `source` string (licence, repository and commit).
    pub attribution: Option<String>,
}

/// The coefficient names of the attention fit, in feature order.
pub const ATTENTION_TERMS: [&str; 10] =
    ["p0", "p1", "p2", "p3", "d0", "d1", "d2", "m0", "m1", "m2"];

/// The attention features of a step (the order of [`ATTENTION_TERMS`]).
pub fn attention_features(c: &StepContent) -> Vec<f64> {
    let has_d = if c.d > 0 { 1.0 } else { 0.0 };
    let mixed = if c.np > 0 && c.d > 0 { 1.0 } else { 0.0 };
    vec![
        c.np as f64,
        c.p as f64,
        c.q as f64,
        c.kp as f64,
        has_d,
        c.d as f64,
        c.k as f64,
        mixed,
        mixed * c.d as f64,
        mixed * c.k as f64,
    ]
}

/// The content of one `attention.csv` row: one prefill chunk of `prefill_chunk` tokens after
/// `kv_prefill` cached ones (none when 0) and `n_decode` decodes, EACH with `kv_decode` tokens
/// in cache (the table's shots give every decode the same context: LLMServingSim's profiler
/// builds them so, and the time grows with `n_decode * kv_decode`).
pub fn attention_row_content(pc: u64, kp: u64, nd: u64, kd: u64) -> StepContent {
    let mut c = StepContent::default();
    if pc > 0 {
        c.add_prefill(pc, kp);
    }
    for _ in 0..nd {
        c.add_decode(kd);
    }
    c
}

/// Fit a step model from LLMServingSim's per-layer tables.
pub fn import_llmservingsim(o: &LlmServingSimImport) -> Result<(LlmProfile, FitReport)> {
    let meta_path = o.dir.join("meta.yaml");
    let meta_text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
    let meta = yaml_top_scalars(&meta_text);
    let arch = ModelArch::load(&o.model_config)?;
    let layers = arch.num_hidden_layers;
    let tpdir = o.dir.join(format!("tp{}", o.tp));
    if o.tp == 0 {
        return Err(Error::Usage("--tp must be at least 1".into()));
    }
    let gpu = match (&o.gpu, meta.get("hardware")) {
        (Some(g), _) => g.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) => {
            return Err(Error::file(
                &meta_path,
                "no 'hardware' key: name the GPU with --gpu",
            ));
        }
    };
    let gpu = GpuSpec::find(&gpu).map_or(gpu, |s| s.name.to_string());
    let name = match (&o.name, meta.get("model")) {
        (Some(n), _) => n.clone(),
        (None, Some(m)) => m.rsplit('/').next().unwrap_or(m).to_string(),
        (None, None) => {
            return Err(Error::file(
                &meta_path,
                "no 'model' key: name the model with --name",
            ));
        }
    };

    // Dense: the sum over operators at each token count.
    let dense_path = tpdir.join("dense.csv");
    let dense = Csv::read(&dense_path, &["layer", "tokens", "time_us"])?;
    let mut per_op: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for i in 0..dense.rows.len() {
        let op = dense.str(i, "layer").to_string();
        if dense_multiplier(&op, layers).is_none() {
            return Err(Error::cell(
                &dense_path,
                "layer",
                i,
                format!(
                    "unknown operator '{op}' (known: embedding, layernorm, qkv_proj, qk_norm, \
                     rotary_emb, o_proj, gate_up_proj, act_fn, down_proj, final_layernorm)"
                ),
            ));
        }
        let t = dense.int(i, "tokens")?;
        if t == 0 {
            return Err(Error::cell(&dense_path, "tokens", i, "0: expected >= 1"));
        }
        let us = dense.num(i, "time_us", false)?;
        if per_op
            .entry(op.clone())
            .or_default()
            .insert(t, us)
            .is_some()
        {
            return Err(Error::cell(
                &dense_path,
                "tokens",
                i,
                format!("operator '{op}' at {t} tokens a second time"),
            ));
        }
    }
    let grid: Vec<u64> = per_op.values().next().unwrap().keys().copied().collect();
    for (op, pts) in &per_op {
        if pts.keys().copied().collect::<Vec<_>>() != grid {
            return Err(Error::column(
                &dense_path,
                "tokens",
                format!("operator '{op}' is measured at other token counts than the others"),
            ));
        }
    }
    let dense_pts: Vec<[f64; 2]> = grid
        .iter()
        .map(|&t| {
            let mut y = 0.0;
            for (op, pts) in &per_op {
                y += dense_multiplier(op, layers).unwrap() as f64 * pts[&t];
            }
            if let Some(ar) = o.allreduce {
                y += ar.step_us(t as f64, &arch, o.tp);
            }
            [t as f64, y]
        })
        .collect();

    // Attention: relative least squares over the table's points, per layer, then x layers.
    let att_path = tpdir.join("attention.csv");
    let att = Csv::read(
        &att_path,
        &[
            "prefill_chunk",
            "kv_prefill",
            "n_decode",
            "kv_decode",
            "time_us",
        ],
    )?;
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut kind = Vec::new();
    for i in 0..att.rows.len() {
        let pc = att.int(i, "prefill_chunk")?;
        let kp = att.int(i, "kv_prefill")?;
        let nd = att.int(i, "n_decode")?;
        let kd = att.int(i, "kv_decode")?;
        let us = att.num(i, "time_us", true)?;
        if pc == 0 && nd == 0 {
            return Err(Error::cell(
                &att_path,
                "n_decode",
                i,
                "a row with neither a prefill chunk nor a decode",
            ));
        }
        let c = attention_row_content(pc, kp, nd, kd);
        xs.push(attention_features(&c));
        ys.push(us);
        kind.push(match (pc > 0, nd > 0) {
            (true, false) => 0,
            (false, true) => 1,
            _ => 2,
        });
    }
    let coef = wls_relative(&xs, &ys, &ATTENTION_TERMS)
        .map_err(|e| Error::file(&att_path, format!("attention fit: {e}")))?;
    let rel = |x: &[f64], c: &[f64], y: f64| {
        let pred: f64 = x.iter().zip(c).map(|(a, b)| a * b).sum();
        (pred - y).abs() / y
    };
    let errs: Vec<f64> = xs.iter().zip(&ys).map(|(x, &y)| rel(x, &coef, y)).collect();
    let by = |k: u8| {
        ErrorSummary::of(
            errs.iter()
                .zip(&kind)
                .filter(|(_, kk)| **kk == k)
                .map(|(e, _)| *e)
                .collect(),
        )
    };

    // Per sequence: lm_head + sampler at each sequence count, s0 + s1 * S.
    let seq_path = tpdir.join("per_sequence.csv");
    let seq = Csv::read(&seq_path, &["layer", "sequences", "time_us"])?;
    let mut sums: BTreeMap<u64, f64> = BTreeMap::new();
    let mut seq_ops: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..seq.rows.len() {
        let op = seq.str(i, "layer").to_string();
        let s = seq.int(i, "sequences")?;
        if s == 0 {
            return Err(Error::cell(&seq_path, "sequences", i, "0: expected >= 1"));
        }
        *sums.entry(s).or_default() += seq.num(i, "time_us", false)?;
        *seq_ops.entry(op).or_default() += 1;
    }
    let counts: Vec<usize> = seq_ops.values().copied().collect();
    if counts.iter().any(|&c| c != sums.len()) {
        return Err(Error::column(
            &seq_path,
            "sequences",
            "the operators are measured at different sequence counts",
        ));
    }
    let sx: Vec<Vec<f64>> = sums.keys().map(|&s| vec![1.0, s as f64]).collect();
    let sy: Vec<f64> = sums.values().copied().collect();
    let scoef = wls_relative(&sx, &sy, &["s0", "s1"])
        .map_err(|e| Error::file(&seq_path, format!("per-sequence fit: {e}")))?;
    let serr: Vec<f64> = sx
        .iter()
        .zip(&sy)
        .map(|(x, &y)| rel(x, &scoef, y))
        .collect();

    let report = FitReport {
        attention: ErrorSummary::of(errs.clone()),
        attention_prefill: by(0),
        attention_decode: by(1),
        attention_mixed: by(2),
        per_sequence: ErrorSummary::of(serr),
        dense_points: dense_pts.len(),
    };
    let l = layers as f64;
    let step = StepModel {
        c0: 0.0,
        dense: dense_pts,
        p0: coef[0] * l,
        p1: coef[1] * l,
        p2: coef[2] * l,
        p3: coef[3] * l,
        d0: coef[4] * l,
        d1: coef[5] * l,
        d2: coef[6] * l,
        m0: coef[7] * l,
        m1: coef[8] * l,
        m2: coef[9] * l,
        s0: scoef[0],
        s1: scoef[1],
        skew: skew_alpha(&meta_text, o.tp).unwrap_or(0.0),
    };

    let gpu_memory_gib = o.gpu_memory_gib;
    let mem_for_defaults = gpu_memory_gib
        .or_else(|| GpuSpec::find(&gpu).map(|s| f64::from(s.memory_gb)))
        .unwrap_or(0.0);
    let (dseqs, dtokens) = vllm_default_limits(&gpu, mem_for_defaults);
    let block_size = match o.block_size {
        Some(b) => b,
        None => match meta_text
            .lines()
            .find_map(|l| l.trim().strip_prefix("block_size:"))
        {
            Some(v) => v.trim().parse().map_err(|_| {
                Error::file(
                    &meta_path,
                    format!("block_size '{}' is not an integer", v.trim()),
                )
            })?,
            None => 16,
        },
    };
    let vllm = meta.get("vllm_version").map_or("?", |s| s.as_str());
    let mut source = format!(
        "llmservingsim {} {} tp{} (vLLM {vllm}; per-layer tables)",
        meta.get("hardware").map_or("?", |s| s.as_str()),
        meta.get("model").map_or("?", |s| s.as_str()),
        o.tp
    );
    if let Some(a) = &o.attribution {
        source.push_str(&format!(", {a}"));
    }
    let mut fit = format!(
        "per-layer tables x {layers} layers (embedding, final_layernorm x 1 per step; layernorm \
         and {} x 2 per layer; other dense operators x 1 per layer); dense: summed over \
         operators, exact at its {} points; attention (p0..p3, d0..d2, m0..m2): least squares on \
         relative error, {} (prefill {}; decode {}; mixed {}); lm_head+sampler (s0, s1): {}",
        if per_op.contains_key("qk_norm") {
            "qk_norm"
        } else {
            "qk_norm (absent)"
        },
        report.dense_points,
        report.attention.text(),
        report.attention_prefill.text(),
        report.attention_decode.text(),
        report.attention_mixed.text(),
        report.per_sequence.text()
    );
    if step.skew > 0.0 {
        fit.push_str(&format!(
            "; skew {} (meta.yaml skew_fit.per_tp.{}.alpha_default: LLMServingSim's pooled fit \
             on the skewed decode batches its profiler measured)",
            num(step.skew),
            o.tp
        ));
    }
    if let Some(ar) = o.allreduce {
        fit.push_str(&format!(
            "; dense includes tp{} ring all-reduce, 2 per layer, {} us + bytes / {} GB/s per ring \
             step",
            o.tp,
            num(ar.latency_us),
            num(ar.gbps)
        ));
    }
    let p = LlmProfile {
        gpu,
        slice: WHOLE.into(),
        model: name,
        gpu_memory_gib,
        tp: o.tp,
        weights_bytes: arch.weights_bytes(),
        kv_bytes_per_token: arch.kv_bytes_per_token(),
        kv_blocks: o.kv_blocks,
        activation_bytes: o.activation_bytes,
        max_num_seqs: o.max_num_seqs.unwrap_or(dseqs),
        max_num_batched_tokens: o.max_num_batched_tokens.unwrap_or(dtokens),
        block_size,
        source,
        fit,
        step,
    };
    Ok((p, report))
}

/// Options of [`import_blis`].
#[derive(Debug, Clone)]
pub struct BlisImport {
    /// BLIS's `defaults.yaml`.
    pub file: PathBuf,
    /// The model: BLIS's id (`meta-llama/llama-3.1-8b-instruct`) or its part after `/`.
    pub model: String,
    /// The GPU: a catalog kind (`A100-80GB`, `H100-80GB`) or BLIS's own name (`A100-80`, `H100`).
    pub gpu: String,
    pub tp: u32,
    /// Which vLLM version's coefficients, when the file has several (`v0.11.0` or the full
    /// image name).
    pub vllm_version: Option<String>,
    /// The model's `config.json` (default: `model_configs/<model>/config.json` beside FILE).
    pub model_config: Option<PathBuf>,
    /// BLIS's `hardware_config.json` (default: beside FILE).
    pub hardware_config: Option<PathBuf>,
    /// The profile's model name (default: the id after its `/`).
    pub name: Option<String>,
    pub max_num_seqs: Option<u32>,
    pub max_num_batched_tokens: Option<u32>,
    pub block_size: Option<u32>,
    pub activation_bytes: u64,
    pub kv_blocks: u32,
    /// Appended to the `source` string.
    pub attribution: Option<String>,
}

/// One entry of BLIS's `models:` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlisEntry {
    pub gpu: String,
    pub id: String,
    pub tp: u32,
    pub vllm_version: String,
    pub beta: Vec<f64>,
    /// BLIS's `best_loss` of the fit, when the entry has one.
    pub best_loss: Option<f64>,
    /// 1-based line of the entry in the file.
    pub line: usize,
}

/// The `models:` list of BLIS's `defaults.yaml`, read line by line: it is a list of flat maps
/// whose values are scalars or lists of numbers, which is all this reader accepts (no YAML
/// crate is a dependency and this subset is line-based).
pub fn read_blis_models(path: &Path) -> Result<Vec<BlisEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out: Vec<BlisEntry> = Vec::new();
    let mut inside = false;
    let mut list_key: Option<String> = None;
    let bad = |line: usize, msg: String| Error::file(path, format!("line {line}: {msg}"));
    for (i, raw) in text.lines().enumerate() {
        let ln = i + 1;
        let l = match raw.find(" #") {
            Some(k) => &raw[..k],
            None => raw,
        };
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        if indent == 0 && !l.starts_with('-') {
            inside = l.trim_end() == "models:";
            list_key = None;
            continue;
        }
        if !inside {
            continue;
        }
        let mut body = l.trim();
        if indent == 0 {
            // "- key: value": a new entry.
            out.push(BlisEntry {
                line: ln,
                ..BlisEntry::default()
            });
            body = body[1..].trim();
        } else if let Some(item) = body.strip_prefix("- ") {
            let key = list_key
                .as_deref()
                .ok_or_else(|| bad(ln, "a list item outside a list".into()))?;
            let v: f64 = item
                .trim()
                .parse()
                .map_err(|_| bad(ln, format!("'{}' in {key} is not a number", item.trim())))?;
            if key == "beta_coeffs" {
                out.last_mut().unwrap().beta.push(v);
            }
            continue;
        }
        let e = out
            .last_mut()
            .ok_or_else(|| bad(ln, "a key outside an entry".into()))?;
        let (k, v) = body
            .split_once(':')
            .ok_or_else(|| bad(ln, format!("'{body}': expected 'key: value'")))?;
        let (k, v) = (k.trim(), v.trim());
        list_key = None;
        match k {
            "GPU" => e.gpu = v.to_string(),
            "id" => e.id = v.to_string(),
            "vllm_version" => e.vllm_version = v.to_string(),
            "best_loss" => e.best_loss = v.parse().ok(),
            "tensor_parallelism" => {
                e.tp = v
                    .parse()
                    .map_err(|_| bad(ln, format!("tensor_parallelism '{v}' is not a number")))?
            }
            _ if v.is_empty() => list_key = Some(k.to_string()),
            _ => {}
        }
    }
    Ok(out)
}

/// BLIS's GPU name for a catalog kind or a name as given.
fn same_gpu(blis: &str, want: &str) -> bool {
    let canon = |s: &str| {
        if s.eq_ignore_ascii_case("A100-80") {
            "A100-80GB".to_string()
        } else {
            GpuSpec::find(s).map_or(s.to_ascii_uppercase(), |g| g.name.to_string())
        }
    };
    canon(blis) == canon(want)
}

/// Take BLIS's coefficients as they are: `c0 = b0`, `p1 = b1`, `d1 = b2` (microseconds).
pub fn import_blis(o: &BlisImport) -> Result<LlmProfile> {
    let models = read_blis_models(&o.file)?;
    let base = |id: &str| id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let want = o.model.to_ascii_lowercase();
    let hits: Vec<&BlisEntry> = models
        .iter()
        .filter(|e| e.id.to_ascii_lowercase() == want || base(&e.id) == base(&want))
        .filter(|e| same_gpu(&e.gpu, &o.gpu) && e.tp == o.tp)
        .filter(|e| {
            o.vllm_version
                .as_ref()
                .is_none_or(|v| e.vllm_version == *v || e.vllm_version.ends_with(&format!(":{v}")))
        })
        .collect();
    let e = match hits.as_slice() {
        [] => {
            return Err(Error::file(
                &o.file,
                format!(
                    "no entry for model '{}' on GPU '{}' at tensor_parallelism {}{}",
                    o.model,
                    o.gpu,
                    o.tp,
                    o.vllm_version
                        .as_ref()
                        .map_or(String::new(), |v| format!(" and vllm_version {v}"))
                ),
            ));
        }
        [e] => *e,
        many => {
            return Err(Error::file(
                &o.file,
                format!(
                    "{} entries for model '{}' on '{}' at tensor_parallelism {} (vLLM {}): pick \
                     one with --vllm-version",
                    many.len(),
                    o.model,
                    o.gpu,
                    o.tp,
                    many.iter()
                        .map(|e| e.vllm_version.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    if e.beta.len() != 3 {
        return Err(Error::file(
            &o.file,
            format!(
                "line {}: beta_coeffs of '{}' on {}: {} numbers, expected 3 (b0, b1, b2)",
                e.line,
                e.id,
                e.gpu,
                e.beta.len()
            ),
        ));
    }
    let dir = o.file.parent().unwrap_or(Path::new("."));
    let cfg = o.model_config.clone().unwrap_or_else(|| {
        dir.join("model_configs")
            .join(base(&e.id))
            .join("config.json")
    });
    let arch = ModelArch::load(&cfg)?;
    let hw_path = o
        .hardware_config
        .clone()
        .unwrap_or_else(|| dir.join("hardware_config.json"));
    let hw_text = std::fs::read_to_string(&hw_path).map_err(|err| Error::io(&hw_path, err))?;
    let hw: serde_json::Value = serde_json::from_str(&hw_text)
        .map_err(|err| Error::file(&hw_path, format!("not JSON: {err}")))?;
    let mem = hw
        .get(&e.gpu)
        .and_then(|g| g.get("MemoryGiB"))
        .and_then(|m| m.as_f64())
        .filter(|m| m.is_finite() && *m > 0.0)
        .ok_or_else(|| {
            Error::column(
                &hw_path,
                &format!("{}.MemoryGiB", e.gpu),
                "missing or not a positive number",
            )
        })?;
    let gpu = if e.gpu.eq_ignore_ascii_case("A100-80") {
        "A100-80GB".to_string()
    } else {
        GpuSpec::find(&o.gpu).map_or(o.gpu.clone(), |s| s.name.to_string())
    };
    let (dseqs, dtokens) = vllm_default_limits(&gpu, mem);
    let mut source = format!(
        "blis {} {} tp{} ({}; beta_coeffs as they are)",
        e.gpu, e.id, e.tp, e.vllm_version
    );
    if let Some(a) = &o.attribution {
        source.push_str(&format!(", {a}"));
    }
    Ok(LlmProfile {
        gpu,
        slice: WHOLE.into(),
        model: o.name.clone().unwrap_or_else(|| base(&e.id)),
        gpu_memory_gib: Some(mem),
        tp: o.tp,
        weights_bytes: arch.weights_bytes(),
        kv_bytes_per_token: arch.kv_bytes_per_token(),
        kv_blocks: o.kv_blocks,
        activation_bytes: o.activation_bytes,
        max_num_seqs: o.max_num_seqs.unwrap_or(dseqs),
        max_num_batched_tokens: o.max_num_batched_tokens.unwrap_or(dtokens),
        block_size: o.block_size.unwrap_or(16),
        source,
        fit: format!(
            "BLIS blackbox fit against real vLLM: step us = b0 + b1 * prefill tokens + b2 * \
             decode tokens (c0 = b0, p1 = b1, d1 = b2); BLIS's best_loss {}",
            e.best_loss.map_or("not given".to_string(), num)
        ),
        step: StepModel {
            c0: e.beta[0],
            p1: e.beta[1],
            d1: e.beta[2],
            ..StepModel::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wls_solves_a_small_exact_system() {
        // y = 2 + 3x at x = 1, 2, 4: exact, so any weighting gives (2, 3); a zero column gets 0.
        let x = vec![
            vec![1.0, 1.0, 0.0],
            vec![1.0, 2.0, 0.0],
            vec![1.0, 4.0, 0.0],
        ];
        let c = wls_relative(&x, &[5.0, 8.0, 14.0], &["a", "b", "z"]).unwrap();
        assert!((c[0] - 2.0).abs() < 1e-12 && (c[1] - 3.0).abs() < 1e-12 && c[2] == 0.0);
        // Two equal columns cannot be told apart.
        let x = vec![vec![1.0, 1.0], vec![2.0, 2.0]];
        let e = wls_relative(&x, &[1.0, 2.0], &["a", "b"]).unwrap_err();
        assert!(e.to_string().contains('b'), "{e}");
    }

    #[test]
    fn relative_weights_favour_small_values() {
        // Fit a constant to y = 1 and y = 3: minimizing ((c - 1)/1)^2 + ((c - 3)/3)^2 gives
        // c = (1 + 1/3) / (1 + 1/9) = 1.2 (by hand), not the unweighted mean 2.
        let c = wls_relative(&[vec![1.0], vec![1.0]], &[1.0, 3.0], &["c"]).unwrap();
        assert!((c[0] - 1.2).abs() < 1e-12, "{}", c[0]);
    }

    /// A synthetic LLMServingSim folder whose tables follow chosen per-layer coefficients.
    fn synthetic(dir: &Path, coef: &[f64; 10], s0: f64, s1: f64) {
        std::fs::create_dir_all(dir.join("tp1")).unwrap();
        std::fs::write(
            dir.join("meta.yaml"),
            "vllm_version: 0.19.0\nhardware: TOYGPU\nmodel: org/Toy-1B\nengine_effective:\n  \
             block_size: 16\n",
        )
        .unwrap();
        // Dense: embedding 1 us, layernorm 2 us, qkv_proj t us, final_layernorm 3 us.
        let mut d = String::from("layer,tokens,time_us\n");
        for t in [1, 2, 4, 8] {
            d += &format!(
                "embedding,{t},1\nlayernorm,{t},2\nqkv_proj,{t},{t}\nfinal_layernorm,{t},3\n"
            );
        }
        std::fs::write(dir.join("tp1/dense.csv"), d).unwrap();
        let mut a = String::from("prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n");
        for pc in [0u64, 16, 64, 256] {
            for kp in [0u64, 32, 512] {
                for nd in [0u64, 1, 8, 64] {
                    for kd in [16u64, 128, 1024] {
                        if (pc == 0 && (nd == 0 || kp > 0)) || (nd == 0 && kd > 16) {
                            continue;
                        }
                        let kd = if nd > 0 { kd } else { 0 };
                        // The contract's terms written out by hand (not attention_features).
                        let (f, n, k, dn) = (pc as f64, pc as f64, kp as f64, nd as f64);
                        let has_p = if pc > 0 { 1.0 } else { 0.0 };
                        let has_d = if nd > 0 { 1.0 } else { 0.0 };
                        let kk = dn * (kd as f64 + 1.0);
                        let y = coef[0] * has_p
                            + coef[1] * f
                            + coef[2] * n * (2.0 * k + n)
                            + coef[3] * k * has_p
                            + has_d * (coef[4] + coef[5] * dn + coef[6] * kk)
                            + has_p * has_d * (coef[7] + coef[8] * dn + coef[9] * kk);
                        a += &format!("{pc},{kp},{nd},{kd},{y}\n");
                    }
                }
            }
        }
        std::fs::write(dir.join("tp1/attention.csv"), a).unwrap();
        let mut s = String::from("layer,sequences,time_us\n");
        for n in [1u64, 2, 4, 16, 64] {
            // lm_head carries the line, sampler a constant 0 (the sum is what is fit).
            s += &format!("lm_head,{n},{}\nsampler,{n},0\n", s0 + s1 * n as f64);
        }
        std::fs::write(dir.join("tp1/per_sequence.csv"), s).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 64,
               "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
               "vocab_size": 1000, "torch_dtype": "bfloat16"}"#,
        )
        .unwrap();
    }

    #[test]
    fn the_fit_recovers_known_coefficients_from_a_synthetic_table() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("profile");
        // Per layer: p0..p3, d0..d2, m0..m2 (all positive so every time is > 0).
        let coef = [5.0, 0.04, 2.5e-5, 0.015, 11.0, 0.1, 0.003, 0.5, 0.55, 0.005];
        synthetic(&dir, &coef, 700.0, 1.5);
        let o = LlmServingSimImport {
            dir: dir.clone(),
            model_config: dir.join("config.json"),
            tp: 1,
            gpu: None,
            gpu_memory_gib: Some(24.0),
            name: None,
            max_num_seqs: None,
            max_num_batched_tokens: None,
            block_size: None,
            activation_bytes: 0,
            kv_blocks: 0,
            allreduce: None,
            attribution: None,
        };
        let (p, rep) = import_llmservingsim(&o).unwrap();
        assert_eq!((p.gpu.as_str(), p.model.as_str()), ("TOYGPU", "Toy-1B"));
        // 4 layers: every attention coefficient times 4.
        let got = [
            p.step.p0, p.step.p1, p.step.p2, p.step.p3, p.step.d0, p.step.d1, p.step.d2, p.step.m0,
            p.step.m1, p.step.m2,
        ];
        for (g, c) in got.iter().zip(coef) {
            assert!((g - 4.0 * c).abs() <= 1e-9 * (4.0 * c), "{got:?}");
        }
        assert!((p.step.s0 - 700.0).abs() < 1e-9 && (p.step.s1 - 1.5).abs() < 1e-12);
        assert!(rep.attention.max < 1e-9 && rep.per_sequence.max < 1e-12);
        // Dense by hand at t tokens: embedding 1 + final 3 + layernorm 2 x 2 x 4 layers
        // + qkv_proj t x 4 layers = 20 + 4t.
        assert_eq!(
            p.step.dense,
            vec![[1.0, 24.0], [2.0, 28.0], [4.0, 36.0], [8.0, 52.0]]
        );
        // 24 GiB is below 70: vLLM's small defaults; the block size from meta.yaml.
        assert_eq!(
            (p.max_num_seqs, p.max_num_batched_tokens, p.block_size),
            (256, 2048, 16)
        );
        // KV: 2 * 4 layers * 2 heads * 16 dims * 2 bytes.
        assert_eq!(p.kv_bytes_per_token, 512);
    }

    #[test]
    fn allreduce_by_hand() {
        let arch = ModelArch::parse(
            r#"{"num_hidden_layers": 64, "hidden_size": 5120, "num_attention_heads": 64,
               "intermediate_size": 25600, "vocab_size": 10}"#,
            Path::new("c.json"),
        )
        .unwrap();
        let ar = AllReduce {
            latency_us: 20.0,
            gbps: 16.0,
        };
        // tp 2, 128 tokens: 1,310,720 bytes; one all-reduce = 2 * (20 + 655,360 / 16,000)
        // = 121.92 us; two per layer, 64 layers: 15,605.76 us.
        assert!((ar.step_us(128.0, &arch, 2) - 15_605.76).abs() < 1e-6);
        assert_eq!(ar.step_us(128.0, &arch, 1), 0.0);
    }

    #[test]
    fn blis_models_are_read_line_by_line() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("d.yaml");
        std::fs::write(
            &f,
            "defaults:\n  x/y:\n    GPU: H100\nmodels:\n- GPU: H100\n  alpha_coeffs:\n    - 1.0\n  \
             beta_coeffs:\n  - 100.5  # b0\n  - 2.0\n  - 3.0\n  id: org/m-7b\n  \
             tensor_parallelism: 1\n  best_loss: 440.5\n  vllm_version: img:v1\n- GPU: A100-80\n  beta_coeffs:\n  \
             - 1\n  id: org/m-7b\n  tensor_parallelism: 2\n  vllm_version: img:v1\nversion: 1\n",
        )
        .unwrap();
        let m = read_blis_models(&f).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                m[0].gpu.as_str(),
                m[0].id.as_str(),
                m[0].tp,
                m[0].beta.clone()
            ),
            ("H100", "org/m-7b", 1, vec![100.5, 2.0, 3.0])
        );
        assert_eq!(
            (m[1].gpu.as_str(), m[1].tp, m[1].beta.len()),
            ("A100-80", 2, 1)
        );
        assert!(same_gpu("A100-80", "A100-80GB") && same_gpu("H100", "h100-80gb"));
        assert!(!same_gpu("H100", "A100-80GB"));
    }
}
