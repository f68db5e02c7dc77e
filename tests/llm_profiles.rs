//! LLM profiles (`profiles/llm.toml`): the shipped file is what its sources rebuild, byte for
//! byte; the shipped architectures give the weights and KV sizes computed by hand; a bad
//! profile or model config is refused with exit 2, naming the file, the profile and the key.

use mig_replay::llm::profile::{LlmProfiles, ModelArch};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mig-replay");

#[test]
fn the_shipped_llm_profiles_are_what_their_sources_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("llm.toml");
    let o = Command::new("bash")
        .arg("profiles/sources/llm/rebuild.sh")
        .arg(&out)
        .env("MIG_REPLAY", BIN)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = std::fs::read_to_string("profiles/llm.toml").unwrap();
    let got = std::fs::read_to_string(&out).unwrap();
    assert!(
        want == got,
        "profiles/llm.toml differs from what profiles/sources/llm/rebuild.sh writes: run `just \
         llm-profiles` and commit"
    );
    // And it loads: two RTX PRO 6000 rows, five BLIS rows.
    let set = LlmProfiles::load(Path::new("profiles/llm.toml")).unwrap();
    assert_eq!(set.profiles.len(), 7);
    let llama = set.find("RTXPRO6000", "whole", "Llama-3.1-8B").unwrap();
    assert_eq!(
        (llama.weights_bytes, llama.kv_bytes_per_token),
        (16_060_522_496, 131_072)
    );
    let qwen = set.find("RTXPRO6000", "whole", "Qwen3-32B").unwrap();
    assert_eq!(qwen.tp, 2);
    let h100 = set.find("H100", "whole", "llama-3.1-8b-instruct").unwrap();
    // BLIS's H100 Llama-3.1-8B coefficients, as the yaml has them.
    assert_eq!(
        (h100.step.c0, h100.step.p1, h100.step.d1),
        (6472.007648778123, 19.79721387814611, 304.4021040302657)
    );
}

#[test]
fn qwen3_32b_weights_and_kv_by_hand() {
    let a = ModelArch::load(Path::new(
        "profiles/sources/llm/llmservingsim/model-configs/Qwen3-32B.json",
    ))
    .unwrap();
    // Per layer: q 5120*8192 + k, v 2*5120*1024 + o 8192*5120 + MLP 3*5120*25600 + norms
    // 2*5120 + q/k norms 2*128 = 41943040 + 10485760 + 41943040 + 393216000 + 10240 + 256.
    assert_eq!(a.layer_parameters(), 487_598_336);
    // 64 layers + embedding and lm_head 2 * 151936 * 5120 + final norm 5120, 2 bytes each.
    assert_eq!(
        a.weights_bytes(),
        2 * (64 * 487_598_336 + 2 * 151_936 * 5120 + 5120)
    );
    assert_eq!(a.weights_bytes(), 65_524_246_528);
    // 2 * 64 layers * 8 KV heads * 128 * 2 bytes = 256 KiB.
    assert_eq!(a.kv_bytes_per_token(), 256 * 1024);
}

const GOOD: &str = r#"
[[profile]]
gpu = "RTXPRO6000"
slice = "whole"
model = "m"
gpu_memory_gib = 96.0
tp = 1
weights_bytes = 16060522496
kv_bytes_per_token = 131072
max_num_seqs = 256
max_num_batched_tokens = 2048
block_size = 16
source = "hand"

[profile.step]
c0 = 100.0
dense = [[1, 10.0], [16, 20.0]]
d1 = 1.0
"#;

/// `profile import blis ... --out FILE` reads FILE first: a bad FILE is refused there.
fn import_into(file: &Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "profile",
            "import",
            "blis",
            "profiles/sources/llm/blis/defaults-b563c44.yaml",
            "--gpu",
            "H100",
            "--model",
            "qwen3-14b",
            "--out",
        ])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn a_good_file_takes_a_new_row() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("llm.toml");
    std::fs::write(&f, GOOD).unwrap();
    let o = import_into(&f);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let set = LlmProfiles::load(&f).unwrap();
    assert_eq!(set.profiles.len(), 2);
    assert_eq!(set.profiles[0].step.dense, vec![[1.0, 10.0], [16.0, 20.0]]);
}

#[test]
fn bad_profiles_exit_2_naming_file_profile_and_key() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "kv_bytes_per_token = 131072",
            "kv_bytes_per_token = 0",
            &[
                "profile 0",
                "RTXPRO6000/whole/m",
                "kv_bytes_per_token",
                "without KV size",
            ],
        ),
        (
            "dense = [[1, 10.0], [16, 20.0]]",
            "dense = [[16, 10.0], [1, 20.0]]",
            &["profile 0", "step.dense", "sorted"],
        ),
        (
            "max_num_seqs = 256",
            "max_num_seqs = 0",
            &["profile 0", "max_num_seqs", "at least 1"],
        ),
        (
            "block_size = 16",
            "block_size = 0",
            &["block_size", "at least 1"],
        ),
        ("c0 = 100.0", "c0 = nan", &["step.c0", "not finite"]),
        (
            "gpu_memory_gib = 96.0\n",
            "",
            &["gpu_memory_gib", "not in the MIG catalog"],
        ),
        (
            "gpu_memory_gib = 96.0",
            "gpu_memory_gib = 8.0",
            &["weights_bytes", "exceed"],
        ),
        (
            "max_num_seqs = 256",
            "max_num_seqs = -1",
            &["line", "max_num_seqs"],
        ),
        ("d1 = 1.0", "d9 = 1.0", &["line", "d9"]),
        (
            "weights_bytes = 16060522496",
            "weights_bytes = 0",
            &["weights_bytes"],
        ),
        (
            "dense = [[1, 10.0], [16, 20.0]]",
            "dense = [[1, -10.0]]",
            &["step.dense", ">= 0"],
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, (from, to, want)) in cases.iter().enumerate() {
        assert!(GOOD.contains(from), "case {i}");
        let f = tmp.path().join(format!("bad{i}.toml"));
        std::fs::write(&f, GOOD.replacen(from, to, 1)).unwrap();
        let o = import_into(&f);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(&format!("bad{i}.toml")), "case {i}: {err}");
        for w in *want {
            assert!(err.contains(w), "case {i}: '{w}' not in: {err}");
        }
        // The file is left as it was.
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            GOOD.replacen(from, to, 1)
        );
    }
    // Two rows of the same gpu, slice and model.
    let f = tmp.path().join("dup.toml");
    std::fs::write(&f, format!("{GOOD}{GOOD}")).unwrap();
    let o = import_into(&f);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("profile 1"));
}

#[test]
fn bad_sources_exit_2_naming_file_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    // A mixture-of-experts config is refused.
    let moe = tmp.path().join("moe.json");
    std::fs::write(
        &moe,
        r#"{"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
            "intermediate_size": 8, "vocab_size": 8, "num_local_experts": 8}"#,
    )
    .unwrap();
    let o = Command::new(BIN)
        .args([
            "profile",
            "import",
            "llmservingsim",
            "profiles/sources/llm/llmservingsim/RTXPRO6000/Llama-3.1-8B/profile",
            "--gpu-memory-gib",
            "96",
            "--model-config",
        ])
        .arg(&moe)
        .arg("--out")
        .arg(tmp.path().join("o.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("moe.json") && err.contains("num_local_experts"),
        "{err}"
    );
    // A model too large for the memory given: refused, nothing written.
    let out = tmp.path().join("small.toml");
    let o = Command::new(BIN)
        .args([
            "profile",
            "import",
            "llmservingsim",
            "profiles/sources/llm/llmservingsim/RTXPRO6000/Llama-3.1-8B/profile",
            "--model-config",
            "profiles/sources/llm/llmservingsim/model-configs/Llama-3.1-8B.json",
            "--gpu-memory-gib",
            "10",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("weights_bytes") && err.contains("exceed"),
        "{err}"
    );
    assert!(!out.exists());
    // A table with a bad number names file, column and row.
    let dir = tmp.path().join("p");
    std::fs::create_dir_all(dir.join("tp1")).unwrap();
    let src = Path::new("profiles/sources/llm/llmservingsim/RTXPRO6000/Llama-3.1-8B/profile");
    std::fs::copy(src.join("meta.yaml"), dir.join("meta.yaml")).unwrap();
    for f in ["dense.csv", "per_sequence.csv"] {
        std::fs::copy(src.join("tp1").join(f), dir.join("tp1").join(f)).unwrap();
    }
    std::fs::write(
        dir.join("tp1/attention.csv"),
        "prefill_chunk,kv_prefill,n_decode,kv_decode,time_us\n16,0,0,0,8.0\n0,0,1,16,-3\n",
    )
    .unwrap();
    let o = Command::new(BIN)
        .args(["profile", "import", "llmservingsim"])
        .arg(&dir)
        .args([
            "--model-config",
            "profiles/sources/llm/llmservingsim/model-configs/Llama-3.1-8B.json",
            "--gpu-memory-gib",
            "96",
            "--out",
        ])
        .arg(tmp.path().join("o2.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("attention.csv") && err.contains("time_us") && err.contains("row 1"),
        "{err}"
    );
}
