//! `run --timeline-s`: the contents of `timeline.parquet`, row by row, on a four-query,
//! two-model trace worked out by hand (arrivals, completions, latencies, SLA attainment and
//! GPC-weighted utilization per window and per model).

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use common::{f64s, i32s, path_str, run, strs, write_batch};
use std::collections::BTreeMap;

/// One timeline row as read back: (arrivals, offered, served, p99, attainment, utilization,
/// layout).
#[derive(Debug)]
struct Row {
    arrivals: f64,
    offered: f64,
    served: f64,
    p99: Option<f64>,
    attainment: Option<f64>,
    utilization: f64,
    layout: String,
}

fn read(path: &std::path::Path) -> BTreeMap<(u64, String), Row> {
    let f = std::fs::File::open(path).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = BTreeMap::new();
    for b in r {
        let b = b.unwrap();
        let f = |c: &str| {
            arrow_cast::cast(
                b.column_by_name(c).unwrap_or_else(|| panic!("column {c}")),
                &arrow_schema::DataType::Float64,
            )
            .unwrap()
        };
        let s = |c: &str| {
            arrow_cast::cast(b.column_by_name(c).unwrap(), &arrow_schema::DataType::Utf8).unwrap()
        };
        let (start, width, arrivals, offered, served, p99, att, util) = (
            f("window_start_s"),
            f("window_s"),
            f("arrivals"),
            f("offered_qps"),
            f("served_qps"),
            f("p99_ms"),
            f("sla_attainment"),
            f("utilization"),
        );
        let (model, layout) = (s("model"), s("layout"));
        let opt = |a: &arrow_array::ArrayRef, i: usize| {
            (!a.is_null(i)).then(|| a.as_primitive::<Float64Type>().value(i))
        };
        let v = |a: &arrow_array::ArrayRef, i: usize| a.as_primitive::<Float64Type>().value(i);
        for i in 0..b.num_rows() {
            assert_eq!(v(&width, i), 0.015);
            // Window starts in µs (0, 15,000, 30,000), exact after rounding.
            let k = (v(&start, i) * 1e6).round() as u64;
            out.insert(
                (k, model.as_string::<i32>().value(i).to_string()),
                Row {
                    arrivals: v(&arrivals, i),
                    offered: v(&offered, i),
                    served: v(&served, i),
                    p99: opt(&p99, i),
                    attainment: opt(&att, i),
                    utilization: v(&util, i),
                    layout: layout.as_string::<i32>().value(i).to_string(),
                },
            );
        }
    }
    out
}

#[test]
fn timeline_parquet_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    // Models a and b, 10 ms per query on a whole A100-40GB (7g.40gb, 7 GPCs).
    let prof = dir.path().join("p.parquet");
    write_batch(
        &prof,
        vec![
            ("gpu", strs(&["A100-40GB", "A100-40GB"])),
            ("slice", strs(&["7g.40gb", "7g.40gb"])),
            ("model", strs(&["a", "b"])),
            ("batch", i32s(&[1, 1])),
            ("latency_ms", f64s(&[10.0, 10.0])),
        ],
    );
    let trace = dir.path().join("t.parquet");
    write_batch(
        &trace,
        vec![
            ("arrival_us", common::i64s(&[0, 0, 5_000, 30_000])),
            ("model", strs(&["a", "b", "a", "b"])),
            ("batch", i32s(&[1, 1, 1, 1])),
        ],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--trace",
        path_str(&trace),
        "--profiles",
        path_str(&prof),
        "--gpu",
        "A100-40GB",
        "--gpus",
        "1",
        "--policy",
        "fcfs",
        "--sla-ms",
        "15",
        "--timeline-s",
        "0.015",
        "--out",
        path_str(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(out.join("timeline.svg").exists());
    // FCFS on one GPU: a0@0 runs 0-10 ms (latency 10), b0@0 10-20 (20), a1@5 20-30 (25), b1@30
    // 30-40 (10). The last completion is at 40 ms: windows of 15 ms [0, 15), [15, 30),
    // [30, 45). Against the 15 ms SLA only a0 and b1 meet it.
    //
    // [0, 15): arrivals a0, a1 (a) and b0 (b): a p99 (rank 2 of 10, 25) 25 ms, attainment 1/2;
    // b p99 20, attainment 0; all p99 (rank 3 of 10, 20, 25) 25, attainment 1/3. Completions:
    // a0 (10 ms). Busy 0-15 ms (a0, then b0): utilization 1.
    // [15, 30): no arrival; completions b0 (20 ms); busy 15-30 (b0, a1): 1.
    // [30, 45): arrival b1 (latency 10, met); completions a1 (30 ms) and b1 (40 ms); busy
    // 30-40: 10/15.
    let rows = read(&out.join("timeline.parquet"));
    assert_eq!(rows.len(), 9, "3 windows x (a, b, all): {rows:?}");
    let w = 0.015;
    // (window start µs, model, arrivals, served, p99, attainment, utilization)
    #[allow(clippy::type_complexity)]
    let want: [(u64, &str, f64, f64, Option<f64>, Option<f64>, f64); 9] = [
        (0, "a", 2.0, 1.0, Some(25.0), Some(0.5), 1.0),
        (0, "b", 1.0, 0.0, Some(20.0), Some(0.0), 1.0),
        (0, "all", 3.0, 1.0, Some(25.0), Some(1.0 / 3.0), 1.0),
        (15_000, "a", 0.0, 0.0, None, None, 1.0),
        (15_000, "b", 0.0, 1.0, None, None, 1.0),
        (15_000, "all", 0.0, 1.0, None, None, 1.0),
        (30_000, "a", 0.0, 1.0, None, None, 10.0 / 15.0),
        (30_000, "b", 1.0, 1.0, Some(10.0), Some(1.0), 10.0 / 15.0),
        (30_000, "all", 1.0, 2.0, Some(10.0), Some(1.0), 10.0 / 15.0),
    ];
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    for (k, m, arrivals, served, p99, att, util) in want {
        let r = rows
            .get(&(k, m.to_string()))
            .unwrap_or_else(|| panic!("no row ({k} µs, {m}): {rows:?}"));
        let what = format!("window {k} µs, {m}: {r:?}");
        assert_eq!(r.arrivals, arrivals, "{what}");
        assert!(close(r.offered, arrivals / w), "{what}");
        assert!(close(r.served, served / w), "{what}");
        assert_eq!(r.p99, p99, "{what}");
        match (r.attainment, att) {
            (Some(x), Some(y)) => assert!(close(x, y), "{what}"),
            (x, y) => assert_eq!(x, y, "{what}"),
        }
        assert!(close(r.utilization, util), "{what}");
        assert!(r.layout.contains("7g.40gb"), "{what}");
    }
}
