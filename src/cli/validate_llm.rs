//! `mig-replay validate-llm`: replay real vLLM runs from profiles fitted elsewhere and print
//! the replay's TTFT, TPOT and E2E beside the real run's and LLMServingSim's
//! ([`crate::drive::validate_llm`]).

use crate::drive::validate_llm::validate;
use crate::error::{Error, Result};
use crate::llm::profile::LlmProfiles;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateLlmArgs {
    /// Run directories (requests.jsonl, meta.json, and LLMServingSim's summary.txt if any).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// LLM profile file (TOML) holding a profile of each run's model.
    #[arg(long)]
    pub profiles: PathBuf,
    /// GPU kind of the profiles to use (default: the one profile of the run's model at the
    /// run's tensor parallelism).
    #[arg(long)]
    pub gpu: Option<String>,
    /// Write validation.json (every figure of every run) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 1 when a run misses a target (every mean within 5 %, p90 and p99 within 10 %).
    #[arg(long)]
    pub require: bool,
}

pub fn validate_llm(a: ValidateLlmArgs) -> Result<i32> {
    let profiles = LlmProfiles::load(&a.profiles)?;
    let mut all = Vec::new();
    for dir in &a.runs {
        let (v, _) = validate(dir, &profiles, a.gpu.as_deref())?;
        print!("{}", v.text());
        println!("  (replayed in {:.1} ms)", v.replay_s * 1e3);
        all.push(v);
    }
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut s = serde_json::to_string_pretty(&all).map_err(|e| Error::Other(e.to_string()))?;
        s.push('\n');
        crate::io::atomic::write_atomic(&out.join("validation.json"), s.as_bytes())?;
    }
    Ok(if a.require && !all.iter().all(|v| v.meets_targets()) {
        1
    } else {
        0
    })
}
