//! Structure-aware inputs: trace and profile Parquet files built column by column (right and
//! wrong types, nulls, edge values, missing and extra columns, then sometimes byte damage), the
//! Azure and Alibaba CSV files as the importers read them, and policy TOML files.

use super::values::{self, Rng};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use std::path::Path;
use std::sync::Arc;

/// One cell before it is typed.
#[derive(Clone)]
pub enum Cell {
    I(i64),
    F(f64),
    S(String),
    Null,
}

/// The Arrow type a column is written with.
#[derive(Clone, Copy)]
pub enum Kind {
    I64,
    I32,
    U64,
    F64,
    Utf8,
    Bool,
}

const KINDS: [Kind; 6] = [
    Kind::I64,
    Kind::I32,
    Kind::U64,
    Kind::F64,
    Kind::Utf8,
    Kind::Bool,
];

fn as_i64(c: &Cell) -> Option<i64> {
    match c {
        Cell::I(i) => Some(*i),
        Cell::F(f) => Some(*f as i64),
        Cell::S(s) => s.trim().parse().ok(),
        Cell::Null => None,
    }
}

fn as_f64(c: &Cell) -> Option<f64> {
    match c {
        Cell::I(i) => Some(*i as f64),
        Cell::F(f) => Some(*f),
        Cell::S(s) => s.trim().parse().ok(),
        Cell::Null => None,
    }
}

fn as_string(c: &Cell) -> Option<String> {
    match c {
        Cell::I(i) => Some(i.to_string()),
        Cell::F(f) => Some(f.to_string()),
        Cell::S(s) => Some(s.clone()),
        Cell::Null => None,
    }
}

/// A column of `cells` as an Arrow array of `kind` (cells that do not convert are nulls).
pub fn array(cells: &[Cell], kind: Kind) -> (ArrayRef, DataType) {
    match kind {
        Kind::I64 => (
            Arc::new(Int64Array::from(
                cells.iter().map(as_i64).collect::<Vec<_>>(),
            )),
            DataType::Int64,
        ),
        Kind::I32 => (
            Arc::new(Int32Array::from(
                cells
                    .iter()
                    .map(|c| as_i64(c).map(|v| v as i32))
                    .collect::<Vec<_>>(),
            )),
            DataType::Int32,
        ),
        Kind::U64 => (
            Arc::new(UInt64Array::from(
                cells
                    .iter()
                    .map(|c| as_i64(c).map(|v| v as u64))
                    .collect::<Vec<_>>(),
            )),
            DataType::UInt64,
        ),
        Kind::F64 => (
            Arc::new(Float64Array::from(
                cells.iter().map(as_f64).collect::<Vec<_>>(),
            )),
            DataType::Float64,
        ),
        Kind::Utf8 => (
            Arc::new(StringArray::from(
                cells.iter().map(as_string).collect::<Vec<_>>(),
            )),
            DataType::Utf8,
        ),
        Kind::Bool => (
            Arc::new(BooleanArray::from(
                cells
                    .iter()
                    .map(|c| as_i64(c).map(|v| v != 0))
                    .collect::<Vec<_>>(),
            )),
            DataType::Boolean,
        ),
    }
}

/// A column: its name, its cells and the type it should have.
pub struct Column {
    pub name: String,
    pub cells: Vec<Cell>,
    pub kind: Kind,
}

/// Damage a table the way files get damaged: cells replaced by edge values or nulls, a column
/// written with another type, renamed, dropped or duplicated, an extra column, rows dropped,
/// duplicated or shuffled. Most tables get only a little of it, so that deep code runs.
pub fn damage(r: &mut Rng, cols: &mut Vec<Column>) {
    let rows = cols.first().map_or(0, |c| c.cells.len());
    // A few cells replaced by edge values (of the column's own kind, mostly) or nulls.
    let k = if rows == 0 || cols.is_empty() {
        0
    } else {
        *r.pick(&[0, 0, 0, 0, 1, 1, 2, 5, 50])
    };
    for _ in 0..k {
        let c = r.below(cols.len());
        let i = r.below(rows);
        cols[c].cells[i] = match (r.below(6), &cols[c].cells[i]) {
            (0, _) => Cell::Null,
            (1, _) => Cell::S(values::string(r)),
            (_, Cell::F(_)) => Cell::F(values::float(r)),
            (_, Cell::S(_)) if r.chance(0.5) => Cell::S(values::string(r)),
            _ => Cell::I(values::int(r)),
        };
    }
    for c in cols.iter_mut() {
        if r.chance(0.05) {
            c.kind = *r.pick(&KINDS);
        }
        if r.chance(0.01) {
            c.name = values::string(r);
        }
    }
    if !cols.is_empty() && r.chance(0.04) {
        cols.remove(r.below(cols.len()));
    }
    if r.chance(0.05) {
        let cells = (0..rows).map(|_| Cell::I(values::int(r))).collect();
        cols.push(Column {
            name: values::key(r),
            cells,
            kind: *r.pick(&KINDS),
        });
    }
    if rows > 1 && r.chance(0.1) {
        // The same row permutation, drop or duplication in every column.
        let mut order: Vec<usize> = (0..rows).collect();
        match r.below(3) {
            0 => {
                for i in (1..rows).rev() {
                    order.swap(i, r.below(i + 1));
                }
            }
            1 => order.truncate(r.below(rows)),
            _ => {
                let i = r.below(rows);
                order.insert(r.below(rows), i);
            }
        }
        for c in cols.iter_mut() {
            c.cells = order.iter().map(|&i| c.cells[i].clone()).collect();
        }
    }
}

/// Write the columns as a Parquet file (nullable columns; an empty file when no column is
/// left), then, sometimes, damage its bytes.
pub fn write_parquet(r: &mut Rng, path: &Path, cols: &[Column]) {
    let mut bytes = Vec::new();
    if !cols.is_empty() {
        let mut fields = Vec::new();
        let mut arrays = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in cols {
            if !seen.insert(c.name.clone()) {
                continue;
            }
            let (a, t) = array(&c.cells, c.kind);
            fields.push(Field::new(c.name.clone(), t, true));
            arrays.push(a);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).expect("equal lengths");
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).expect("writer");
        // Small row groups now and then, so that readers cross batch boundaries.
        if r.chance(0.3) && batch.num_rows() > 2 {
            let mid = r.below(batch.num_rows());
            w.write(&batch.slice(0, mid)).expect("write");
            w.flush().expect("flush");
            w.write(&batch.slice(mid, batch.num_rows() - mid))
                .expect("write");
        } else {
            w.write(&batch).expect("write");
        }
        w.close().expect("close");
    }
    if r.chance(0.12) {
        values::mutate_bytes(r, &mut bytes);
    }
    std::fs::write(path, bytes).expect("write the input");
}

/// A trace table: sorted arrivals (sometimes not), the shipped models, batches 1-64.
pub fn trace_columns(r: &mut Rng) -> Vec<Column> {
    let rows = *r.pick(&[0, 1, 2, 3, 10, 40, 200]);
    let mut t = 0i64;
    let mut arrival = Vec::new();
    let (mut model, mut batch, mut id) = (vec![], vec![], vec![]);
    for i in 0..rows {
        t += r.below(20_000) as i64;
        arrival.push(Cell::I(t));
        model.push(Cell::S(
            r.pick(&["resnet50", "bert-base", "mobilenet-v2"])
                .to_string(),
        ));
        batch.push(Cell::I(1 + r.below(64) as i64));
        id.push(Cell::I(i as i64));
    }
    let mut cols = vec![
        Column {
            name: "arrival_us".into(),
            cells: arrival,
            kind: Kind::I64,
        },
        Column {
            name: "model".into(),
            cells: model,
            kind: Kind::Utf8,
        },
        Column {
            name: "batch".into(),
            cells: batch,
            kind: Kind::I64,
        },
    ];
    if r.chance(0.3) {
        cols.push(Column {
            name: "id".into(),
            cells: id,
            kind: Kind::I64,
        });
    }
    cols
}

/// The A100-80GB's slices, as profile rows name them.
pub const SLICES: [&str; 5] = ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"];

/// A profile table for the quickstart trace's models on the A100-80GB: latency grows with the
/// batch and shrinks with the slice, with stds and memory sometimes.
pub fn profile_columns(r: &mut Rng) -> Vec<Column> {
    let models = ["resnet50", "bert-base", "mobilenet-v2"];
    let (mut g, mut s, mut m, mut b, mut lat, mut std, mut mem, mut src) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for (mi, model) in models.iter().enumerate() {
        for (si, slice) in SLICES.iter().enumerate() {
            if r.chance(0.03) {
                continue;
            }
            let gpcs = [1.0, 2.0, 3.0, 4.0, 7.0][si];
            for batch in [1, 2, 4, 8, 16, 32, 64] {
                if r.chance(0.02) {
                    continue;
                }
                let l = (2.0 + mi as f64) * (batch as f64).powf(0.8) / f64::powf(gpcs, 0.7);
                g.push(Cell::S("A100-80GB".into()));
                s.push(Cell::S(slice.to_string()));
                m.push(Cell::S(model.to_string()));
                b.push(Cell::I(batch));
                lat.push(Cell::F(l));
                std.push(Cell::F(l * 0.02));
                mem.push(Cell::F(500.0 * batch as f64 / gpcs));
                src.push(Cell::S("measured".into()));
            }
        }
    }
    let col = |name: &str, cells, kind| Column {
        name: name.into(),
        cells,
        kind,
    };
    let mut cols = vec![
        col("gpu", g, Kind::Utf8),
        col("slice", s, Kind::Utf8),
        col("model", m, Kind::Utf8),
        col("batch", b, Kind::I64),
        col("latency_ms", lat, Kind::F64),
    ];
    if r.chance(0.4) {
        cols.push(col("latency_std_ms", std, Kind::F64));
    }
    if r.chance(0.3) {
        cols.push(col("memory_mb", mem, Kind::F64));
    }
    if r.chance(0.5) {
        cols.push(col("source", src, Kind::Utf8));
    }
    cols
}

/// CSV text from a header and rows, each cell sometimes replaced by an edge value, then
/// sometimes damaged as text.
fn csv(r: &mut Rng, header: &[&str], rows: Vec<Vec<String>>) -> String {
    let p_cell = *r.pick(&[0.0, 0.0, 0.0, 0.02, 0.1]);
    let mut s = header.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| {
                if r.chance(p_cell) {
                    match r.below(3) {
                        0 => values::int(r).to_string(),
                        1 => values::float(r).to_string(),
                        _ => values::string(r),
                    }
                } else {
                    c
                }
            })
            .collect();
        s += &cells.join(",");
        s.push('\n');
    }
    if r.chance(0.25) {
        values::mutate_text(r, &mut s);
    }
    s
}

fn timestamp(r: &mut Rng, t_us: &mut i64) -> String {
    *t_us += r.below(3_000_000) as i64;
    let s = *t_us / 1_000_000;
    format!(
        "2023-11-16 {:02}:{:02}:{:02}.{:07}",
        (18 + s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        (*t_us % 1_000_000) * 10
    )
}

/// An Azure LLM inference trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`).
pub fn azure_csv(r: &mut Rng) -> String {
    let mut t = 0;
    let rows = (0..*r.pick(&[0, 1, 5, 30, 30, 30]))
        .map(|_| {
            vec![
                timestamp(r, &mut t),
                r.below(5000).to_string(),
                r.below(500).to_string(),
            ]
        })
        .collect();
    csv(r, &["TIMESTAMP", "ContextTokens", "GeneratedTokens"], rows)
}

/// An Alibaba GenAI LoRA request trace CSV, with the columns the importer reads among the
/// others.
pub fn alibaba_csv(r: &mut Rng) -> String {
    let header = [
        "gmt_create",
        "predict_type",
        "predict_status",
        "exec_time_seconds",
        "groupId",
        "prompt_length",
        "negative_prompt_length",
        "num_images_per_prompt",
        "num_inference_steps",
        "checkpoint_model_version_id",
        "num_lora",
    ];
    let mut t = 0;
    let rows = (0..*r.pick(&[0, 1, 5, 30, 30, 30]))
        .map(|_| {
            let ts = timestamp(r, &mut t);
            vec![
                ts[..19].to_string(),
                "TXT_2_IMG".into(),
                "SUCCEED".into(),
                "32.0".into(),
                "G0000".into(),
                "63.0".into(),
                if r.chance(0.3) {
                    String::new()
                } else {
                    "26.0".into()
                },
                if r.chance(0.1) {
                    String::new()
                } else {
                    format!("{}.0", 1 + r.below(4))
                },
                "30.0".into(),
                format!("M{:04}", r.below(6)),
                "0".into(),
            ]
        })
        .collect();
    csv(r, &header, rows)
}

/// A policy TOML file: keys the policy (and the run) declares, an `[sla]` table, and junk,
/// with values of every type.
pub fn policy_toml(r: &mut Rng, declared: &[String]) -> String {
    let mut t = toml::Table::new();
    for _ in 0..r.below(5) {
        let k = if !declared.is_empty() && r.chance(0.7) {
            r.pick(declared).clone()
        } else {
            values::key(r)
        };
        let v = if r.chance(0.6) {
            toml::Value::String(param_value(r, &k))
        } else {
            values::toml_value(r, 1)
        };
        // Dotted keys as TOML tables: `batching.max_batch` is [batching] max_batch.
        match k.split_once('.') {
            Some((a, b)) => {
                let inner = t
                    .entry(a.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(inner) = inner {
                    inner.insert(b.to_string(), v);
                }
            }
            None => {
                t.insert(k, v);
            }
        }
    }
    if r.chance(0.4) {
        let mut sla = toml::Table::new();
        for m in ["resnet50", "bert-base", "mobilenet-v2", "nope"] {
            if r.chance(0.6) {
                let v = if r.chance(0.6) {
                    toml::Value::Float(1.0 + r.unit() * 100.0)
                } else {
                    values::toml_value(r, 2)
                };
                sla.insert(m.into(), v);
            }
        }
        t.insert("sla".into(), toml::Value::Table(sla));
    }
    let mut s = toml::to_string(&t).unwrap_or_default();
    if r.chance(0.15) {
        values::mutate_text(r, &mut s);
    }
    s
}

/// A value for parameter `key`: one it accepts most of the time, an edge value otherwise.
pub fn param_value(r: &mut Rng, key: &str) -> String {
    match r.below(8) {
        0 => values::int(r).to_string(),
        1 => values::float(r).to_string(),
        2 => values::string(r),
        _ => match key {
            "service_noise" => r
                .pick(&["none", "profile", "lognormal:cv=0.1", "profile:cv=0.05"])
                .to_string(),
            "slice" => r.pick(&SLICES).to_string(),
            "layout" => r
                .pick(&[
                    "4g.40gb+3g.40gb",
                    "7g.80gb",
                    "1g.10gb+1g.10gb",
                    "7g.80gb,3g",
                ])
                .to_string(),
            "seed" | "batching.max_batch" | "batching.max_delay_us" => {
                (1 + r.below(64)).to_string()
            }
            k if k.starts_with("sla.") => (5 + r.below(100)).to_string(),
            "repartition.name" => r
                .pick(&["static", "periodic", "threshold", "oracle"])
                .to_string(),
            "reconfig.drain" => r.pick(&["instances", "gpu"]).to_string(),
            "reconfig.max_concurrent" => (1 + r.below(3)).to_string(),
            k if k.starts_with("repartition.") || k.starts_with("reconfig.") => {
                format!("{:.4}", r.unit() * r.pick(&[0.01, 0.5, 5.0]))
            }
            _ => format!("{:.3}", r.unit() * 2.0),
        },
    }
}
