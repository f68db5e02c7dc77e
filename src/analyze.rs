//! `mig-replay analyze` (cargo feature `analyze`): aggregate any number of sweep results files
//! lazily with polars. This is where polars earns its build cost: a glob over many
//! `results.parquet` files (a cluster's worth of shards and sweeps), a filter, a group-by and
//! per-group statistics, without loading everything into memory first. It is not in the default
//! build (see the build times in `docs/sweeps.md`); the replay itself never uses polars.
//!
//! Per group: `runs` (rows), and for each metric its mean, min, max and the half-width of the
//! 95 % confidence interval of the mean (Student t with n - 1 degrees of freedom times the
//! sample std over sqrt(n); 0 for a single row), exactly as the sweep report aggregates seeds.

use crate::error::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// What to aggregate.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// A path or glob of Parquet files (`reports/*/results.parquet`).
    pub pattern: String,
    /// Group-by columns.
    pub by: Vec<String>,
    /// `COL OP VALUE [and COL OP VALUE]...`, OP one of == != < <= > >=.
    pub filter: Option<String>,
    /// Metric columns.
    pub metrics: Vec<String>,
}

fn pe(e: PolarsError) -> Error {
    Error::Usage(format!("analyze: {e}"))
}

/// Parse the filter language into a polars expression.
pub fn parse_filter(s: &str) -> Result<Expr> {
    let mut out: Option<Expr> = None;
    for clause in s.split(" and ") {
        let c = clause.trim();
        let op = ["==", "!=", ">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| c.find(op).map(|i| (i, *op)))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--filter '{s}': clause '{c}' has no operator; expected COL OP VALUE with OP one of == != < <= > >=, clauses joined by ' and '"
                ))
            })?;
        let (i, op) = op;
        let name = c[..i].trim();
        let raw = c[i + op.len()..].trim();
        if name.is_empty() || raw.is_empty() {
            return Err(Error::Usage(format!(
                "--filter '{s}': clause '{c}': expected COL OP VALUE"
            )));
        }
        let quoted = raw.len() >= 2
            && ((raw.starts_with('"') && raw.ends_with('"'))
                || (raw.starts_with('\'') && raw.ends_with('\'')));
        let value = if quoted {
            lit(raw[1..raw.len() - 1].to_string())
        } else if let Ok(x) = raw.parse::<f64>() {
            lit(x)
        } else {
            lit(raw.to_string())
        };
        let c = col(name);
        let e = match op {
            "==" => c.eq(value),
            "!=" => c.neq(value),
            ">=" => c.gt_eq(value),
            "<=" => c.lt_eq(value),
            ">" => c.gt(value),
            _ => c.lt(value),
        };
        out = Some(match out {
            None => e,
            Some(prev) => prev.and(e),
        });
    }
    out.ok_or_else(|| Error::Usage("--filter: empty".into()))
}

/// Run the aggregation; rows sorted by the group columns.
pub fn analyze(o: &AnalyzeOptions) -> Result<DataFrame> {
    if o.by.is_empty() || o.metrics.is_empty() {
        return Err(Error::Usage(
            "analyze: give --by COL[,COL...] and --metric COL[,COL...]".into(),
        ));
    }
    let lf = LazyFrame::scan_parquet(
        PlRefPath::new(o.pattern.as_str()),
        ScanArgsParquet::default(),
    )
    .map_err(pe)?;
    let schema = lf.clone().collect_schema().map_err(|e| {
        Error::Usage(format!(
            "analyze: no readable results files match '{}': {e}",
            o.pattern
        ))
    })?;
    let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    for c in o.by.iter().chain(&o.metrics) {
        if !names.contains(c) {
            return Err(Error::Usage(format!(
                "analyze: no column '{c}' in {}; its columns: {}",
                o.pattern,
                names.join(", ")
            )));
        }
    }
    let lf = match &o.filter {
        Some(f) => lf.filter(parse_filter(f)?),
        None => lf,
    };
    let mut aggs = vec![len().alias("runs")];
    for m in &o.metrics {
        let x = col(m.as_str()).cast(DataType::Float64);
        aggs.push(x.clone().mean().alias(format!("{m}_mean")));
        aggs.push(x.clone().min().alias(format!("{m}_min")));
        aggs.push(x.clone().max().alias(format!("{m}_max")));
        aggs.push(x.std(1).alias(format!("{m}_std")));
    }
    let by: Vec<Expr> = o.by.iter().map(|c| col(c.as_str())).collect();
    let by_names: Vec<PlSmallStr> = o.by.iter().map(|c| c.as_str().into()).collect();
    let mut df = lf
        .group_by(by)
        .agg(aggs)
        .sort(by_names, SortMultipleOptions::default())
        .collect()
        .map_err(pe)?;
    // ci95 = t(0.975, n - 1) * std / sqrt(n), in place of the std (null without a spread).
    let runs = f64s(df.column("runs").map_err(pe)?)?;
    for m in &o.metrics {
        let sd_name = format!("{m}_std");
        let sd = f64s(df.column(&sd_name).map_err(pe)?)?;
        // As the report's aggregates: no interval for one value or identical values.
        let ci: Vec<Option<f64>> = sd
            .into_iter()
            .zip(runs.iter().map(|r| r.unwrap_or(0.0)))
            .map(|(s, n)| match (s, n as usize) {
                (Some(s), n) if n >= 2 && s > 0.0 => {
                    Some(crate::stats::aggregate::t975(n - 1) * s / (n as f64).sqrt())
                }
                _ => None,
            })
            .collect();
        df = df.drop(&sd_name).map_err(pe)?;
        df.with_column(Column::new(format!("{m}_ci95").into(), ci))
            .map_err(pe)?;
    }
    Ok(df)
}

/// A column's values as f64 (nulls as `None`).
fn f64s(c: &Column) -> Result<Vec<Option<f64>>> {
    let c = c.cast(&DataType::Float64).map_err(pe)?;
    let ca = c.f64().map_err(pe)?;
    Ok((0..ca.len()).map(|i| ca.get(i)).collect())
}

/// The table as text: one line per group.
pub fn text(df: &DataFrame) -> Result<String> {
    let cols: Vec<(String, Vec<String>)> = df
        .columns()
        .iter()
        .map(|c| {
            let vals: Vec<String> = match c.dtype() {
                DataType::Float64 | DataType::Float32 => f64s(c)?
                    .into_iter()
                    .map(|v| v.map_or("null".into(), |x| format!("{x:.4}")))
                    .collect(),
                _ => {
                    let s = c.cast(&DataType::String).map_err(pe)?;
                    let ca = s.str().map_err(pe)?;
                    (0..ca.len())
                        .map(|i| ca.get(i).unwrap_or("null").to_string())
                        .collect()
                }
            };
            Ok((c.name().to_string(), vals))
        })
        .collect::<Result<_>>()?;
    let width: Vec<usize> = cols
        .iter()
        .map(|(n, v)| {
            v.iter()
                .map(|x| x.len())
                .chain([n.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for (k, (n, _)) in cols.iter().enumerate() {
        s += &format!("{n:>w$}  ", w = width[k]);
    }
    s = s.trim_end().to_string() + "\n";
    for r in 0..df.height() {
        let mut line = String::new();
        for (k, (_, v)) in cols.iter().enumerate() {
            line += &format!("{:>w$}  ", v[r], w = width[k]);
        }
        s += line.trim_end();
        s += "\n";
    }
    Ok(s)
}

/// Write the table as Parquet or CSV (by extension), atomically.
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let tmp = path.with_extension(format!("{ext}.tmp"));
    {
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        match ext {
            "parquet" => {
                ParquetWriter::new(f).finish(df).map_err(pe)?;
            }
            "csv" => {
                CsvWriter::new(f).finish(df).map_err(pe)?;
            }
            _ => {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::Usage(format!(
                    "analyze --out {}: expected a .parquet or .csv file",
                    path.display()
                )));
            }
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
