//! `mig-replay trace gen | import | inspect`.

use super::json;
use crate::error::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Generate a synthetic trace (Poisson, gamma or MMPP arrivals; log-normal or histogram batches, or LLM requests with drawn prompt and output lengths).
    Gen(GenArgs),
    /// Convert a public production trace (Azure LLM 2023, Alibaba GenAI 2026) or a vLLM run to the trace schema.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a trace's rate shape: its arrivals folded modulo a period (a day) into bins, as a
    /// CSV of multipliers (mean 1) that `trace gen --rate-shape` replays.
    Shape {
        /// Trace Parquet file to take the shape from.
        #[arg(long)]
        trace: PathBuf,
        /// Fold arrivals modulo this many seconds (86400: by time of day).
        #[arg(long, default_value_t = 86400.0, allow_negative_numbers = true)]
        fold_s: f64,
        /// Number of equal bins per fold.
        #[arg(long, default_value_t = 24)]
        bins: u32,
        /// Output CSV (start_s, multiplier, arrivals).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the statistics of a trace: queries, models, rate, burstiness, batch histogram.
    Inspect {
        /// Trace Parquet file (arrival_us, model, batch[, id]).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrivalKind {
    Poisson,
    Gamma,
    Mmpp,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Mean arrival rate, queries/s.
    #[arg(long)]
    pub rate: f64,
    /// Number of queries (give this and/or --duration).
    #[arg(long)]
    pub queries: Option<u64>,
    /// Trace length in seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Model, optionally with a weight: `--model resnet50:3 --model bert-base:1`.
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// Arrival process.
    #[arg(long, value_enum, default_value_t = ArrivalKind::Poisson)]
    pub arrivals: ArrivalKind,
    /// Coefficient of variation of gamma inter-arrivals.
    #[arg(long, default_value_t = 2.0)]
    pub cv: f64,
    /// MMPP: rate of the high state over the low state.
    #[arg(long, default_value_t = 5.0)]
    pub burst_ratio: f64,
    /// MMPP: mean time in each state, seconds.
    #[arg(long, default_value_t = 1.0)]
    pub burst_dwell: f64,
    /// Log-normal batches: mean of ln(batch).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub batch_mu: f64,
    /// Log-normal batches: standard deviation of ln(batch).
    #[arg(long, default_value_t = 1.0)]
    pub batch_sigma: f64,
    /// Log-normal batches are clamped to [1, max-batch].
    #[arg(long, default_value_t = 128)]
    pub max_batch: u32,
    /// Explicit batch histogram instead of log-normal: `1:0.5,4:0.3,16:0.2`.
    #[arg(long)]
    pub batch_hist: Option<String>,
    /// An LLM trace: every request of batch 1 with prompt and output lengths drawn from
    /// --prompt-law and --output-law (default: log-normal fits of the Azure conversation trace);
    /// implied by either flag. The batch flags do not apply.
    #[arg(long, conflicts_with = "batch_hist")]
    pub llm: bool,
    /// LLM prompt lengths: `lognormal:mu=M,sigma=S[,max=N]` (round(exp(N(M, S))) clamped to
    /// [1, N], N at most 2^20, the default) or `hist:TOKENS:WEIGHT,...`; `MODEL=LAW` for one
    /// model. Repeatable. [default: lognormal:mu=6.63,sigma=0.99,max=16384]
    #[arg(long = "prompt-law", conflicts_with = "batch_hist")]
    pub prompt_law: Vec<String>,
    /// LLM output lengths, as --prompt-law. [default: lognormal:mu=5.02,sigma=0.86,max=4096]
    #[arg(long = "output-law", conflicts_with = "batch_hist")]
    pub output_law: Vec<String>,
    /// Seed of the arrival, model and batch streams (and of an LLM trace's prompt and output
    /// streams).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time-varying traffic: a TOML file of [[segment]] tables (start_s, and optionally rate,
    /// models, batch_hist or batch_mu/batch_sigma/max_batch), each holding until the next.
    #[arg(long)]
    pub segments: Option<PathBuf>,
    /// Time-varying rate: a CSV (start_s, multiplier) multiplying the rate step by step (as
    /// `trace shape` writes it).
    #[arg(long)]
    pub rate_shape: Option<PathBuf>,
    /// Divide the rate shape's times by this (24 replays a day's shape in an hour).
    #[arg(
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true,
        requires = "rate_shape"
    )]
    pub shape_compress: f64,
    /// Repeat the rate shape with this period, seconds after compression (default: its last
    /// step holds).
    #[arg(long, allow_negative_numbers = true, requires = "rate_shape")]
    pub shape_period: Option<f64>,
    /// Smooth diurnal factor 1 - A cos(2 pi t / P): the amplitude A in [0, 1] (0: none).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub diurnal_amplitude: f64,
    /// The diurnal period P, seconds.
    #[arg(long, default_value_t = 86400.0, allow_negative_numbers = true)]
    pub diurnal_period: f64,
    /// Write the rows as they are drawn, a million at a time, never holding the trace (for
    /// traces too large for memory, up to 4,294,967,294 queries); the same rows, without the
    /// statistics printed after.
    #[arg(long)]
    pub stream: bool,
    /// Output trace Parquet file.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Azure LLM inference trace 2023 (TIMESTAMP, ContextTokens, GeneratedTokens).
    Azure {
        /// The trace CSV (AzureLLMInferenceTrace_conv.csv or _code.csv).
        #[arg(long)]
        csv: PathBuf,
        /// Model every request becomes [default: bert-base; required with --llm].
        #[arg(long)]
        model: Option<String>,
        /// Keep the token counts: an LLM trace (prompt_tokens = ContextTokens, output_tokens =
        /// GeneratedTokens, batch 1) instead of folding them into a batch size.
        #[arg(long, conflicts_with_all = ["tokens_per_item", "max_batch", "tokens"])]
        llm: bool,
        /// Tokens per batch item: batch = ceil(tokens / this).
        #[arg(long, default_value_t = 64)]
        tokens_per_item: u32,
        /// Largest batch: larger requests are clamped to it (and counted).
        #[arg(long, default_value_t = 256)]
        max_batch: u32,
        /// Which tokens count.
        #[arg(long, value_enum, default_value_t = crate::trace::import::TokenRule::Context)]
        tokens: crate::trace::import::TokenRule,
        /// Rescale time to this mean rate (queries/s); default: real time.
        #[arg(long)]
        rate: Option<f64>,
        /// Output trace Parquet file.
        #[arg(long)]
        out: PathBuf,
    },
    /// A vLLM benchmark run directory (requests.jsonl + meta.json, as LLMServingSim ships them)
    /// as an LLM trace; arrivals are the engine clock's queued_ts.
    VllmRun {
        /// The run directory, holding requests.jsonl (input_toks, output_toks, queued_ts per
        /// line) and meta.json (model).
        dir: PathBuf,
        /// The model name [default: the last path component of meta.json's model].
        #[arg(long)]
        model: Option<String>,
        /// Rescale time to this mean rate (queries/s); default: real time.
        #[arg(long)]
        rate: Option<f64>,
        /// Output trace Parquet file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Alibaba GenAI 2026 LoRA request trace (gmt_create, num_images_per_prompt, checkpoint_model_version_id).
    Alibaba {
        /// The trace CSV (lora_request_trace.csv).
        #[arg(long)]
        csv: PathBuf,
        /// Our models, in the order the most requested model ids map onto them.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "resnet50,mobilenet-v2,bert-base"
        )]
        models: Vec<String>,
        /// The less popular ids: spread over the models, or drop.
        #[arg(long, value_enum, default_value_t = crate::trace::import::Others::Spread)]
        others: crate::trace::import::Others,
        /// Rescale time to this mean rate (queries/s); default: real time.
        #[arg(long)]
        rate: Option<f64>,
        /// Output trace Parquet file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Write a made trace, then print the notes on how it was made and its statistics.
fn write_trace(t: &crate::trace::Trace, out: &std::path::Path, notes: &[String]) -> Result<i32> {
    t.write(out)?;
    for l in notes {
        println!("{l}");
    }
    println!("wrote {} ({} queries)", out.display(), t.len());
    print!("{}", crate::trace::stats::stats(t).text());
    Ok(0)
}

pub fn trace_cmd(c: TraceCommand) -> Result<i32> {
    use crate::trace::{stats, synth};
    match c {
        TraceCommand::Gen(a) => {
            let models = a
                .models
                .iter()
                .map(|m| synth::parse_model_weight(m))
                .collect::<Result<Vec<_>>>()?;
            let batch = match &a.batch_hist {
                Some(h) => synth::BatchSpec::parse_histogram(h)?,
                None => synth::BatchSpec::LogNormal {
                    mu: a.batch_mu,
                    sigma: a.batch_sigma,
                    max: a.max_batch,
                },
            };
            let arrivals = match a.arrivals {
                ArrivalKind::Poisson => synth::Arrivals::Poisson,
                ArrivalKind::Gamma => synth::Arrivals::Gamma { cv: a.cv },
                ArrivalKind::Mmpp => synth::Arrivals::Mmpp {
                    ratio: a.burst_ratio,
                    dwell_s: a.burst_dwell,
                },
            };
            let cfg = synth::GenConfig {
                rate: a.rate,
                queries: a.queries,
                duration_s: a.duration,
                models,
                arrivals,
                batch,
                seed: a.seed,
            };
            let var = crate::trace::vary::Variation {
                segments: match &a.segments {
                    Some(p) => crate::trace::vary::load_segments(p, &cfg.batch)?,
                    None => Vec::new(),
                },
                shape: match &a.rate_shape {
                    Some(p) => Some(crate::trace::vary::Shape::load(
                        p,
                        a.shape_compress,
                        a.shape_period,
                    )?),
                    None => None,
                },
                diurnal: (a.diurnal_amplitude != 0.0).then_some(crate::trace::vary::Diurnal {
                    amplitude: a.diurnal_amplitude,
                    period_s: a.diurnal_period,
                }),
            };
            let llm = if a.llm || !a.prompt_law.is_empty() || !a.output_law.is_empty() {
                let d = synth::LlmLaws::azure_conv();
                Some(synth::LlmLaws {
                    prompt: synth::TokenLaws::parse(
                        d.prompt.default,
                        &a.prompt_law,
                        "--prompt-law",
                    )?,
                    output: synth::TokenLaws::parse(
                        d.output.default,
                        &a.output_law,
                        "--output-law",
                    )?,
                })
            } else {
                None
            };
            if a.stream {
                let n = synth::generate_to_file_with(&cfg, &var, llm.as_ref(), &a.out)?;
                println!("wrote {} ({n} queries, streamed)", a.out.display());
                return Ok(0);
            }
            let t = match &llm {
                Some(l) => synth::generate_llm(&cfg, &var, l)?,
                None => synth::generate_varying(&cfg, &var)?,
            };
            write_trace(&t, &a.out, &[])
        }
        TraceCommand::Import(i) => {
            use crate::trace::import;
            let (mut t, mut notes, rate, out) = match i {
                ImportCommand::Azure {
                    csv,
                    model,
                    llm: true,
                    rate,
                    out,
                    ..
                } => {
                    let model = model.ok_or_else(|| {
                        crate::error::Error::Usage(
                            "--llm needs --model: the LLM the requests are for, as its LLM profile names it (e.g. --model Llama-3.1-8B)".into(),
                        )
                    })?;
                    let (t, n) = import::azure_llm(&csv, &model)?;
                    (t, n, rate, out)
                }
                ImportCommand::Azure {
                    csv,
                    model,
                    llm: false,
                    tokens_per_item,
                    max_batch,
                    tokens,
                    rate,
                    out,
                } => {
                    let model = model.unwrap_or_else(|| "bert-base".into());
                    let (t, n) = import::azure(&csv, &model, tokens_per_item, max_batch, tokens)?;
                    (t, n, rate, out)
                }
                ImportCommand::VllmRun {
                    dir,
                    model,
                    rate,
                    out,
                } => {
                    let (t, n) = import::vllm_run(&dir, model.as_deref())?;
                    (t, n, rate, out)
                }
                ImportCommand::Alibaba {
                    csv,
                    models,
                    others,
                    rate,
                    out,
                } => {
                    let (t, n) = import::alibaba(&csv, &models, others)?;
                    (t, n, rate, out)
                }
            };
            if let Some(r) = rate {
                import::rescale_to_rate(&mut t, r, &mut notes)?;
            }
            write_trace(&t, &out, &notes.lines)
        }
        TraceCommand::Shape {
            trace,
            fold_s,
            bins,
            out,
        } => {
            let t = crate::trace::Trace::load(&trace)?;
            let shape = stats::fold_shape(&t, fold_s, bins)?;
            shape.check_replayable().map_err(|e| {
                crate::error::Error::file(
                    &trace,
                    format!(
                        "its rate shape (--fold-s {}, --bins {bins}) would not replay with `trace gen --rate-shape`: {e}",
                        crate::error::num(fold_s)
                    ),
                )
            })?;
            crate::io::write_atomic(&out, shape.csv().as_bytes())?;
            println!(
                "wrote {} ({bins} bins of {:.0} s; busiest bin {:.2}x the mean, quietest {:.2}x)",
                out.display(),
                fold_s / bins as f64,
                shape.max(),
                shape.min()
            );
            Ok(0)
        }
        TraceCommand::Inspect {
            file,
            json: as_json,
        } => {
            let t = crate::trace::Trace::load(&file)?;
            let s = stats::stats(&t);
            if as_json {
                println!("{}", json(&s)?);
            } else {
                println!("{}", file.display());
                print!("{}", s.text());
            }
            Ok(0)
        }
    }
}
