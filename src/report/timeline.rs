//! A run's timeline: `timeline.parquet` ([`crate::metrics::timeline`]) and `timeline.svg`/`.png`
//! (latency and SLA attainment over time, reconfiguration marks, each GPU's layout as a strip).

use crate::error::Result;
use crate::metrics::timeline::{layout_spans, timeline};
use crate::plot::{Timeline, save};
use crate::replay::Replay;
use crate::trace::Trace;
use std::path::Path;

/// Write `timeline.parquet` and the timeline plot of `r` (windows of `window_ns`) into `dir`;
/// returns the number of windows.
pub fn write(dir: &Path, trace: &Trace, r: &Replay, window_ns: u64) -> Result<usize> {
    let rows = timeline(trace, &r.server, &r.records, &r.slas, window_ns);
    super::sweep::write_rows(&dir.join("timeline.parquet"), &rows)?;
    let multi = trace.models.len() > 1;
    let lines = |f: &dyn Fn(&crate::metrics::timeline::TimelineRow) -> Option<f64>| {
        let names: Vec<String> = if multi {
            trace.models.clone()
        } else {
            vec!["all".to_string()]
        };
        names
            .into_iter()
            .map(|m| {
                let pts = rows
                    .iter()
                    .filter(|x| x.model == m)
                    .filter_map(|x| Some((x.window_start_s, f(x)?)))
                    .collect();
                (m, pts)
            })
            .collect::<Vec<_>>()
    };
    let end = r.records.finish_ns.iter().copied().max().unwrap_or(0);
    let spans = layout_spans(&r.server, &r.records, end);
    let mut strips = vec![Vec::new(); r.server.gpus()];
    for s in spans {
        strips[s.gpu as usize].push((s.from_ns as f64 / 1e9, s.to_ns as f64 / 1e9, s.layout));
    }
    let plot = Timeline {
        title: format!(
            "{} on {} x {}{}",
            r.policy,
            r.server.gpus(),
            r.server.gpu.name,
            r.repartition
                .as_ref()
                .map(|p| format!(
                    ", repartitioner {}{} (reconfiguration {} s)",
                    p.name,
                    if p.reads_ahead { " (foresight)" } else { "" },
                    p.model.cost_ns as f64 / 1e9
                ))
                .unwrap_or_default()
        ),
        p99_ms: lines(&|x| x.p99_ms),
        attainment: lines(&|x| x.sla_attainment),
        slas: r
            .slas
            .iter()
            .flatten()
            .map(|s| (s.model.clone(), s.sla_ms))
            .collect(),
        marks_s: r
            .records
            .reconfig
            .iter()
            .flat_map(|l| l.events.iter().map(|e| e.begin_ns as f64 / 1e9))
            .collect(),
        strips,
        end_s: end as f64 / 1e9,
    };
    save(&plot, dir, "timeline")?;
    Ok(rows.len())
}
