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
use serde::{Deserialize, Serialize};

/// What the timeline plot draws, from the rows and the reconfiguration log (serializable, so
/// that a sharded sweep carries it like a heat map).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineData {
    /// Per line (each model of a multi-model trace, else `all`): its name and (window start s,
    /// value) points.
    pub p99_ms: Vec<(String, Vec<(f64, f64)>)>,
    pub attainment: Vec<(String, Vec<(f64, f64)>)>,
    /// (model, SLA ms).
    pub slas: Vec<(String, f64)>,
    /// Reconfiguration begins (s).
    pub marks_s: Vec<f64>,
    /// Per GPU: (from s, to s, layout).
    pub strips: Vec<Vec<(f64, f64, String)>>,
    pub end_s: f64,
}

impl TimelineData {
    /// From a run's timeline `rows` and its records.
    pub fn of(
        trace: &Trace,
        server: &Server,
        rec: &Records,
        slas: &[Option<ModelSla>],
        rows: &[TimelineRow],
    ) -> TimelineData {
        let names: Vec<String> = if trace.models.len() > 1 {
            trace.models.clone()
        } else {
            vec!["all".to_string()]
        };
        let lines = |f: &dyn Fn(&TimelineRow) -> Option<f64>| {
            names
                .iter()
                .map(|m| {
                    let pts = rows
                        .iter()
                        .filter(|x| &x.model == m)
                        .filter_map(|x| Some((x.window_start_s, f(x)?)))
                        .collect();
                    (m.clone(), pts)
                })
                .collect::<Vec<_>>()
        };
        let end = rec.finish_ns.iter().copied().max().unwrap_or(0);
        // The strips of the first MAX_STRIPS GPUs (a figure of more rows is not readable).
        let mut strips = vec![Vec::new(); server.gpus().min(MAX_STRIPS)];
        for s in layout_spans(server, rec, end) {
            if let Some(v) = strips.get_mut(s.gpu as usize) {
                v.push((s.from_ns as f64 / 1e9, s.to_ns as f64 / 1e9, s.layout));
            }
        }
        TimelineData {
            p99_ms: lines(&|x| x.p99_ms),
            attainment: lines(&|x| x.sla_attainment),
            slas: slas
                .iter()
                .flatten()
                .map(|s| (s.model.clone(), s.sla_ms))
                .collect(),
            marks_s: rec
                .reconfig
                .iter()
                .flat_map(|l| l.events.iter().map(|e| e.begin_ns as f64 / 1e9))
                .collect(),
            strips,
            end_s: end as f64 / 1e9,
        }
    }
}

/// The most GPUs the timeline plot draws a layout strip for (the first ones).
pub const MAX_STRIPS: usize = 64;

/// The default window of a run's timeline: 1/200 of the replay, at least 1 ms.
pub fn default_window_ns(rec: &Records) -> u64 {
    (rec.finish_ns.iter().copied().max().unwrap_or(0) / 200).max(1_000_000)
}

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
    let mut by_gpu: Vec<Vec<&crate::engine::ReconfigEvent>> = vec![Vec::new(); names.len()];
    for e in rec.reconfig.iter().flat_map(|l| l.events.iter()) {
        if let Some(v) = by_gpu.get_mut(e.gpu as usize) {
            v.push(e);
        }
    }
    let mut out = Vec::new();
    for (g, first) in names.iter().enumerate() {
        let mut t = 0u64;
        let mut cur = first.clone();
        let events = &mut by_gpu[g];
        events.sort_by_key(|e| e.begin_ns);
        for e in events.iter() {
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

/// The layouts of every GPU as one line: runs of consecutive GPUs with the same layout,
/// `0-3: 7g.80gb | 4: reconfiguring | 5-7: 1g.10gb+...`; beyond [`MAX_RUNS`] runs, how many GPUs
/// have each layout instead (`5000 x 7g.80gb | 3 x reconfiguring`), so that the line stays
/// short on any server.
fn layout_line(per_gpu: &[&str]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut a = 0;
    while a < per_gpu.len() {
        let mut b = a;
        while b + 1 < per_gpu.len() && per_gpu[b + 1] == per_gpu[a] {
            b += 1;
        }
        runs.push((a, b));
        a = b + 1;
    }
    if runs.len() <= MAX_RUNS {
        return runs
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    format!("{a}: {}", per_gpu[a])
                } else {
                    format!("{a}-{b}: {}", per_gpu[a])
                }
            })
            .collect::<Vec<_>>()
            .join(" | ");
    }
    layout_counts(per_gpu)
}

/// The layouts of a server's GPUs as counts, in order of first appearance: `10 x a | 10 x b`.
pub fn layout_counts<S: AsRef<str>>(per_gpu: &[S]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for l in per_gpu {
        let l = l.as_ref();
        match counts.iter_mut().find(|c| c.0 == l) {
            Some(c) => c.1 += 1,
            None => counts.push((l, 1)),
        }
    }
    counts
        .iter()
        .map(|(l, n)| format!("{n} x {l}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The most runs of GPUs the layout column spells out one by one.
const MAX_RUNS: usize = 16;

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
    // Per GPU, its spans in time order (layout_spans emits them so), walked with a cursor as
    // the windows advance.
    let ng = server.gpus();
    let mut first = vec![usize::MAX; ng];
    for (i, s) in spans.iter().enumerate() {
        if first[s.gpu as usize] == usize::MAX {
            first[s.gpu as usize] = i;
        }
    }
    let mut cursor = first.clone();
    let total = server.total_gpcs() as f64 * w as f64;
    let ws = w as f64 / 1e9;
    let mut rows = Vec::with_capacity(nw * (nm + 1));
    for k in 0..nw {
        let t = k as u64 * w;
        let per_gpu: Vec<&str> = (0..ng)
            .map(|g| {
                let c = &mut cursor[g];
                if *c == usize::MAX {
                    return "";
                }
                while *c + 1 < spans.len()
                    && spans[*c + 1].gpu as usize == g
                    && spans[*c].to_ns <= t
                {
                    *c += 1;
                }
                spans[*c].layout.as_str()
            })
            .collect();
        let layout = layout_line(&per_gpu);
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

#[cfg(test)]
mod tests {
    use super::layout_line;

    #[test]
    fn layout_lines_are_runs_then_counts() {
        assert_eq!(layout_line(&["a", "a", "b", "a"]), "0-1: a | 2: b | 3: a");
        // 20 alternating GPUs: 20 runs, more than 16: counts in order of first appearance.
        let v: Vec<&str> = (0..20)
            .map(|i| if i % 2 == 0 { "a" } else { "b" })
            .collect();
        assert_eq!(layout_line(&v), "10 x a | 10 x b");
    }
}
