//! The LLM replay against numbers from outside it:
//! - the hand cases of `tests/fixtures/llm/hand_cases.json`, each computed by hand (the
//!   arithmetic is in `benches/test_reference_llm.py`, which also checks the Python reference
//!   reproduces them): one request alone, two sharing steps, preemptions, a refusal,
//!   `max_num_seqs`, admission stopping at the first request that does not fit, the order at
//!   one instant, each router;
//! - the independent Python reference (`benches/reference_llm.py`, written from the rules and
//!   not from this code) on 3,000 generated requests with hundreds of preemptions and some
//!   refusals, under three replica counts and routers: every request's first token and finish
//!   must agree to the nanosecond (`tests/fixtures/llm/generated.json`).

use mig_replay::drive::llm::{LlmScenario, replay as drive_replay};
use mig_replay::engine::llm::{LlmSetup, REFUSED, ReplicaSpec, replay};
use mig_replay::llm::params::LlmParams;
use mig_replay::llm::profile::LlmProfiles;
use mig_replay::llm::replica::{Limits, NONE};
use mig_replay::llm::step::StepModel;
use mig_replay::policy::router::{LlmPolicy, ROUTERS};
use mig_replay::trace::Trace;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const DIR: &str = "tests/fixtures/llm";

fn opt_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or(NONE)
}

#[test]
fn hand_cases() {
    let text = std::fs::read_to_string(Path::new(DIR).join("hand_cases.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 6, "the hand cases are all there");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let step: StepModel = serde_json::from_value(case["profile"].clone()).unwrap();
        let p = &case["params"];
        let limits = Limits {
            max_num_batched_tokens: p["max_num_batched_tokens"].as_u64().unwrap() as u32,
            max_num_seqs: p["max_num_seqs"].as_u64().unwrap() as u32,
            block_size: p["block_size"].as_u64().unwrap() as u32,
            kv_blocks: p["kv_blocks"].as_u64().unwrap() as u32,
        };
        let replicas = p["replicas"].as_u64().unwrap() as usize;
        let router = p["router"].as_str().unwrap();
        let reqs = case["requests"].as_array().unwrap();
        // The cases list their requests in arrival order (the engine's input is sorted).
        let arrival: Vec<u64> = reqs
            .iter()
            .map(|r| r["arrival_us"].as_u64().unwrap() * 1000)
            .collect();
        assert!(arrival.windows(2).all(|w| w[0] <= w[1]), "{name}: sorted");
        let prompt: Vec<u32> = reqs
            .iter()
            .map(|r| r["prompt_tokens"].as_u64().unwrap() as u32)
            .collect();
        let output: Vec<u32> = reqs
            .iter()
            .map(|r| r["output_tokens"].as_u64().unwrap() as u32)
            .collect();
        let model = vec![0u32; reqs.len()];
        let setup = LlmSetup {
            arrival_ns: &arrival,
            model: &model,
            prompt: &prompt,
            output: &output,
            replicas: (0..replicas)
                .map(|_| ReplicaSpec {
                    model: 0,
                    limits,
                    step: &step,
                })
                .collect(),
            oracle: false,
        };
        let mut r = (ROUTERS.iter().find(|e| e.name == router).unwrap().build)();
        let out = replay(&setup, r.as_mut()).unwrap();
        for (i, e) in case["expected"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                e["id"].as_u64().unwrap() as usize,
                i,
                "{name}: expected rows in request order"
            );
            let refused = e["refused"].as_bool().unwrap();
            assert_eq!(
                out.instance[i] == REFUSED,
                refused,
                "{name}: request {i} refused"
            );
            assert_eq!(
                out.requests.first[i],
                opt_u64(&e["first_token_ns"]),
                "{name}: request {i} first token"
            );
            assert_eq!(
                out.requests.finish[i],
                opt_u64(&e["finish_ns"]),
                "{name}: request {i} finish"
            );
            assert_eq!(
                u64::from(out.requests.preemptions[i]),
                e["preemptions"].as_u64().unwrap(),
                "{name}: request {i} preemptions"
            );
            if !refused {
                assert_eq!(
                    u64::from(out.instance[i]),
                    e["instance"].as_u64().unwrap(),
                    "{name}: request {i} instance"
                );
            }
        }
    }
}

/// The generated workload, `arrival_us,model,prompt_tokens,output_tokens` rows.
fn workload(path: &Path) -> Trace {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<(u64, String, u32, u32)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse::<u64>().unwrap() * 1000,
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    let mut t = Trace::from_llm_rows(rows.iter().map(|r| (r.0, r.1.as_str(), r.2, r.3)));
    t.sort_stable();
    t
}

#[test]
fn agrees_with_the_python_reference_to_the_nanosecond() {
    let dir = Path::new(DIR);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("generated.json")).unwrap())
            .unwrap();
    let trace = workload(&dir.join(doc["workload"].as_str().unwrap()));
    assert_eq!(trace.len(), 3000);
    for run in doc["runs"].as_array().unwrap() {
        let profiles = LlmProfiles::load(&dir.join(run["profile"].as_str().unwrap())).unwrap();
        let gpu = run["gpu"].as_str().unwrap();
        let replicas = run["replicas"].as_u64().unwrap() as usize;
        let router = run["router"].as_str().unwrap();
        let mut params = LlmParams::defaults();
        params.max_num_seqs = Some(run["max_num_seqs"].as_u64().unwrap() as u32);
        params.max_num_batched_tokens =
            Some(run["max_num_batched_tokens"].as_u64().unwrap() as u32);
        params.block_size = Some(run["block_size"].as_u64().unwrap() as u32);
        params.kv_blocks = Some(run["kv_blocks"].as_u64().unwrap() as u32);
        let s = LlmScenario {
            trace: &trace,
            profiles: &profiles,
            gpu: gpu.to_string(),
            gpus: replicas,
            policy: LlmPolicy::parse(&format!("whole+{router}")).unwrap(),
            params,
            slos: BTreeMap::new(),
        };
        let r = drive_replay(&s).unwrap();
        let what = format!("{gpu} x {replicas} {router}");
        assert_eq!(r.replicas.len(), replicas, "{what}");
        let expected =
            std::fs::read_to_string(dir.join(run["expected"].as_str().unwrap())).unwrap();
        let mut n = 0;
        for l in expected.lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            let i: usize = f[0].parse().unwrap();
            let parse = |s: &str| {
                if s.is_empty() {
                    NONE
                } else {
                    s.parse::<u64>().unwrap()
                }
            };
            let q = &r.outcome.requests;
            assert_eq!(q.first[i], parse(f[1]), "{what}: request {i} first token");
            assert_eq!(q.finish[i], parse(f[2]), "{what}: request {i} finish");
            assert_eq!(
                u64::from(q.preemptions[i]),
                parse(f[3]),
                "{what}: request {i} preemptions"
            );
            let inst = r.outcome.instance[i];
            assert_eq!(
                if inst == REFUSED {
                    NONE
                } else {
                    u64::from(inst)
                },
                parse(f[4]),
                "{what}: request {i} instance"
            );
            n += 1;
        }
        assert_eq!(n, 3000, "{what}: every request compared");
        let pre: u64 = r.outcome.replicas.iter().map(|x| x.preemptions).sum();
        assert_eq!(
            pre,
            run["preemptions"].as_u64().unwrap(),
            "{what}: preemptions"
        );
        assert_eq!(
            r.metrics.steps,
            run["steps"].as_u64().unwrap(),
            "{what}: steps"
        );
        assert_eq!(
            r.metrics.refused,
            run["refused"].as_u64().unwrap(),
            "{what}: refused"
        );
        assert!(pre > 100, "{what}: the workload preempts");
    }
}
