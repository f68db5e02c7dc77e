//! The run over time, in fixed windows (`timeline.parquet`, the timeline plot): for every window
//! and for every model (and `all`), the offered and served rates, the exact p99 latency and the
//! SLA attainment of the queries that *arrived* in it, the server's GPC-weighted utilization in
//! it, and the layout in force at its start (a GPU being reconfigured shows `reconfiguring`).
//!
//! Definitions: window k is `[k w, (k + 1) w)` from time 0 up to the last completion. Offered:
//! arrivals in the window over `w`; served: completions in the window over `w`; p99: the
//! nearest-rank 99th percentile of the latencies of the queries arriving in the window (none
//! when none arrived); attainment: the share of those that met their model's SLA (none without
//! an SLA); utilization: the busy time of every batch overlapping the window, weighted by its
//! instance's GPCs, over the server's GPCs times `w`.

use crate::engine::Records;
use crate::server::Server;
use crate::sla::ModelSla;
use crate::trace::Trace;
use serde::Serialize;

/// One (window, model) row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineRow {
    pub window_start_s: f64,
    pub window_s: f64,
    /// A model's name, or `all`.
    pub model: String,
    pub arrivals: u64,
    pub offered_qps: f64,
    pub served_qps: f64,
    pub p99_ms: Option<f64>,
    pub sla_attainment: Option<f64>,
    /// The server's utilization in the window (the same on every model's row).
    pub utilization: f64,
    /// Per GPU, the layout in force at the window's start, joined with ` | `.
    pub layout: String,
}

/// One GPU's layout over a stretch of time (`reconfiguring` while its region is out).
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutSpan {
    pub gpu: u32,
    pub from_ns: u64,
    pub to_ns: u64,
    pub layout: String,
}

/// The layout of every GPU over `[0, end_ns)`: the initial layouts of `server`, changed by the
/// reconfigurations in `rec` (reconfiguring from each one's begin to its end).
pub fn layout_spans(server: &Server, rec: &Records, end_ns: u64) -> Vec<LayoutSpan> {
    let names = server.layout_names();
    let mut out = Vec::new();
    for (g, first) in names.iter().enumerate() {
        let mut t = 0u64;
        let mut cur = first.clone();
        let mut events: Vec<_> = rec
            .reconfig
            .iter()
            .flat_map(|l| l.events.iter())
            .filter(|e| e.gpu as usize == g)
            .collect();
        events.sort_by_key(|e| e.begin_ns);
        for e in events {
            let begin = e.begin_ns.min(end_ns);
            if begin > t {
                out.push(LayoutSpan {
                    gpu: g as u32,
                    from_ns: t,
                    to_ns: begin,
                    layout: cur.clone(),
                });
            }
            let up = e.up_ns.unwrap_or(end_ns).min(end_ns).max(begin);
            if up > begin {
                out.push(LayoutSpan {
                    gpu: g as u32,
                    from_ns: begin,
                    to_ns: up,
                    layout: "reconfiguring".into(),
                });
            }
            t = up;
            cur = e.layout_name_after.clone();
        }
        if end_ns > t {
            out.push(LayoutSpan {
                gpu: g as u32,
                from_ns: t,
                to_ns: end_ns,
                layout: cur,
            });
        }
    }
    out
}

/// The timeline in windows of `window_ns` (see the module docs). `server` lists every instance
/// by the records' instance ids.
pub fn timeline(
    trace: &Trace,
    server: &Server,
    rec: &Records,
    slas: &[Option<ModelSla>],
    window_ns: u64,
) -> Vec<TimelineRow> {
    let n = trace.len();
    let w = window_ns.max(1);
    let end = rec.finish_ns.iter().copied().max().unwrap_or(0).max(1);
    let nw = end.div_ceil(w) as usize;
    let nm = trace.models.len();
    // Per (window, model): latencies of arrivals, attained count, completions.
    let mut lat: Vec<Vec<Vec<u64>>> = vec![vec![Vec::new(); nm]; nw];
    let mut met = vec![vec![0u64; nm]; nw];
    let mut done = vec![vec![0u64; nm]; nw];
    for q in 0..n {
        let m = trace.model[q] as usize;
        let a = trace.arrival_ns[q];
        let l = rec.finish_ns[q] - a;
        let k = ((a / w) as usize).min(nw - 1);
        lat[k][m].push(l);
        if slas
            .get(m)
            .and_then(|s| s.as_ref())
            .is_some_and(|s| l <= s.ns())
        {
            met[k][m] += 1;
        }
        let kd = ((rec.finish_ns[q] / w) as usize).min(nw - 1);
        done[kd][m] += 1;
    }
    // Busy GPC-time per window, one entry per batch (its first member with batching).
    let mut busy = vec![0f64; nw];
    let mut seen = vec![false; rec.batch_size.len()];
    for q in 0..n {
        if !rec.batch_id.is_empty() {
            let b = rec.batch_id[q] as usize;
            if seen[b] {
                continue;
            }
            seen[b] = true;
        }
        let (s, f) = (rec.start_ns[q], rec.finish_ns[q]);
        let gpcs = server.instances[rec.instance[q] as usize].gpcs as f64;
        let (k0, k1) = ((s / w) as usize, (((f - 1) / w) as usize).min(nw - 1));
        for (k, b) in busy.iter_mut().enumerate().take(k1 + 1).skip(k0) {
            let (lo, hi) = (k as u64 * w, (k as u64 + 1) * w);
            *b += (f.min(hi) - s.max(lo)) as f64 * gpcs;
        }
    }
    let spans = layout_spans(server, rec, end);
    let total = server.total_gpcs() as f64 * w as f64;
    let ws = w as f64 / 1e9;
    let mut rows = Vec::with_capacity(nw * (nm + 1));
    for k in 0..nw {
        let t = k as u64 * w;
        let layout = (0..server.gpus() as u32)
            .map(|g| {
                spans
                    .iter()
                    .find(|s| s.gpu == g && s.from_ns <= t && t < s.to_ns)
                    .map_or(String::new(), |s| s.layout.clone())
            })
            .collect::<Vec<_>>()
            .join(" | ");
        let util = busy[k] / total;
        let row = |model: String, mut l: Vec<u64>, met: u64, judged: bool, done: u64| {
            let arrivals = l.len() as u64;
            TimelineRow {
                window_start_s: t as f64 / 1e9,
                window_s: ws,
                model,
                arrivals,
                offered_qps: arrivals as f64 / ws,
                served_qps: done as f64 / ws,
                p99_ms: crate::stats::percentile(&mut l, 99.0).map(|x| x as f64 / 1e6),
                sla_attainment: (judged && arrivals > 0).then(|| met as f64 / arrivals as f64),
                utilization: util,
                layout: layout.clone(),
            }
        };
        let mut all = Vec::new();
        let (mut all_met, mut all_done) = (0, 0);
        let all_judged = (0..nm).all(|m| slas.get(m).is_some_and(|s| s.is_some()));
        for m in 0..nm {
            all.extend_from_slice(&lat[k][m]);
            all_met += met[k][m];
            all_done += done[k][m];
        }
        rows.push(row("all".into(), all, all_met, all_judged, all_done));
        if nm > 1 {
            for m in 0..nm {
                let judged = slas.get(m).is_some_and(|s| s.is_some());
                rows.push(row(
                    trace.models[m].clone(),
                    std::mem::take(&mut lat[k][m]),
                    met[k][m],
                    judged,
                    done[k][m],
                ));
            }
        }
    }
    rows
}
