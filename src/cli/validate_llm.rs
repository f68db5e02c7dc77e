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
    /// Write validation.json (every figure of every run) and, per run, the TTFT and TPOT CDFs
    /// of the real run and the replay (MODEL-ttft-cdf.svg/.png, MODEL-tpot-cdf.svg/.png) into
    /// this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 1 when a run misses a target (every mean within 5 %, p90 and p99 within 10 %).
    #[arg(long)]
    pub require: bool,
}

pub fn validate_llm(a: ValidateLlmArgs) -> Result<i32> {
    let profiles = LlmProfiles::load(&a.profiles)?;
    let mut all = Vec::new();
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    }
    for dir in &a.runs {
        let (v, r) = validate(dir, &profiles, a.gpu.as_deref())?;
        if let Some(out) = &a.out {
            let (real_ttft, real_tpot) = crate::drive::validate_llm::real_ttft_tpot_ms(dir)?;
            let (t, _) = crate::trace::import::vllm_run(dir, None)?;
            let (ttft, tpot) = crate::report::llm::ttft_tpot_ms(&t, &r, 0);
            crate::report::llm::write_cdfs(
                out,
                &format!("{}-", v.model),
                &format!("{} on {} (tp {})", v.model, v.gpu, v.tp),
                vec![
                    ("real vLLM run".into(), real_ttft, real_tpot),
                    ("mig-replay".into(), ttft, tpot),
                ],
            )?;
        }
        print!("{}", v.text());
        println!("  (replayed in {:.1} ms)", v.replay_s * 1e3);
        all.push(v);
    }
    if let Some(out) = &a.out {
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
