//! `mig-replay profile build | inspect | import`.

use super::json;
use crate::error::{Error, Result};
use crate::profile::Profiles;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Build profiles/*.parquet from the source CSVs in profiles/sources (arrow CSV reader).
    Build {
        /// Folder of the source CSVs (and their licenses).
        #[arg(long, default_value = "profiles/sources")]
        sources: PathBuf,
        /// Folder the profile Parquet files (one per GPU kind) and build-report.md go to.
        #[arg(long, default_value = "profiles")]
        out_dir: PathBuf,
        /// Relative noise tolerance of the monotonicity checks.
        #[arg(long, default_value_t = 0.05)]
        tolerance: f64,
    },
    /// Per (gpu, model, slice): batch range, latencies, peak throughput, 80%-of-peak batch, source mix.
    Inspect {
        /// Profile Parquet file (gpu, slice, model, batch, latency_ms[, ...]).
        file: PathBuf,
        /// Fraction of peak throughput that defines the knee batch.
        #[arg(long, default_value_t = 0.8)]
        theta: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add an LLM profile row to profiles/llm.toml from a public source (docs/llm-profiles.md).
    #[command(subcommand)]
    Import(Box<ImportCommand>),
}

/// `profile import SOURCE`: one LLM profile row per call, replacing the row of the same
/// (gpu, slice, model) in --out or appending it.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Fit the step model from LLMServingSim's per-layer tables (DIR: meta.yaml, tp<N>/).
    Llmservingsim {
        /// The profile folder (meta.yaml and tp1/, tp2/ ... with dense.csv, attention.csv,
        /// per_sequence.csv).
        dir: PathBuf,
        /// The model's Hugging Face config.json (layers, heads, KV heads, dtype, ...).
        #[arg(long)]
        model_config: PathBuf,
        /// Tensor parallelism: which tp<N>/ tables, GPUs per replica.
        #[arg(long, default_value_t = 1)]
        tp: u32,
        /// The GPU kind's name (default: meta.yaml's `hardware`).
        #[arg(long)]
        gpu: Option<String>,
        /// Memory of one GPU in GiB (required for a GPU outside the MIG catalog).
        #[arg(long)]
        gpu_memory_gib: Option<f64>,
        /// Tensor-parallel all-reduce latency per ring step, microseconds (with --allreduce-gbps:
        /// added to the dense term; the tables hold no communication).
        #[arg(long, requires = "allreduce_gbps")]
        allreduce_latency_us: Option<f64>,
        /// Tensor-parallel link bandwidth, GB/s.
        #[arg(long, requires = "allreduce_latency_us")]
        allreduce_gbps: Option<f64>,
        #[command(flatten)]
        common: ImportArgs,
    },
    /// Take BLIS's fitted coefficients as they are (c0 = b0, p1 = b1, d1 = b2).
    Blis {
        /// BLIS's defaults.yaml.
        file: PathBuf,
        /// The model: BLIS's id or its part after '/' (qwen3-14b).
        #[arg(long)]
        model: String,
        /// The GPU: a catalog kind (A100-80GB, H100-80GB) or BLIS's name (A100-80, H100).
        #[arg(long)]
        gpu: String,
        /// Tensor parallelism of the entry.
        #[arg(long, default_value_t = 1)]
        tp: u32,
        /// The vLLM version of the entry (v0.11.0), when the file has several.
        #[arg(long)]
        vllm_version: Option<String>,
        /// The model's config.json (default: model_configs/<model>/config.json beside FILE).
        #[arg(long)]
        model_config: Option<PathBuf>,
        /// BLIS's hardware_config.json, for the GPU's memory (default: beside FILE).
        #[arg(long)]
        hardware_config: Option<PathBuf>,
        #[command(flatten)]
        common: ImportArgs,
    },
}

/// The flags every importer shares.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The profile's model name, as traces name it (default: the source's model after '/').
    #[arg(long)]
    name: Option<String>,
    /// vLLM's max_num_seqs (default: vLLM's, 1024 on a GPU of >= 70 GiB other than an A100,
    /// else 256).
    #[arg(long)]
    max_num_seqs: Option<u32>,
    /// vLLM's max_num_batched_tokens (default: vLLM's, 8192 or 2048 by the same rule).
    #[arg(long)]
    max_num_batched_tokens: Option<u32>,
    /// Tokens per KV block (default: the source's, else 16).
    #[arg(long)]
    block_size: Option<u32>,
    /// Memory held beside weights and KV (activations, CUDA graphs), GiB, all GPUs together.
    #[arg(long, default_value_t = 0.0)]
    activation_gib: f64,
    /// Measured usable KV blocks (0: derived from the memory).
    #[arg(long, default_value_t = 0)]
    kv_blocks: u32,
    /// Appended to the row's `source` (licence, repository, commit).
    #[arg(long)]
    attribution: Option<String>,
    /// The profile file to update (created when missing).
    #[arg(long, default_value = "profiles/llm.toml")]
    out: PathBuf,
}

impl ImportArgs {
    fn activation_bytes(&self) -> Result<u64> {
        if !(self.activation_gib.is_finite() && self.activation_gib >= 0.0) {
            return Err(Error::Usage(format!(
                "--activation-gib must be >= 0, got {}",
                crate::error::num(self.activation_gib)
            )));
        }
        Ok((self.activation_gib * crate::llm::profile::GIB).round() as u64)
    }
}

/// Upsert `p` into `out` (read and checked first when it exists), write it, say what changed.
fn save_row(out: &Path, p: crate::llm::profile::LlmProfile) -> Result<()> {
    use crate::llm::profile::LlmProfiles;
    let mut set = if out.exists() {
        LlmProfiles::load(out)?
    } else {
        LlmProfiles::default()
    };
    let label = p.label();
    let replaced = set.find(&p.gpu, &p.slice, &p.model).is_some();
    set.upsert(p);
    // The new row must pass the same checks as a loaded file.
    LlmProfiles::parse(&set.to_toml(), out)?;
    set.write(out)?;
    println!(
        "{} {label} in {}",
        if replaced { "replaced" } else { "added" },
        out.display()
    );
    Ok(())
}

pub fn profile_cmd(c: ProfileCommand) -> Result<i32> {
    match c {
        ProfileCommand::Build {
            sources,
            out_dir,
            tolerance,
        } => {
            let cfg = crate::profile::build::BuildConfig {
                sources,
                out_dir: out_dir.clone(),
                tolerance,
            };
            let rep = crate::profile::build::build(&cfg)?;
            print!("{}", rep.markdown(tolerance));
            println!("\nwrote {}", out_dir.join("build-report.md").display());
            Ok(0)
        }
        ProfileCommand::Inspect {
            file,
            theta,
            json: as_json,
        } => {
            if !(theta > 0.0 && theta <= 1.0) {
                return Err(Error::Usage(format!(
                    "--theta must be in (0, 1], got {}",
                    crate::error::num(theta)
                )));
            }
            let p = Profiles::load(&file)?;
            let st = crate::profile::inspect::inspect(&p, theta);
            if as_json {
                println!("{}", json(&st)?);
            } else {
                print!("{}", crate::profile::inspect::text(&st, theta));
            }
            Ok(0)
        }
        ProfileCommand::Import(i) => import_cmd(*i),
    }
}

fn import_cmd(c: ImportCommand) -> Result<i32> {
    use crate::llm::fit;
    match c {
        ImportCommand::Llmservingsim {
            dir,
            model_config,
            tp,
            gpu,
            gpu_memory_gib,
            allreduce_latency_us,
            allreduce_gbps,
            common,
        } => {
            let allreduce = match (allreduce_latency_us, allreduce_gbps) {
                (Some(l), Some(b)) => {
                    if !(l.is_finite() && l >= 0.0 && b.is_finite() && b > 0.0) {
                        return Err(Error::Usage(format!(
                            "--allreduce-latency-us must be >= 0 and --allreduce-gbps > 0, got                              {} and {}",
                            crate::error::num(l),
                            crate::error::num(b)
                        )));
                    }
                    Some(fit::AllReduce {
                        latency_us: l,
                        gbps: b,
                    })
                }
                _ => None,
            };
            let o = fit::LlmServingSimImport {
                dir,
                model_config,
                tp,
                gpu,
                gpu_memory_gib,
                name: common.name.clone(),
                max_num_seqs: common.max_num_seqs,
                max_num_batched_tokens: common.max_num_batched_tokens,
                block_size: common.block_size,
                activation_bytes: common.activation_bytes()?,
                kv_blocks: common.kv_blocks,
                allreduce,
                attribution: common.attribution.clone(),
            };
            let (p, rep) = fit::import_llmservingsim(&o)?;
            let pct = |e: &fit::ErrorSummary| {
                format!(
                    "p50 {:.1}% p90 {:.1}% max {:.1}% ({} points)",
                    100.0 * e.p50,
                    100.0 * e.p90,
                    100.0 * e.max,
                    e.points
                )
            };
            println!("attention fit, relative error: {}", pct(&rep.attention));
            println!("  pure prefill: {}", pct(&rep.attention_prefill));
            println!("  pure decode:  {}", pct(&rep.attention_decode));
            println!("  mixed:        {}", pct(&rep.attention_mixed));
            println!("lm_head+sampler fit: {}", pct(&rep.per_sequence));
            println!("dense: exact at its {} points", rep.dense_points);
            save_row(&common.out, p)?;
            Ok(0)
        }
        ImportCommand::Blis {
            file,
            model,
            gpu,
            tp,
            vllm_version,
            model_config,
            hardware_config,
            common,
        } => {
            let o = fit::BlisImport {
                file,
                model,
                gpu,
                tp,
                vllm_version,
                model_config,
                hardware_config,
                name: common.name.clone(),
                max_num_seqs: common.max_num_seqs,
                max_num_batched_tokens: common.max_num_batched_tokens,
                block_size: common.block_size,
                activation_bytes: common.activation_bytes()?,
                kv_blocks: common.kv_blocks,
                attribution: common.attribution.clone(),
            };
            let p = fit::import_blis(&o)?;
            save_row(&common.out, p)?;
            Ok(0)
        }
    }
}
