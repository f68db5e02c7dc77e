//! The report folder of a sweep: `results.parquet` (one row per run), `peaks.parquet` (one row
//! per policy x workload x seed), `plans.json` (with a `plan` table: every capacity plan),
//! `summary.json` (the verdict, [`super::verdict`]),
//! `timing.json`, the plots ([`super::figures`]) and `index.html` ([`super::html`]).

use super::figures::plots;
use super::html;
use super::verdict::{BenchSummary, summarize};
use crate::drive::sweep::SweepResult;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// Serialize rows to one Arrow record batch (schema inferred from the JSON form) and write it
/// as Parquet.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| Error::Other(e.to_string())))
        .collect::<Result<_>>()?;
    let bad = |e: arrow_schema::ArrowError| Error::Other(format!("{}: {e}", path.display()));
    let schema =
        arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(bad)?;
    let mut dec = arrow_json::ReaderBuilder::new(Arc::new(schema))
        .build_decoder()
        .map_err(bad)?;
    dec.serialize(&values).map_err(bad)?;
    let batch = dec
        .flush()
        .map_err(bad)?
        .ok_or_else(|| Error::Other(format!("{}: no rows", path.display())))?;
    crate::io::write_parquet(path, &batch)
}

/// Write the whole report folder.
pub fn write(res: &SweepResult, dir: &Path) -> Result<BenchSummary> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if res.runs.is_empty() {
        return Err(Error::Usage(
            "no offered load to replay: every policy's peak is 0 on every workload (its SLA is missed even at the lowest rate tried) and no workload gives an absolute reference_qps; loosen the SLAs or give reference_qps".into(),
        ));
    }
    write_rows(&dir.join("results.parquet"), &res.runs)?;
    write_rows(&dir.join("peaks.parquet"), &res.peaks)?;
    if !res.plans.is_empty() {
        // Every seed's plan with its probes (nested lists: JSON, not a Parquet table).
        let mut p =
            serde_json::to_string_pretty(&res.plans).map_err(|e| Error::Other(e.to_string()))?;
        p.push('\n');
        crate::io::write_atomic(&dir.join("plans.json"), p.as_bytes())?;
    }
    let summary = summarize(res);
    let mut s = serde_json::to_string_pretty(&summary).map_err(|e| Error::Other(e.to_string()))?;
    s.push('\n');
    crate::io::write_atomic(&dir.join("summary.json"), s.as_bytes())?;
    // Wall times vary from run to run: kept out of summary.json (which is byte-identical for the
    // same inputs) in timing.json, and shown in the page.
    let mut t = serde_json::to_string_pretty(&serde_json::json!({ "stages_s": res.stages }))
        .map_err(|e| Error::Other(e.to_string()))?;
    t.push('\n');
    crate::io::write_atomic(&dir.join("timing.json"), t.as_bytes())?;
    let plots = plots(res, &summary, dir)?;
    let html = html::index(&summary, &plots, &res.stages)?;
    crate::io::write_atomic(&dir.join("index.html"), html.as_bytes())?;
    Ok(summary)
}
