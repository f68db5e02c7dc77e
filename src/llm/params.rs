//! The `llm.*` parameters of an LLM replay, with vLLM's names: they override the profile's
//! engine settings for every replica (`llm.max_num_seqs`, `llm.max_num_batched_tokens`,
//! `llm.block_size`), set how the KV cache is sized (`llm.gpu_memory_utilization`, vLLM's
//! default 0.9; `llm.kv_blocks`, a measured usable block count, as a vLLM log reports it,
//! overriding the memory rule) and how many replicas each model gets (`llm.replicas.MODEL`).

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Every `llm.*` key (a trailing `.` is a family: `llm.replicas.<model>`).
pub const KEYS: &[&str] = &[
    "llm.max_num_seqs",
    "llm.max_num_batched_tokens",
    "llm.block_size",
    "llm.gpu_memory_utilization",
    "llm.kv_blocks",
    "llm.replicas.",
];

/// The parsed `llm.*` parameters (`None`: the profile's value or the default).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct LlmParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_seqs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_batched_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    /// Share of each GPU's memory the replica may use (weights, activations and KV).
    pub gpu_memory_utilization: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_blocks: Option<u32>,
    /// Replicas per model (by name); a model not named gets the GPUs left, shared equally.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, u32>,
}

/// vLLM's default `gpu_memory_utilization`.
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;

/// The most a count parameter may be (tokens per step, sequences, blocks).
const MOST: u64 = 1 << 30;

impl LlmParams {
    pub fn defaults() -> LlmParams {
        LlmParams {
            gpu_memory_utilization: DEFAULT_GPU_MEMORY_UTILIZATION,
            ..LlmParams::default()
        }
    }

    /// Whether `key` is an `llm.*` key.
    pub fn is_key(key: &str) -> bool {
        key.starts_with("llm.")
    }

    /// Parse `key=value` pairs (every key must be an `llm.*` key); `what` names where they
    /// came from in errors (`--param`, `key 'llm'` of a sweep file).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LlmParams> {
        let mut p = LlmParams::defaults();
        for (k, v) in pairs {
            let count = |lo: u64| -> Result<u32> {
                match v.trim().parse::<u64>() {
                    Ok(x) if x >= lo && x <= MOST => Ok(x as u32),
                    _ => Err(Error::Usage(format!(
                        "--param {k}={v}: expected an integer from {lo} to {MOST}"
                    ))),
                }
            };
            match k {
                "llm.max_num_seqs" => p.max_num_seqs = Some(count(1)?),
                "llm.max_num_batched_tokens" => p.max_num_batched_tokens = Some(count(1)?),
                "llm.block_size" => p.block_size = Some(count(1)?),
                "llm.kv_blocks" => p.kv_blocks = Some(count(1)?),
                "llm.gpu_memory_utilization" => {
                    p.gpu_memory_utilization = match v.trim().parse::<f64>() {
                        Ok(x) if x > 0.0 && x <= 1.0 => x,
                        _ => {
                            return Err(Error::Usage(format!(
                                "--param {k}={v}: expected a share of memory in (0, 1]"
                            )));
                        }
                    }
                }
                _ => match k.strip_prefix("llm.replicas.") {
                    Some(m) if !m.is_empty() => {
                        p.replicas.insert(m.to_string(), count(0)?);
                    }
                    _ => {
                        return Err(Error::Usage(format!(
                            "--param {k}: not an LLM parameter; known: {}",
                            KEYS.iter()
                                .map(|k| if k.ends_with('.') {
                                    format!("{k}<model>")
                                } else {
                                    k.to_string()
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                },
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::LlmParams;

    #[test]
    fn parses_every_key_and_refuses_bad_values() {
        let p = LlmParams::from_pairs([
            ("llm.max_num_seqs", "128"),
            ("llm.max_num_batched_tokens", "2048"),
            ("llm.block_size", "16"),
            ("llm.gpu_memory_utilization", "0.85"),
            ("llm.kv_blocks", "1000"),
            ("llm.replicas.llama", "3"),
        ])
        .unwrap();
        assert_eq!(p.max_num_seqs, Some(128));
        assert_eq!(p.max_num_batched_tokens, Some(2048));
        assert_eq!(p.block_size, Some(16));
        assert_eq!(p.gpu_memory_utilization, 0.85);
        assert_eq!(p.kv_blocks, Some(1000));
        assert_eq!(p.replicas["llama"], 3);
        for (k, v) in [
            ("llm.max_num_seqs", "0"),
            ("llm.max_num_seqs", "-1"),
            ("llm.max_num_seqs", "NaN"),
            ("llm.kv_blocks", "99999999999"),
            ("llm.gpu_memory_utilization", "0"),
            ("llm.gpu_memory_utilization", "1.5"),
            ("llm.gpu_memory_utilization", "NaN"),
            ("llm.nope", "1"),
            ("llm.replicas.", "1"),
        ] {
            let e = LlmParams::from_pairs([(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{k}={v}: {e}");
        }
    }
}
