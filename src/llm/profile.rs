//! LLM profiles (`profiles/llm.toml`): one `[[profile]]` row per (gpu, slice, model) with the
//! memory a replica needs (weights, KV bytes per token, a measured KV block count when there is
//! one), the scheduler's limits (`max_num_seqs`, `max_num_batched_tokens`, `block_size`) and
//! the step-time model ([`StepModel`]) with its provenance and fit error. [`ModelArch`] reads a
//! Hugging Face `config.json` and derives the KV size and the weights from the architecture.
//! Format and rules: `docs/llm-profiles.md`.

use crate::error::{Error, Result, num};
use crate::gpu::GpuSpec;
use crate::llm::step::StepModel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The slice name of a whole-GPU profile row.
pub const WHOLE: &str = "whole";

/// Bytes in a GiB.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One profile row: a model served on one GPU kind (or slice of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProfile {
    /// A MIG catalog kind (`A100-80GB`, ...) or any other name (a whole-GPU kind).
    pub gpu: String,
    /// `whole` or a slice name of the kind.
    pub slice: String,
    /// The trace's model name.
    pub model: String,
    /// Memory of ONE GPU in GiB (2^30 bytes); required for a kind outside the catalog, else the
    /// catalog's (the whole GPU's, or the slice's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_gib: Option<f64>,
    /// Tensor parallelism: GPUs per replica.
    pub tp: u32,
    /// Weights of the whole model (all `tp` GPUs together), bytes.
    pub weights_bytes: u64,
    /// KV bytes per token of the whole model: 2 * layers * KV heads * head dim * dtype bytes.
    pub kv_bytes_per_token: u64,
    /// Measured usable KV blocks (0 = unknown: derived from the memory).
    #[serde(default)]
    pub kv_blocks: u32,
    /// Memory held beside weights and KV (activations, CUDA graphs), all GPUs together.
    #[serde(default)]
    pub activation_bytes: u64,
    /// vLLM's `max_num_seqs`.
    pub max_num_seqs: u32,
    /// vLLM's `max_num_batched_tokens` (the token budget of a step).
    pub max_num_batched_tokens: u32,
    /// Tokens per KV block.
    pub block_size: u32,
    /// Where the numbers come from (source, licence, commit).
    pub source: String,
    /// How the step model was fit and its error on the source's own points.
    #[serde(default)]
    pub fit: String,
    /// The step-time model, microseconds.
    pub step: StepModel,
}

impl LlmProfile {
    /// `gpu/slice/model`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.gpu, self.slice, self.model)
    }

    /// Memory of one GPU (or of the slice) in bytes: `gpu_memory_gib` when given, else the MIG
    /// catalog's figure for the kind or its slice (its nominal GB read as GiB). `None` for a kind
    /// outside the catalog without `gpu_memory_gib` (a loaded profile always has one).
    pub fn gpu_memory_bytes(&self) -> Option<f64> {
        if let Some(g) = self.gpu_memory_gib {
            return Some(g * GIB);
        }
        let spec = GpuSpec::find(&self.gpu)?;
        let gb = if self.slice.eq_ignore_ascii_case("whole") {
            spec.memory_gb
        } else {
            spec.profiles[spec.slice_id(&self.slice)?].memory_gb
        };
        Some(f64::from(gb) * GIB)
    }

    /// Usable KV blocks of one replica (the contract's section 3): `kv_blocks` when measured,
    /// else `floor((tp * gpu_memory * gpu_memory_utilization - weights - activation) /
    /// (block_size * kv_bytes_per_token))`, with `block_size` overridden by `block_size` when
    /// given. Errors (exit 2) when fewer than one block fits, naming the model and the GPU.
    pub fn kv_blocks(&self, gpu_memory_utilization: f64, block_size: Option<u32>) -> Result<u32> {
        if !(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0) {
            return Err(Error::Usage(format!(
                "llm.gpu_memory_utilization must be in (0, 1], got {}",
                num(gpu_memory_utilization)
            )));
        }
        let bs = block_size.unwrap_or(self.block_size);
        if bs == 0 {
            return Err(Error::Usage("llm.block_size must be at least 1".into()));
        }
        if self.kv_blocks > 0 {
            return Ok(self.kv_blocks);
        }
        let mem = self.gpu_memory_bytes().ok_or_else(|| {
            Error::Usage(format!(
                "{}: GPU '{}' is not in the MIG catalog and the profile has no gpu_memory_gib",
                self.label(),
                self.gpu
            ))
        })?;
        let avail = f64::from(self.tp) * mem * gpu_memory_utilization
            - self.weights_bytes as f64
            - self.activation_bytes as f64;
        let per_block = f64::from(bs) * self.kv_bytes_per_token as f64;
        let n = (avail / per_block).floor();
        if n < 1.0 {
            return Err(Error::Usage(format!(
                "model {} does not fit on {} ({} x {} GiB at gpu_memory_utilization {}): weights \
                 exceed the memory, or leave less than one KV block of {} tokens ({} weights + {} \
                 activation bytes, {} KV bytes per token)",
                self.model,
                if self.slice.eq_ignore_ascii_case("whole") {
                    self.gpu.clone()
                } else {
                    format!("{} {}", self.gpu, self.slice)
                },
                self.tp,
                num(mem / GIB),
                num(gpu_memory_utilization),
                bs,
                self.weights_bytes,
                self.activation_bytes,
                self.kv_bytes_per_token
            )));
        }
        Ok(n.min(f64::from(u32::MAX)) as u32)
    }

    /// Check one row; `i` is its 0-based index in the file.
    fn check(&self, path: &Path, i: usize) -> Result<()> {
        let bad = |key: &str, msg: String| {
            Error::file(
                path,
                format!("profile {i} ({}), key '{key}': {msg}", self.label()),
            )
        };
        for (key, v) in [
            ("gpu", &self.gpu),
            ("slice", &self.slice),
            ("model", &self.model),
            ("source", &self.source),
        ] {
            if v.trim().is_empty() {
                return Err(bad(key, "must not be empty".into()));
            }
        }
        let spec = GpuSpec::find(&self.gpu);
        if let Some(spec) = &spec {
            if !self.slice.eq_ignore_ascii_case("whole") && spec.slice_id(&self.slice).is_none() {
                return Err(bad("slice", spec.unknown_slice(&self.slice)));
            }
        } else if !self.slice.eq_ignore_ascii_case("whole") {
            return Err(bad(
                "slice",
                format!(
                    "'{}': GPU '{}' is not in the MIG catalog, so its only slice is 'whole'",
                    self.slice, self.gpu
                ),
            ));
        }
        match self.gpu_memory_gib {
            Some(g) if !(g.is_finite() && g > 0.0) => {
                return Err(bad(
                    "gpu_memory_gib",
                    format!("must be a positive number of GiB, got {}", num(g)),
                ));
            }
            None if spec.is_none() => {
                return Err(bad(
                    "gpu_memory_gib",
                    format!(
                        "missing: GPU '{}' is not in the MIG catalog, so its memory must be given",
                        self.gpu
                    ),
                ));
            }
            _ => {}
        }
        for (key, v) in [
            ("tp", self.tp),
            ("max_num_seqs", self.max_num_seqs),
            ("max_num_batched_tokens", self.max_num_batched_tokens),
            ("block_size", self.block_size),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if self.weights_bytes == 0 {
            return Err(bad("weights_bytes", "must be at least 1 byte".into()));
        }
        if self.kv_bytes_per_token == 0 {
            return Err(bad(
                "kv_bytes_per_token",
                "0: a profile without KV size (2 * layers * KV heads * head dim * dtype bytes)"
                    .into(),
            ));
        }
        // The weights alone must fit the replica's memory.
        if let Some(mem) = self.gpu_memory_bytes() {
            let total = f64::from(self.tp) * mem;
            if self.weights_bytes as f64 + self.activation_bytes as f64 >= total {
                return Err(bad(
                    "weights_bytes",
                    format!(
                        "{} bytes of weights (+ {} activation) exceed the memory of {} x {} GiB",
                        self.weights_bytes,
                        self.activation_bytes,
                        self.tp,
                        num(mem / GIB)
                    ),
                ));
            }
        }
        let s = &self.step;
        for (key, v) in [
            ("c0", s.c0),
            ("p0", s.p0),
            ("p1", s.p1),
            ("p2", s.p2),
            ("p3", s.p3),
            ("d0", s.d0),
            ("d1", s.d1),
            ("d2", s.d2),
            ("m0", s.m0),
            ("m1", s.m1),
            ("m2", s.m2),
            ("s0", s.s0),
            ("s1", s.s1),
        ] {
            if !v.is_finite() {
                return Err(bad(&format!("step.{key}"), format!("not finite: {v}")));
            }
        }
        let mut prev: Option<f64> = None;
        for (j, [x, y]) in s.dense.iter().copied().enumerate() {
            if !(x.is_finite() && x >= 0.0 && y.is_finite() && y >= 0.0) {
                return Err(bad(
                    "step.dense",
                    format!(
                        "point {j} [{}, {}]: tokens and microseconds must be finite and >= 0",
                        num(x),
                        num(y)
                    ),
                ));
            }
            if let Some(p) = prev
                && x <= p
            {
                return Err(bad(
                    "step.dense",
                    format!(
                        "point {j}: tokens {} after {}: the points must be sorted by tokens, \
                         each once",
                        num(x),
                        num(p)
                    ),
                ));
            }
            prev = Some(x);
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Vec<LlmProfile>,
}

/// The rows of one `llm.toml` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmProfiles {
    /// The file they were read from (empty for a new set).
    pub path: PathBuf,
    /// In file order.
    pub profiles: Vec<LlmProfile>,
}

impl LlmProfiles {
    /// Read and check a profile file. Every problem is an input error (exit 2) naming the file,
    /// the profile's index and gpu/slice/model, and the key.
    pub fn load(path: &Path) -> Result<LlmProfiles> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse and check the text of a profile file (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<LlmProfiles> {
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|r| {
                    let start = r.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("");
                    match line.split_once('=') {
                        Some((k, _)) if !k.trim().is_empty() && !k.contains('{') => {
                            format!(" at line {line_no} (key '{}')", k.trim())
                        }
                        _ => format!(" at line {line_no}"),
                    }
                })
                .unwrap_or_default();
            Error::file(
                path,
                format!(
                    "bad LLM profile file{at}: {}",
                    e.message().replace('\n', " ")
                ),
            )
        })?;
        let out = LlmProfiles {
            path: path.to_path_buf(),
            profiles: file.profile,
        };
        for (i, p) in out.profiles.iter().enumerate() {
            p.check(path, i)?;
            if let Some(j) = out.profiles[..i]
                .iter()
                .position(|q| q.same_key(&p.gpu, &p.slice, &p.model))
            {
                return Err(Error::file(
                    path,
                    format!(
                        "profile {i} ({}): the same gpu, slice and model as profile {j}",
                        p.label()
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// The row for (gpu, slice, model): names compared without case, a catalog GPU also by its
    /// aliases (`H100` finds `H100-80GB`).
    pub fn find(&self, gpu: &str, slice: &str, model: &str) -> Option<&LlmProfile> {
        self.profiles.iter().find(|p| p.same_key(gpu, slice, model))
    }

    /// Replace the row with the same (gpu, slice, model), or append it.
    pub fn upsert(&mut self, p: LlmProfile) {
        match self
            .profiles
            .iter()
            .position(|q| q.same_key(&p.gpu, &p.slice, &p.model))
        {
            Some(i) => self.profiles[i] = p,
            None => self.profiles.push(p),
        }
    }

    /// The file's text: a header comment, then one `[[profile]]` per row in order, numbers in
    /// Rust's shortest round-trip form (deterministic: the same rows give the same bytes).
    pub fn to_toml(&self) -> String {
        let mut s = String::from(
            "# LLM profiles: one [[profile]] per (gpu, slice, model). Format and step model: \
             docs/llm-profiles.md.\n# Rebuilt from profiles/sources/llm/ by `just llm-profiles` \
             (the commands are in that recipe).\n",
        );
        for p in &self.profiles {
            s.push_str(&row_toml(p));
        }
        s
    }

    /// Write [`LlmProfiles::to_toml`] to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, self.to_toml()).map_err(|e| Error::io(path, e))
    }
}

impl LlmProfile {
    fn same_key(&self, gpu: &str, slice: &str, model: &str) -> bool {
        let gpu_eq = match (GpuSpec::find(&self.gpu), GpuSpec::find(gpu)) {
            (Some(a), Some(b)) => a.name == b.name,
            _ => self.gpu.eq_ignore_ascii_case(gpu),
        };
        gpu_eq && self.slice.eq_ignore_ascii_case(slice) && self.model.eq_ignore_ascii_case(model)
    }
}

/// A float as TOML: Rust's shortest round-trip form, always with a `.` or an exponent.
fn f(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn row_toml(p: &LlmProfile) -> String {
    let mut s = String::from("\n[[profile]]\n");
    s += &format!("gpu = {}\n", q(&p.gpu));
    s += &format!("slice = {}\n", q(&p.slice));
    s += &format!("model = {}\n", q(&p.model));
    if let Some(g) = p.gpu_memory_gib {
        s += &format!("gpu_memory_gib = {}\n", f(g));
    }
    s += &format!("tp = {}\n", p.tp);
    s += &format!("weights_bytes = {}\n", p.weights_bytes);
    s += &format!("kv_bytes_per_token = {}\n", p.kv_bytes_per_token);
    s += &format!("kv_blocks = {}\n", p.kv_blocks);
    s += &format!("activation_bytes = {}\n", p.activation_bytes);
    s += &format!("max_num_seqs = {}\n", p.max_num_seqs);
    s += &format!("max_num_batched_tokens = {}\n", p.max_num_batched_tokens);
    s += &format!("block_size = {}\n", p.block_size);
    s += &format!("source = {}\n", q(&p.source));
    s += &format!("fit = {}\n", q(&p.fit));
    s += "\n[profile.step]\n";
    let st = &p.step;
    s += &format!("c0 = {}\n", f(st.c0));
    s += "dense = [";
    for (j, [x, y]) in st.dense.iter().enumerate() {
        if j > 0 {
            s += ", ";
        }
        if j % 4 == 0 {
            s += "\n  ";
        }
        s += &format!("[{}, {}]", f(*x), f(*y));
    }
    if !st.dense.is_empty() {
        s += ",\n";
    }
    s += "]\n";
    for (k, v) in [
        ("p0", st.p0),
        ("p1", st.p1),
        ("p2", st.p2),
        ("p3", st.p3),
        ("d0", st.d0),
        ("d1", st.d1),
        ("d2", st.d2),
        ("m0", st.m0),
        ("m1", st.m1),
        ("m2", st.m2),
        ("s0", st.s0),
        ("s1", st.s1),
    ] {
        s += &format!("{k} = {}\n", f(v));
    }
    s
}

/// A dense decoder-only transformer, as a Hugging Face `config.json` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelArch {
    /// `model_type` (`llama`, `qwen2`, `qwen3`, `mistral`, ...).
    pub model_type: String,
    pub num_hidden_layers: u64,
    pub hidden_size: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: u64,
    /// `head_dim` when the config has it, else `hidden_size / num_attention_heads`.
    pub head_dim: u64,
    pub intermediate_size: u64,
    pub vocab_size: u64,
    pub tie_word_embeddings: bool,
    /// Bias on q, k, v (`attention_bias`, or always for `qwen2`).
    pub qkv_bias: bool,
    /// Bias on o_proj too (`attention_bias` of a Llama-style config).
    pub o_bias: bool,
    /// Bias on the MLP projections (`mlp_bias`).
    pub mlp_bias: bool,
    /// An RMSNorm over q and one over k per layer (Qwen3), `head_dim` weights each.
    pub qk_norm: bool,
    /// Bytes per weight and per KV element (`torch_dtype`: 2 for bfloat16/float16, 4 for
    /// float32).
    pub dtype_bytes: u64,
}

impl ModelArch {
    /// Read a `config.json`. Mixture-of-experts configs are refused (their weights and step
    /// times need the expert count and routing, which this model does not have).
    pub fn load(path: &Path) -> Result<ModelArch> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse the text of a `config.json` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<ModelArch> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::file(path, format!("not a JSON config: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::file(path, "not a JSON object"))?;
        for moe in [
            "num_local_experts",
            "num_experts",
            "n_routed_experts",
            "moe_intermediate_size",
        ] {
            if obj.get(moe).is_some_and(|x| !x.is_null()) {
                return Err(Error::column(
                    path,
                    moe,
                    "a mixture-of-experts model: not supported (dense decoder-only models only)",
                ));
            }
        }
        let int = |key: &str| -> Result<Option<u64>> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(x) => match x.as_u64() {
                    Some(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(Error::column(
                        path,
                        key,
                        format!("expected a positive integer, got {x}"),
                    )),
                },
            }
        };
        let need = |key: &str| -> Result<u64> {
            int(key)?.ok_or_else(|| Error::column(path, key, "missing"))
        };
        let flag = |key: &str| -> Result<bool> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(false),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(x) => Err(Error::column(
                    path,
                    key,
                    format!("expected true or false, got {x}"),
                )),
            }
        };
        let model_type = obj
            .get("model_type")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string();
        let layers = need("num_hidden_layers")?;
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let kv_heads = int("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = match int("head_dim")? {
            Some(d) => d,
            None => {
                if hidden % heads != 0 {
                    return Err(Error::column(
                        path,
                        "head_dim",
                        format!(
                            "missing, and hidden_size {hidden} is not a multiple of \
                             num_attention_heads {heads}"
                        ),
                    ));
                }
                hidden / heads
            }
        };
        let dtype = obj
            .get("torch_dtype")
            .or_else(|| obj.get("dtype"))
            .and_then(|x| x.as_str())
            .unwrap_or("bfloat16");
        let dtype_bytes = match dtype {
            "bfloat16" | "float16" => 2,
            "float32" => 4,
            other => {
                return Err(Error::column(
                    path,
                    "torch_dtype",
                    format!("'{other}': expected bfloat16, float16 or float32"),
                ));
            }
        };
        let attention_bias = flag("attention_bias")?;
        Ok(ModelArch {
            qkv_bias: attention_bias || model_type == "qwen2",
            o_bias: attention_bias,
            mlp_bias: flag("mlp_bias")?,
            qk_norm: model_type == "qwen3",
            model_type,
            num_hidden_layers: layers,
            hidden_size: hidden,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            intermediate_size: need("intermediate_size")?,
            vocab_size: need("vocab_size")?,
            tie_word_embeddings: flag("tie_word_embeddings")?,
            dtype_bytes,
        })
    }

    /// KV bytes per token: 2 (K and V) * layers * KV heads * head dim * dtype bytes.
    pub fn kv_bytes_per_token(&self) -> u64 {
        2 * self.num_hidden_layers * self.num_key_value_heads * self.head_dim * self.dtype_bytes
    }

    /// Parameters of one decoder layer: q, k, v, o projections (and their biases), the gated
    /// MLP (gate, up, down), two RMSNorms, and Qwen3's q/k norms.
    pub fn layer_parameters(&self) -> u64 {
        let (h, hd) = (self.hidden_size, self.head_dim);
        let q = self.num_attention_heads * hd;
        let kv = self.num_key_value_heads * hd;
        let mut n = h * q + 2 * h * kv + q * h;
        if self.qkv_bias {
            n += q + 2 * kv;
        }
        if self.o_bias {
            n += h;
        }
        n += 3 * h * self.intermediate_size;
        if self.mlp_bias {
            n += 2 * self.intermediate_size + h;
        }
        n += 2 * h;
        if self.qk_norm {
            n += 2 * hd;
        }
        n
    }

    /// Parameters of the model: the layers, the token embedding, the final norm and the
    /// lm_head (unless tied to the embedding). Rotary embeddings have none.
    pub fn parameters(&self) -> u64 {
        let emb = self.vocab_size * self.hidden_size;
        let head = if self.tie_word_embeddings { 0 } else { emb };
        self.num_hidden_layers * self.layer_parameters() + emb + self.hidden_size + head
    }

    /// Weights in bytes: parameters * dtype bytes.
    pub fn weights_bytes(&self) -> u64 {
        self.parameters() * self.dtype_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA_8B: &str = r#"{"model_type": "llama", "num_hidden_layers": 32,
        "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
        "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": false,
        "torch_dtype": "bfloat16", "attention_bias": false, "mlp_bias": false}"#;

    #[test]
    fn llama_8b_by_hand() {
        let a = ModelArch::parse(LLAMA_8B, Path::new("c.json")).unwrap();
        assert_eq!(a.head_dim, 128);
        // 2 * 32 layers * 8 heads * 128 * 2 bytes = 131072 = 128 KiB.
        assert_eq!(a.kv_bytes_per_token(), 128 * 1024);
        // Per layer: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 + MLP 3*4096*14336 + norms
        // 2*4096 = 16777216 + 8388608 + 16777216 + 176160768 + 8192 = 218112000.
        assert_eq!(a.layer_parameters(), 218_112_000);
        // 32 layers + embedding and lm_head 2*128256*4096 + final norm 4096.
        assert_eq!(a.parameters(), 6_979_584_000 + 1_050_673_152 + 4096);
        assert_eq!(a.weights_bytes(), 16_060_522_496);
    }

    #[test]
    fn moe_and_bad_fields_are_refused_naming_the_key() {
        let e = ModelArch::parse(r#"{"num_local_experts": 8}"#, Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.json") && e.contains("num_local_experts"),
            "{e}"
        );
        let e = ModelArch::parse(&LLAMA_8B.replace("32,", "-1,"), Path::new("m.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_hidden_layers"), "{e}");
    }

    fn row() -> LlmProfile {
        LlmProfile {
            gpu: "RTXPRO6000".into(),
            slice: "whole".into(),
            model: "m".into(),
            gpu_memory_gib: Some(96.0),
            tp: 1,
            weights_bytes: 16 * (1 << 30),
            kv_bytes_per_token: 131_072,
            kv_blocks: 0,
            activation_bytes: 0,
            max_num_seqs: 256,
            max_num_batched_tokens: 2048,
            block_size: 16,
            source: "test".into(),
            fit: String::new(),
            step: StepModel::default(),
        }
    }

    #[test]
    fn kv_blocks_by_hand() {
        let mut p = row();
        // (96 GiB * 0.9 - 16 GiB) / (16 * 128 KiB) = (86.4 - 16) GiB / 2 MiB = 70.4 * 512
        // = 36044.8 -> 36044.
        assert_eq!(p.kv_blocks(0.9, None).unwrap(), 36_044);
        // Block size 32: half as many, floor(18022.4).
        assert_eq!(p.kv_blocks(0.9, Some(32)).unwrap(), 18_022);
        // tp 2, 1 GiB of activations: (2 * 86.4 - 17) GiB / 2 MiB = 155.8 * 512 = 79769.6.
        p.tp = 2;
        p.activation_bytes = 1 << 30;
        assert_eq!(p.kv_blocks(0.9, None).unwrap(), 79_769);
        // A measured count wins.
        p.kv_blocks = 1234;
        assert_eq!(p.kv_blocks(0.9, None).unwrap(), 1234);
        // Weights beyond the memory at this utilization: an error naming model and GPU.
        let mut p = row();
        p.weights_bytes = 90 * (1 << 30);
        let e = p.kv_blocks(0.9, None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = e.to_string();
        assert!(e.contains("model m") && e.contains("RTXPRO6000") && e.contains("weights exceed"));
        // A catalog GPU without gpu_memory_gib takes the catalog's memory: A100-80GB 80 GiB,
        // its 3g.40gb slice 40 GiB: (40 * 0.9 - 16) GiB / 2 MiB = 20 * 512 = 10240.
        let mut p = row();
        p.gpu = "A100-80GB".into();
        p.gpu_memory_gib = None;
        p.slice = "3g.40gb".into();
        assert_eq!(p.kv_blocks(0.9, None).unwrap(), 10_240);
    }

    #[test]
    fn the_file_round_trips_and_find_matches_aliases() {
        let mut set = LlmProfiles::default();
        let mut a = row();
        a.step.dense = vec![[1.0, 10.5], [16.0, 12.0]];
        a.step.p2 = 3.5e-5;
        set.upsert(a.clone());
        let mut b = row();
        b.gpu = "H100-80GB".into();
        b.gpu_memory_gib = None;
        set.upsert(b);
        let text = set.to_toml();
        let back = LlmProfiles::parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(back.profiles, set.profiles);
        assert!(back.find("h100", "WHOLE", "M").is_some());
        assert!(back.find("A100-80GB", "whole", "m").is_none());
        // Upsert replaces the row of the same key.
        a.fit = "again".into();
        let mut set2 = back.clone();
        set2.upsert(a);
        assert_eq!(set2.profiles.len(), 2);
        assert_eq!(set2.profiles[0].fit, "again");
    }
}
