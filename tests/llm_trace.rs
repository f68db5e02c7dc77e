//! LLM traces end to end through the binary, on hand-made inputs whose traces are worked out by
//! hand: `trace import vllm-run` (arrivals from the engine clock's `queued_ts`, ids from the
//! request ids, the model from `meta.json`), `trace import azure --llm` (the token counts kept),
//! the token columns' validation (exit 2 naming the file, column and row), and `trace gen --llm`
//! (deterministic, the token laws realised: the sample against the declared law's closed form).

mod common;

use common::*;
use mig_replay::trace::Trace;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn expect_err(o: &Out, parts: &[&str]) {
    assert_eq!(o.code, 2, "exit code; stderr: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "panic: {}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line: {}", o.stderr);
    for p in parts {
        assert!(o.stderr.contains(p), "expected {p:?} in: {}", o.stderr);
    }
}

/// (arrival µs, model, prompt, output, id) of every row of an LLM trace file, in its order.
fn llm_rows(path: &Path) -> Vec<(u64, String, u32, u32, i64)> {
    let t = Trace::load(path).unwrap();
    assert!(t.is_llm(), "an LLM trace");
    assert!(t.batch.iter().all(|&b| b == 1));
    let tk = t.tokens.as_ref().unwrap();
    (0..t.len())
        .map(|q| {
            (
                t.arrival_ns[q] / 1000,
                t.models[t.model[q] as usize].clone(),
                tk.prompt[q],
                tk.output[q],
                t.id_of(q),
            )
        })
        .collect()
}

fn r(us: u64, m: &str, p: u32, o: u32, id: i64) -> (u64, String, u32, u32, i64) {
    (us, m.to_string(), p, o, id)
}

/// A vLLM run directory with these request lines and (when given) this meta.json.
fn run_dir(root: &Path, lines: &[&str], meta: Option<&str>) -> PathBuf {
    let d = root.join("run");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("requests.jsonl"), lines.join("\n") + "\n").unwrap();
    let m = d.join("meta.json");
    match meta {
        Some(text) => std::fs::write(&m, text).unwrap(),
        None => {
            let _ = std::fs::remove_file(&m);
        }
    }
    d
}

#[test]
fn vllm_run_arrivals_are_the_engine_clock_to_the_microsecond() {
    let dir = tempfile::tempdir().unwrap();
    // Lines out of queue order; arrival_time (the client's wall clock) is far off and ignored.
    let lines = [
        r#"{"request_id": "bench-0", "input_toks": 10, "output_toks": 5, "arrival_time": 1777142838.3, "queued_ts": 1000.5}"#,
        r#"{"request_id": "bench-1", "input_toks": 300, "output_toks": 1, "arrival_time": 1777142838.1, "queued_ts": 1000.2500017}"#,
        r#"{"request_id": "bench-2", "input_toks": 7, "output_toks": 2048, "arrival_time": 1777142839.9, "queued_ts": 1001.75}"#,
    ];
    let d = run_dir(
        dir.path(),
        &lines,
        Some(r#"{"model": "some-org/Tiny-1B", "engine_kwargs": {"max_num_seqs": 4}}"#),
    );
    let out = dir.path().join("t.parquet");
    let o = run(&[
        "trace",
        "import",
        "vllm-run",
        path_str(&d),
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // The first queued is bench-1 at 1000.2500017 s: 0. bench-0: 1000.5 - 1000.2500017 =
    // 0.2499983 s = 249,998.3 µs -> 249,998. bench-2: 1.4999983 s -> 1,499,998 µs. Sorted by
    // arrival, the ids (the request ids' numbers) follow: 1, 0, 2. Model: meta.json's last
    // path component.
    assert_eq!(
        llm_rows(&out),
        [
            r(0, "Tiny-1B", 300, 1, 1),
            r(249_998, "Tiny-1B", 10, 5, 0),
            r(1_499_998, "Tiny-1B", 7, 2048, 2),
        ]
    );
    // --model names it instead, and meta.json is then not needed.
    let d = run_dir(dir.path(), &lines, None);
    let o = run(&[
        "trace",
        "import",
        "vllm-run",
        path_str(&d),
        "--model",
        "Llama-3.1-8B",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(llm_rows(&out)[2], r(1_499_998, "Llama-3.1-8B", 7, 2048, 2));
    // Without both, the missing meta.json is named.
    let o = run(&[
        "trace",
        "import",
        "vllm-run",
        path_str(&d),
        "--out",
        path_str(&out),
    ]);
    expect_err(&o, &["meta.json", "not found"]);
}

#[test]
fn vllm_run_bad_lines_name_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Some(r#"{"model": "m"}"#);
    let good = r#"{"request_id": "a-0", "input_toks": 10, "output_toks": 5, "queued_ts": 1.0}"#;
    let out = dir.path().join("t.parquet");
    let import = |d: &Path| {
        run(&[
            "trace",
            "import",
            "vllm-run",
            path_str(d),
            "--out",
            path_str(&out),
        ])
    };
    let cases: [(&str, &[&str]); 6] = [
        (
            r#"{"input_toks": 10, "output_toks": 5}"#,
            &[
                "requests.jsonl",
                "column 'queued_ts'",
                "line 2",
                "missing field",
            ],
        ),
        (
            r#"{"input_toks": 0, "output_toks": 5, "queued_ts": 2.0}"#,
            &["column 'input_toks'", "line 2", "value 0", ">= 1"],
        ),
        (
            r#"{"input_toks": 10, "output_toks": -3, "queued_ts": 2.0}"#,
            &["column 'output_toks'", "line 2", "value -3"],
        ),
        (
            r#"{"input_toks": 2000000, "output_toks": 5, "queued_ts": 2.0}"#,
            &["column 'input_toks'", "line 2", "absurd", "1048576"],
        ),
        (
            r#"{"input_toks": 10.5, "output_toks": 5, "queued_ts": 2.0}"#,
            &["column 'input_toks'", "line 2", "not an integer"],
        ),
        (
            r#"{"input_toks": 10, "output_toks": 5, "queued_ts": 2.0"#,
            &["requests.jsonl", "line 2", "not JSON"],
        ),
    ];
    for (bad, parts) in cases {
        let d = run_dir(dir.path(), &[good, bad], meta);
        expect_err(&import(&d), parts);
    }
    assert!(!out.exists(), "no trace written from a bad run");
}

/// Write a Parquet trace with these columns and inspect it.
fn inspect_with(dir: &Path, cols: Vec<(&str, arrow_array::ArrayRef)>) -> Out {
    let p = dir.join("t.parquet");
    write_batch(&p, cols);
    run(&["trace", "inspect", path_str(&p)])
}

type Columns = Vec<(&'static str, arrow_array::ArrayRef)>;

fn opt_i32s(v: &[Option<i32>]) -> arrow_array::ArrayRef {
    Arc::new(arrow_array::Int32Array::from(v.to_vec()))
}

#[test]
fn token_columns_are_validated_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base =
        |prompt: arrow_array::ArrayRef, output: arrow_array::ArrayRef, batch: &[i32]| -> Columns {
            vec![
                ("arrival_us", i64s(&[0, 10, 20])),
                ("model", strs(&["m", "m", "m"])),
                ("batch", i32s(batch)),
                ("prompt_tokens", prompt),
                ("output_tokens", output),
            ]
        };
    // A good one: inspect reports its tokens (hand values: prompts 5, 100, 1000; outputs 1,
    // 2, 3; mean prompt 368.3, total 1111).
    let o = inspect_with(d, base(i32s(&[5, 100, 1000]), i32s(&[1, 2, 3]), &[1, 1, 1]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("tokens of m: 3 requests, 1111 tokens in all"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("prompt  mean 368.3, p50 100, p90 1000, p99 1000, max 1000"),
        "{}",
        o.stdout
    );
    let cases: Vec<(Columns, Vec<&str>)> = vec![
        (
            base(i32s(&[5, 0, 9]), i32s(&[1, 2, 3]), &[1, 1, 1]),
            vec![
                "t.parquet",
                "column 'prompt_tokens', row 1",
                "value 0",
                ">= 1",
            ],
        ),
        (
            base(i32s(&[5, 6, 9]), i32s(&[1, 2, -4]), &[1, 1, 1]),
            vec!["column 'output_tokens', row 2", "value -4"],
        ),
        (
            base(i32s(&[5, 1_048_577, 9]), i32s(&[1, 2, 3]), &[1, 1, 1]),
            vec!["column 'prompt_tokens', row 1", "absurd", "1048576"],
        ),
        (
            base(
                i32s(&[5, 6, 9]),
                opt_i32s(&[Some(1), None, Some(3)]),
                &[1, 1, 1],
            ),
            vec!["column 'output_tokens', row 1", "null"],
        ),
        (
            base(i32s(&[5, 6, 9]), i32s(&[1, 2, 3]), &[1, 1, 4]),
            vec!["column 'batch', row 2", "value 4", "expected 1"],
        ),
    ];
    for (cols, parts) in cases {
        expect_err(&inspect_with(d, cols), &parts);
    }
    // One of the two columns alone: the other is named missing.
    let o = inspect_with(
        d,
        vec![
            ("arrival_us", i64s(&[0])),
            ("model", strs(&["m"])),
            ("batch", i32s(&[1])),
            ("prompt_tokens", i32s(&[3])),
        ],
    );
    expect_err(&o, &["t.parquet", "column 'output_tokens'", "missing"]);
    // A batch trace keeps its batches (no token rule applies).
    let o = inspect_with(
        d,
        vec![
            ("arrival_us", i64s(&[0, 1])),
            ("model", strs(&["m", "m"])),
            ("batch", i32s(&[4, 1])),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains("tokens of"));
}

const AZURE: &str = "TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,100,20
2023-11-16 18:15:46.9000000,64,1
2023-11-16 18:15:47.0000006,3,10
2023-11-16 18:15:48.5000000,20000,5
";

#[test]
fn azure_llm_keeps_the_token_counts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("azure.csv");
    let out = dir.path().join("t.parquet");
    let import = |text: &str, extra: &[&str]| {
        std::fs::write(&csv, text).unwrap();
        let mut a = vec![
            "trace",
            "import",
            "azure",
            "--llm",
            "--csv",
            path_str(&csv),
            "--out",
            path_str(&out),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let o = import(AZURE, &["--model", "Llama-3.1-8B"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Arrivals as the batch import's (0, 219,410, 319,411 and 1,819,410 µs); the tokens as
    // they are, even 20,000 (no clamp: it is below 2^20).
    assert_eq!(
        llm_rows(&out),
        [
            r(0, "Llama-3.1-8B", 100, 20, 0),
            r(219_410, "Llama-3.1-8B", 64, 1, 1),
            r(319_411, "Llama-3.1-8B", 3, 10, 2),
            r(1_819_410, "Llama-3.1-8B", 20000, 5, 3),
        ]
    );
    // Bad rows name the line (the header is line 1).
    let zero = AZURE.replace(",3,10", ",0,10");
    expect_err(
        &import(&zero, &["--model", "m"]),
        &["azure.csv", "column 'ContextTokens'", "line 4", "value 0"],
    );
    let absurd = AZURE.replace(",64,1\n", ",64,5000000\n");
    expect_err(
        &import(&absurd, &["--model", "m"]),
        &["column 'GeneratedTokens'", "line 3", "absurd"],
    );
    let negative = AZURE.replace(",100,20", ",-100,20");
    expect_err(
        &import(&negative, &["--model", "m"]),
        &["column 'ContextTokens'", "line 2", "value -100"],
    );
    // --llm needs --model, and takes no batch rule.
    expect_err(&import(AZURE, &[]), &["--model"]);
    let o = import(AZURE, &["--model", "m", "--tokens-per-item", "32"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--tokens-per-item"), "{}", o.stderr);
}

fn trace_gen(out: &Path, extra: &[&str]) -> Out {
    let mut a = vec!["trace", "gen", "--rate", "50", "--out", path_str(out)];
    a.extend_from_slice(extra);
    run(&a)
}

#[test]
fn gen_llm_is_deterministic_and_keeps_the_batch_traces_streams() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let args = [
        "--queries",
        "3000",
        "--model",
        "a:2",
        "--model",
        "b",
        "--prompt-law",
        "lognormal:mu=6,sigma=1,max=8192",
        "--prompt-law",
        "b=hist:7:1",
        "--output-law",
        "hist:100:1,1000:3",
        "--seed",
        "9",
    ];
    assert_eq!(trace_gen(&p("1.parquet"), &args).code, 0);
    assert_eq!(trace_gen(&p("2.parquet"), &args).code, 0);
    let mut streamed = args.to_vec();
    streamed.push("--stream");
    assert_eq!(trace_gen(&p("3.parquet"), &streamed).code, 0);
    let bytes = |n: &str| std::fs::read(p(n)).unwrap();
    assert_eq!(
        bytes("1.parquet"),
        bytes("2.parquet"),
        "same seed, same bytes"
    );
    assert_eq!(
        bytes("1.parquet"),
        bytes("3.parquet"),
        "streamed: the same rows"
    );
    // The batch trace of the same seed has the same arrivals and models.
    let batch = trace_gen(
        &p("batch.parquet"),
        &[
            "--queries",
            "3000",
            "--model",
            "a:2",
            "--model",
            "b",
            "--seed",
            "9",
        ],
    );
    assert_eq!(batch.code, 0);
    let (l, b) = (
        Trace::load(&p("1.parquet")).unwrap(),
        Trace::load(&p("batch.parquet")).unwrap(),
    );
    assert_eq!(l.arrival_ns, b.arrival_ns);
    assert_eq!(l.model, b.model);
    assert!(l.batch.iter().all(|&x| x == 1) && b.batch.iter().any(|&x| x > 1));
    // Per-model law: every request of b has 7 prompt tokens; a's are spread.
    let tk = l.tokens.as_ref().unwrap();
    let b_idx = l.models.iter().position(|m| m == "b").unwrap() as u32;
    let (of_b, of_a): (Vec<usize>, Vec<usize>) = (0..l.len()).partition(|&q| l.model[q] == b_idx);
    assert!(!of_b.is_empty() && of_b.iter().all(|&q| tk.prompt[q] == 7));
    assert!(of_a.iter().any(|&q| tk.prompt[q] != 7));
    // Another seed: other draws.
    let mut other = args.to_vec();
    *other.last_mut().unwrap() = "10";
    assert_eq!(trace_gen(&p("4.parquet"), &other).code, 0);
    assert_ne!(bytes("1.parquet"), bytes("4.parquet"));
    // Bad laws are usage errors.
    for (law, part) in [
        ("lognormal:mu=6", "needs mu and sigma"),
        ("lognormal:mu=6,sigma=-1", "sigma >= 0"),
        ("lognormal:mu=6,sigma=1,max=2000000", "max"),
        ("hist:0:1", "1..=1048576"),
        ("uniform:1", "unknown law"),
        ("c=hist:5:1", "'c'"),
    ] {
        let o = trace_gen(
            &p("bad.parquet"),
            &["--queries", "5", "--model", "a", "--prompt-law", law],
        );
        expect_err(&o, &["--prompt-law", part]);
    }
}

/// Nearest-integer normal CDF from erfc (the closed form the checks compare against).
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn gen_llm_token_laws_are_realised() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let n = 20_000usize;
    let o = trace_gen(
        &out,
        &[
            "--queries",
            "20000",
            "--model",
            "m",
            "--prompt-law",
            "lognormal:mu=6,sigma=0.5",
            "--output-law",
            "lognormal:mu=6,sigma=1,max=500",
            "--seed",
            "4",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let t = Trace::load(&out).unwrap();
    assert_eq!(t.len(), n);
    let tk = t.tokens.as_ref().unwrap();
    // Prompts: ln(tokens) has mean mu = 6 and standard deviation sigma = 0.5 (rounding to an
    // integer moves ln by at most 0.5/e^4 ~ 0.01 at the far low tail, ~0.001 at the median;
    // the max of 2^20 is 28 sigma away). Standard error of the mean: 0.5/sqrt(20000) =
    // 0.0035; of the standard deviation: 0.5/sqrt(40000) = 0.0025. Tolerances: 4 of them.
    let logs: Vec<f64> = tk.prompt.iter().map(|&x| (x as f64).ln()).collect();
    let mean = logs.iter().sum::<f64>() / n as f64;
    let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    assert!((mean - 6.0).abs() < 0.014, "mean of ln prompt {mean}");
    assert!((sd - 0.5).abs() < 0.01, "sd of ln prompt {sd}");
    // Outputs clamped at 500: P(round(exp(X)) >= 500) = P(X >= ln 499.5) = 1 - Phi(ln 499.5
    // - 6) = 0.41543 for X ~ N(6, 1); the sample share within 4 standard errors (0.0035 each).
    let at_max = tk.output.iter().filter(|&&x| x == 500).count() as f64 / n as f64;
    let expect = 1.0 - phi(499.5f64.ln() - 6.0);
    assert!((expect - 0.41543).abs() < 1e-4);
    assert!((at_max - expect).abs() < 0.014, "share at max {at_max}");
    assert!(tk.output.iter().all(|&x| (1..=500).contains(&x)));
    // Below the clamp the law is untouched: P(round(exp X) <= 100) = Phi(ln 100.5 - 6) =
    // 0.1945.
    let low = tk.output.iter().filter(|&&x| x <= 100).count() as f64 / n as f64;
    let expect_low = phi(100.5f64.ln() - 6.0);
    assert!(
        (low - expect_low).abs() < 0.012,
        "share <= 100: {low} vs {expect_low}"
    );
}

#[test]
fn gen_llm_histogram_shares() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.parquet");
    let o = trace_gen(
        &out,
        &[
            "--queries",
            "20000",
            "--model",
            "m",
            "--llm",
            "--output-law",
            "hist:100:1,1000:3",
            "--seed",
            "2",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let t = Trace::load(&out).unwrap();
    let tk = t.tokens.as_ref().unwrap();
    // Weights 1:3 -> shares 0.25 and 0.75; standard error sqrt(0.25 * 0.75 / 20000) = 0.0031.
    let share = tk.output.iter().filter(|&&x| x == 100).count() as f64 / 20_000.0;
    assert!((share - 0.25).abs() < 0.0125, "share of 100: {share}");
    assert!(tk.output.iter().all(|&x| x == 100 || x == 1000));
    // The default prompt law (--llm alone): log-normal mu 6.63, sigma 0.99, clamped at 16,384.
    let logs: Vec<f64> = tk.prompt.iter().map(|&x| (x as f64).ln()).collect();
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    assert!((mean - 6.63).abs() < 0.03, "mean of ln prompt {mean}");
    assert!(tk.prompt.iter().all(|&x| (1..=16_384).contains(&x)));
}

#[test]
fn the_shipped_llm_traces_are_what_their_commands_write() {
    let dir = tempfile::tempdir().unwrap();
    let src = "traces/sources/llmservingsim/RTXPRO6000";
    for (model, file) in [
        ("Llama-3.1-8B", "vllm-llama-3.1-8b.parquet"),
        ("Qwen3-32B", "vllm-qwen3-32b.parquet"),
    ] {
        let out = dir.path().join(file);
        let o = run(&[
            "trace",
            "import",
            "vllm-run",
            &format!("{src}/{model}"),
            "--out",
            path_str(&out),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let shipped = Path::new("traces").join(file);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&shipped).unwrap()
        );
        let rows = llm_rows(&shipped);
        assert_eq!(rows.len(), 300);
        assert!(rows.iter().all(|x| x.1 == model));
        if model == "Qwen3-32B" {
            // From requests.jsonl by hand: queued_ts 479894.5810496, 479895.000621165,
            // 479895.000627039, 479895.090905..., less the first, in µs: 0, 419,572 (0.419571565
            // s), 419,577 (0.419577439 s); prompts 2361, 1128, 1354, outputs 532, 772, 782.
            assert_eq!(
                rows[..3],
                [
                    r(0, model, 2361, 532, 0),
                    r(419_572, model, 1128, 772, 1),
                    r(419_577, model, 1354, 782, 2),
                ]
            );
        }
    }
    let out = dir.path().join("conv.parquet");
    let o = run(&[
        "trace",
        "import",
        "azure",
        "--llm",
        "--model",
        "Llama-3.1-8B",
        "--csv",
        "traces/sources/azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let shipped = Path::new("traces/azure-conv-llm.parquet");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(shipped).unwrap()
    );
    // The CSV's first row: 2023-11-16 18:15:46.6805900, 374 context, 44 generated tokens.
    assert_eq!(llm_rows(shipped)[0], r(0, "Llama-3.1-8B", 374, 44, 0));
}

#[test]
fn an_llm_trace_is_known_by_its_schema_and_never_streamed() {
    use mig_replay::trace::reader::{Scan, is_llm_file};
    let llm = Path::new("traces/vllm-qwen3-32b.parquet");
    assert!(is_llm_file(llm).unwrap());
    assert!(!is_llm_file(Path::new("traces/quickstart.parquet")).unwrap());
    let e = Scan::read(llm).err().expect("refused").to_string();
    assert!(
        e.contains("vllm-qwen3-32b.parquet") && e.contains("--profiles profiles/llm.toml"),
        "{e}"
    );
    // Through the CLI, a streamed replay of it is exit 2 with that line.
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--trace",
        path_str(llm),
        "--profiles",
        "profiles/a100-80gb.parquet",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "1",
        "--policy",
        "fcfs",
        "--stream",
        "--out",
        path_str(&dir.path().join("out")),
    ]);
    expect_err(&o, &["vllm-qwen3-32b.parquet", "LLM trace", "not streamed"]);
}
