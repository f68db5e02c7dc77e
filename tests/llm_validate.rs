//! The LLM replay against two REAL vLLM 0.19 runs (LLMServingSim's `bench/examples`, shipped
//! in `traces/sources/llmservingsim/`): replayed from profiles fitted to the per-layer tables
//! (never to the runs), every TTFT, TPOT and E2E mean must be within 5 % of the real run's and
//! every p90 and p99 within 10 % (`mig-replay validate-llm`, docs/llm.md).

use mig_replay::drive::validate_llm::validate;
use mig_replay::llm::profile::LlmProfiles;
use std::path::Path;

#[test]
fn both_real_vllm_runs_are_within_the_targets() {
    let profiles = LlmProfiles::load(Path::new("profiles/llm.toml")).unwrap();
    for run in ["Llama-3.1-8B", "Qwen3-32B"] {
        let dir = Path::new("traces/sources/llmservingsim/RTXPRO6000").join(run);
        let (v, r) = validate(&dir, &profiles, None).unwrap();
        assert_eq!(v.requests, 300, "{run}");
        assert_eq!(r.metrics.refused, 0, "{run}");
        // The real run's figures come from its own timestamps: TTFT mean as LLMServingSim's
        // summary.txt reports it for vLLM (7097.2 and 36905.2 ms).
        let ttft = v.rows.iter().find(|x| x.metric == "TTFT mean").unwrap();
        let want = if run == "Llama-3.1-8B" {
            7097.2
        } else {
            36905.2
        };
        assert!(
            (ttft.real_ms - want).abs() < 0.05,
            "{run}: {}",
            ttft.real_ms
        );
        assert!(v.meets_targets(), "{run}:\n{}", v.text());
    }
}
