//! A run's timeline: `timeline.parquet` ([`crate::metrics::timeline`]) and `timeline.svg`/`.png`
//! (latency and SLA attainment over time, reconfiguration marks, each GPU's layout as a strip).

use crate::drive::replay::Replay;
use crate::error::Result;
use crate::metrics::timeline::{TimelineData, timeline};
use crate::plot::{Timeline, save};
use crate::trace::Trace;
use std::path::Path;

/// Write `timeline.parquet` and the timeline plot of `r` (windows of `window_ns`) into `dir`;
/// returns the number of windows.
pub fn write(dir: &Path, trace: &Trace, r: &Replay, window_ns: u64) -> Result<usize> {
    let rows = timeline(trace, &r.server, &r.records, &r.slas, window_ns);
    super::sweep::write_rows(&dir.join("timeline.parquet"), &rows)?;
    let plot = Timeline {
        title: title(r),
        data: TimelineData::of(trace, &r.server, &r.records, &r.slas, &rows),
    };
    save(&plot, dir, "timeline")?;
    Ok(rows.len())
}

/// The plot's title: the policy, the server and the repartitioner.
pub fn title(r: &Replay) -> String {
    format!(
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
    )
}
