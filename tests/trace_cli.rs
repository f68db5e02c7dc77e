//! The trace tools end to end through the binary, on small hand-made inputs whose traces are
//! worked out by hand: `trace import azure` (timestamps rounded to the microsecond, batch =
//! ceil(tokens / --tokens-per-item) clamped to [1, --max-batch], `--tokens`, `--model`,
//! `--rate`), `trace import alibaba` (model ids ranked by popularity onto `--models`,
//! `--others spread|drop`, empty cells, `--rate`) and `trace gen --rate-shape` (with
//! `--shape-compress` and `--shape-period`: arrivals per step against the Poisson mean of the
//! step's rate).

mod common;

use common::{path_str, run};
use mig_replay::trace::Trace;
use std::path::Path;

/// (arrival µs, model, batch) of every query of a trace file, sorted.
fn rows(path: &Path) -> Vec<(u64, String, u32)> {
    let t = Trace::load(path).unwrap();
    let mut v: Vec<(u64, String, u32)> = (0..t.len())
        .map(|q| {
            assert_eq!(t.arrival_ns[q] % 1000, 0, "whole microseconds");
            (
                t.arrival_ns[q] / 1000,
                t.models[t.model[q] as usize].clone(),
                t.batch[q],
            )
        })
        .collect();
    v.sort();
    v
}

fn row(us: u64, m: &str, b: u32) -> (u64, String, u32) {
    (us, m.to_string(), b)
}

const AZURE: &str = "TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:46.6805900,100,20
2023-11-16 18:15:46.9000000,64,1
2023-11-16 18:15:47.0000006,0,10
2023-11-16 18:15:48.5000000,20000,5
";

#[test]
fn azure_import_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("azure.csv");
    std::fs::write(&csv, AZURE).unwrap();
    let out = dir.path().join("t.parquet");
    let import = |extra: &[&str]| {
        let mut a = vec![
            "trace",
            "import",
            "azure",
            "--csv",
            path_str(&csv),
            "--out",
            path_str(&out),
        ];
        a.extend_from_slice(extra);
        let o = run(&a);
        assert_eq!(o.code, 0, "{extra:?}: {}", o.stderr);
        rows(&out)
    };
    // Time from the first request, rounded to the microsecond: 46.680590 s is 0; 46.900000 s
    // is 219,410 µs; 47.0000006 s rounds to 47.000001 s, 319,411 µs; 48.5 s is 1,819,410 µs.
    // Defaults: bert-base, 64 tokens per item, ContextTokens, at most 256: ceil(100/64) = 2,
    // ceil(64/64) = 1, 0 tokens -> 1 (at least 1), ceil(20000/64) = 313 -> clamped to 256.
    assert_eq!(
        import(&[]),
        [
            row(0, "bert-base", 2),
            row(219_410, "bert-base", 1),
            row(319_411, "bert-base", 1),
            row(1_819_410, "bert-base", 256),
        ]
    );
    // --tokens total counts GeneratedTokens too: 120 -> 2, 65 -> 2, 10 -> 1, 20005 -> 256;
    // --tokens-per-item 32 --max-batch 8 on the context: 4, 2, 1, 625 -> 8.
    assert_eq!(
        import(&["--tokens", "total", "--model", "resnet50"])
            .iter()
            .map(|r| r.2)
            .collect::<Vec<_>>(),
        [2, 2, 1, 256]
    );
    assert_eq!(
        import(&["--tokens-per-item", "32", "--max-batch", "8"])
            .iter()
            .map(|r| r.2)
            .collect::<Vec<_>>(),
        [4, 2, 1, 8]
    );
    // --rate 3: 3 intervals over 1.81941 s become 3 over 1 s, every time divided by 1.81941
    // and cut to whole microseconds: 120,594.04 -> 120,594 and 175,557.46 -> 175,557 µs.
    let got: Vec<u64> = import(&["--rate", "3"]).iter().map(|r| r.0).collect();
    assert_eq!(got, [0, 120_594, 175_557, 1_000_000]);
}

const ALIBABA: &str = "gmt_create,num_images_per_prompt,checkpoint_model_version_id
2026-01-05 10:00:00,1,A
2026-01-05 10:00:00,4,B
2026-01-05 10:00:01,,A
2026-01-05 10:00:02,2,C
2026-01-05 10:00:02,1,A
2026-01-05 10:00:04,3,B
2026-01-05 10:00:05,1,
2026-01-05 10:00:05,2,D
";

#[test]
fn alibaba_import_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("alibaba.csv");
    std::fs::write(&csv, ALIBABA).unwrap();
    let out = dir.path().join("t.parquet");
    let import = |extra: &[&str]| {
        let mut a = vec![
            "trace",
            "import",
            "alibaba",
            "--csv",
            path_str(&csv),
            "--out",
            path_str(&out),
            "--models",
            "x,y",
        ];
        a.extend_from_slice(extra);
        let o = run(&a);
        assert_eq!(o.code, 0, "{extra:?}: {}", o.stderr);
        rows(&out)
    };
    // Popularity: A 3 requests (rank 0), B 2 (rank 1), then 1 each, ties by id: "(empty)" (the
    // empty id), C, D (ranks 2, 3, 4). Spread: rank r -> models[r mod 2]: A, (empty) and D on
    // x, B and C on y. The empty num_images_per_prompt counts as 1. Seconds from the first.
    let s = 1_000_000;
    assert_eq!(
        import(&[]),
        [
            row(0, "x", 1),
            row(0, "y", 4),
            row(s, "x", 1),
            row(2 * s, "x", 1),
            row(2 * s, "y", 2),
            row(4 * s, "y", 3),
            row(5 * s, "x", 1),
            row(5 * s, "x", 2),
        ]
    );
    // Drop: only the two most requested ids, A -> x and B -> y.
    assert_eq!(
        import(&["--others", "drop"]),
        [
            row(0, "x", 1),
            row(0, "y", 4),
            row(s, "x", 1),
            row(2 * s, "x", 1),
            row(4 * s, "y", 3),
        ]
    );
    // --rate 2 on the dropped trace: 4 intervals over 4 s become 4 over 2 s, times halved.
    let got: Vec<u64> = import(&["--others", "drop", "--rate", "2"])
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(got, [0, 0, s / 2, s, 2 * s]);
}

/// `count` arrivals where a Poisson process of mean `mean` was expected: within 4 standard
/// deviations.
fn near(count: usize, mean: f64, what: &str) {
    let sd = mean.sqrt();
    assert!(
        (count as f64 - mean).abs() < 4.0 * sd,
        "{what}: {count} arrivals, expected {mean} +- {}",
        4.0 * sd
    );
}

#[test]
fn trace_gen_rate_shape_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("shape.csv");
    // Half the rate for 10 s, then 1.5 times it (the last step holds).
    std::fs::write(&shape, "start_s,multiplier\n0,0.5\n10,1.5\n").unwrap();
    let out = dir.path().join("t.parquet");
    let arrivals_per = |extra: &[&str], edges: &[f64]| -> Vec<usize> {
        let mut a = vec![
            "trace",
            "gen",
            "--rate",
            "100",
            "--duration",
            "20",
            "--model",
            "resnet50",
            "--seed",
            "3",
            "--rate-shape",
            path_str(&shape),
            "--out",
            path_str(&out),
        ];
        a.extend_from_slice(extra);
        let o = run(&a);
        assert_eq!(o.code, 0, "{extra:?}: {}", o.stderr);
        let t = Trace::load(&out).unwrap();
        assert!(t.arrival_ns.iter().all(|&x| x < 20_000_000_000));
        edges
            .windows(2)
            .map(|w| {
                t.arrival_ns
                    .iter()
                    .filter(|&&x| {
                        let s = x as f64 / 1e9;
                        s >= w[0] && s < w[1]
                    })
                    .count()
            })
            .collect()
    };
    // 100 q/s x 0.5 over [0, 10): 500 expected; x 1.5 over [10, 20): 1,500.
    let n = arrivals_per(&[], &[0.0, 10.0, 20.0]);
    near(n[0], 500.0, "[0, 10)");
    near(n[1], 1500.0, "[10, 20)");
    // --shape-compress 2: the step at 10 s moves to 5 s: 250 over [0, 5), 2,250 over [5, 20).
    let n = arrivals_per(&["--shape-compress", "2"], &[0.0, 5.0, 20.0]);
    near(n[0], 250.0, "compressed [0, 5)");
    near(n[1], 2250.0, "compressed [5, 20)");
    // And --shape-period 10: the compressed shape repeats every 10 s: 250, 750, 250, 750.
    let n = arrivals_per(
        &["--shape-compress", "2", "--shape-period", "10"],
        &[0.0, 5.0, 10.0, 15.0, 20.0],
    );
    for (k, want) in [250.0, 750.0, 250.0, 750.0].into_iter().enumerate() {
        near(n[k], want, &format!("periodic step {k}"));
    }
}
