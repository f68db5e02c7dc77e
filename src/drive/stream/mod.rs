//! Streamed replay (what `run` does whenever it can): a trace of any length replayed in bounded
//! memory, with the same outputs, byte for byte, as an in-memory replay.
//!
//! 1. **First pass** ([`Source::open`], [`crate::trace::reader::Scan`]): the trace file is read
//!    once and every cell validated as [`Trace::load`] does. It yields the model names, the
//!    batch mix (the count of every (model, batch): what PARIS's batch map and the default SLA
//!    rule read of a trace, see [`Trace::head`]) and whether the rows are sorted by arrival:
//!    the head, which the run's [`Scenario`] is built on.
//! 2. **Setup** on that head: partition, server, service table, scheduler, exactly as an
//!    in-memory replay builds them (`replay::setup`).
//! 3. **Replay**: a reader thread decodes the file's record batches ahead of the event loop;
//!    the loop ([`crate::engine::replay`] with a [`crate::engine::Feed::Streamed`]) holds a window of rows from the oldest
//!    query not yet started; finished row groups go to a writer thread that appends them to
//!    `queries.parquet` (the same row groups, so the same bytes) and counts them into the
//!    metrics and the invariant checks ([`crate::metrics::Accumulator`], the one an in-memory
//!    replay counts its records with, as one chunk).
//! 4. **Exact percentiles** ([`crate::metrics::exact`]): latencies, queueing delays and
//!    estimate errors are counted in a histogram and spilled to disk (8 bytes per value each, in a temporary folder
//!    beside the outputs, removed at the end); a pass over the spill per refinement resolves
//!    every percentile to the nanosecond.
//!
//! **Unsorted traces** are accepted: the first pass finds them, and they are then loaded whole
//! and sorted in memory (16 bytes per query, as an in-memory replay holds them); the rest
//! streams as above. Sort a large trace once (`mig-replay trace import` writes sorted traces)
//! to stream it in bounded memory.
//!
//! Not streamed: a reconfigurable server (a repartitioner other than `static`), whose
//! repartitioners read windows of the whole trace, and the timeline, which needs every record;
//! `run` replays those in memory (and says why).

use crate::drive::replay::{Replay, Setup};
use crate::engine;
use crate::error::{Error, Result};
use crate::metrics::{Accumulator, Chunk};
use crate::policy::SchedContext;
use crate::scenario::Scenario;
use crate::server::Server;
use crate::trace::reader::Scan;
use crate::trace::{Mix, Trace, TraceReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

/// Rows per chunk read from a trace held in memory (an unsorted trace).
const CHUNK: usize = 1 << 16;

/// Rows per cut of the window (a streamed `run`): a sixteenth of a `queries.parquet` row group.
pub const CUT_ROWS: usize = 1 << 16;

/// How a streamed replay runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Rows per row group of `queries.parquet`.
    pub rows_per_group: usize,
    /// Rows per cut of the window: what the writer thread encodes (into the open row group)
    /// and counts at a time. Smaller cuts hold less and overlap the replay sooner. Used when it
    /// is a multiple of 1,024 that divides `rows_per_group`; otherwise a cut is a row group.
    /// (The Parquet column writer checks page sizes every 1,024 values of each write: fed in
    /// parts of 1,024-multiples, a row group gets the same pages, so the same bytes, as written
    /// whole.)
    pub cut_rows: usize,
    /// Where the spill folder is made (a fresh temporary folder inside, removed at the end).
    pub spill_in: PathBuf,
}

impl StreamOptions {
    /// The cut the replay uses (see [`StreamOptions::cut_rows`]).
    pub fn cut(&self) -> usize {
        let (g, c) = (self.rows_per_group.max(1), self.cut_rows);
        if c > 0 && c % 1024 == 0 && g % c == 0 {
            c
        } else {
            g
        }
    }
}

/// The spill folder, removed when dropped.
struct SpillDir(PathBuf);

impl SpillDir {
    fn create(parent: &Path) -> Result<SpillDir> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = parent.join(format!(".spill-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        Ok(SpillDir(p))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the rows come from: the file (sorted), or a trace loaded and sorted in memory.
enum Rows {
    File,
    Memory(Box<Trace>),
}

/// A trace file opened for a streamed replay: its first pass done, its head (models, hash, batch
/// mix; no rows) ready for the run's [`Scenario`].
pub struct Source {
    rows: Rows,
    head: Arc<Trace>,
    rate_scale: f64,
}

impl Source {
    /// Read the trace file `path` once (every cell checked), its arrivals to be divided by
    /// `rate_scale`. An unsorted file is loaded whole and sorted here.
    pub fn open(path: &Path, rate_scale: f64) -> Result<Source> {
        crate::trace::check_rate_scale(rate_scale, 0)?;
        let scan = Scan::read(path)?;
        let (rows, head) = if scan.sorted {
            crate::trace::check_rate_scale(rate_scale, scan.last_ns)?;
            let head = Trace {
                path: scan.path,
                sha256: scan.sha256,
                models: scan.models,
                head: Some(Arc::new(scan.mix)),
                ..Trace::default()
            };
            (Rows::File, head)
        } else {
            let mut t = Trace::load(path)?;
            t.scale_rate(rate_scale)?;
            let head = Trace {
                path: t.path.clone(),
                sha256: t.sha256.clone(),
                models: t.models.clone(),
                head: Some(Arc::new(Mix::of(&t))),
                ..Trace::default()
            };
            (Rows::Memory(Box::new(t)), head)
        };
        Ok(Source {
            rows,
            head: Arc::new(head),
            rate_scale,
        })
    }

    /// The trace's head: what the run's [`Scenario`] is built on.
    pub fn head(&self) -> Arc<Trace> {
        self.head.clone()
    }
}

/// Where a streamed replay's row groups go as they are cut, on the writer thread, in order:
/// `queries.parquet`'s writer ([`crate::report::QueriesWriter`] implements it). The driver
/// knows no output format.
pub trait GroupSink: Send {
    /// One row group of `models`' queries, replayed on `server`.
    fn append(&mut self, g: &engine::RowGroup, models: &[String], server: &Server) -> Result<()>;
    /// Every group was appended: finish the output.
    fn close(self: Box<Self>) -> Result<()>;
}

/// Replay `scenario`, built on `source`'s head, streamed from `source`; `queries`, when given,
/// receives every row group. Returns the replay (its records hold the counters and the busy
/// times, not per-query vectors).
pub fn replay_stream(
    scenario: &Scenario,
    source: Source,
    mut queries: Option<Box<dyn GroupSink + '_>>,
    opts: &StreamOptions,
) -> Result<Replay> {
    if !std::ptr::eq(scenario.trace(), &*source.head) {
        return Err(Error::Internal(
            "a streamed replay's scenario must be built on its source's head".into(),
        ));
    }
    if scenario.policy().reconfigurable() {
        return Err(Error::Usage(format!(
            "a streamed replay replays a server that never changes; the policy '{}' reconfigures it, reading windows of the entire trace",
            scenario.policy().label()
        )));
    }
    let Source {
        rows: source,
        head,
        rate_scale,
    } = source;
    let (profiles, gpu, service) = (scenario.profiles(), scenario.gpu(), scenario.service());
    let resolved = scenario.slas();
    let queries_total = head.queries() as u64;
    let mut policy = scenario.policy().build()?;
    let Setup {
        explanation,
        server,
        rules,
        table,
        ..
    } = crate::drive::replay::setup(scenario, &mut policy)?;
    let mut scheduler = (policy.scheduler)(&SchedContext {
        gpu,
        server: &server,
        service: &table,
        profiles,
        trace: &head,
        slas: resolved,
        exact_estimates: service.is_exact(),
    })?;
    let spill = SpillDir::create(&opts.spill_in)?;
    let acc = Accumulator::new(
        head.models.len(),
        resolved,
        &server,
        &rules,
        !service.is_exact(),
        Some(&spill.0),
    )?;
    let (records, acc, queries) = std::thread::scope(|s| -> Result<_> {
        // Rows: decoded on a reader thread (the file), or cut from the sorted trace.
        let (row_tx, row_rx) = sync_channel::<Result<Trace>>(2);
        let reader = match &source {
            Rows::File => {
                let p = head.path.clone();
                let models = head.models.len();
                Some(s.spawn(move || read_rows(&p, rate_scale, models, &row_tx)))
            }
            Rows::Memory(_) => {
                drop(row_tx);
                None
            }
        };
        let mut at = 0usize;
        let rows = || -> Result<Option<Trace>> {
            match &source {
                Rows::File => match row_rx.recv() {
                    Ok(r) => r.map(Some),
                    Err(_) => Ok(None),
                },
                Rows::Memory(t) => Ok((at < t.len()).then(|| {
                    let hi = (at + CHUNK).min(t.len());
                    let c = slice(t, at, hi);
                    at = hi;
                    c
                })),
            }
        };
        // Row groups: counted and written on a writer thread.
        let (group_tx, group_rx) = sync_channel::<engine::RowGroup>(1);
        // Row groups done with come back, so their buffers are reused.
        let (back_tx, back_rx) = sync_channel::<engine::RowGroup>(2);
        let (models, server_ref) = (&head.models, &server);
        let mut acc = acc;
        let writer = s.spawn(move || -> Result<_> {
            for g in group_rx {
                acc.add(&Chunk::of_group(&g))?;
                if let Some(q) = &mut queries {
                    q.append(&g, models, server_ref)?;
                }
                let _ = back_tx.try_send(g);
            }
            Ok((acc, queries))
        });
        let emit = move |g: engine::RowGroup| -> Result<()> {
            group_tx
                .send(g)
                .map_err(|_| Error::Other("the queries.parquet writer stopped".into()))
        };
        let setup = engine::Setup {
            server: &server,
            service: &table,
            model: service,
            rules: &rules,
        };
        let stream = engine::Stream {
            models: &head.models,
            rows: Box::new(rows),
            cut_rows: opts.cut(),
            emit: Box::new(emit),
            spare: Box::new(|| back_rx.try_recv().ok()),
        };
        let records = engine::replay(
            &setup,
            engine::Feed::Streamed(stream),
            engine::Scheduling::Fixed(scheduler.as_mut()),
        )
        .map(|o| o.records);
        drop(row_rx);
        let written = writer
            .join()
            .map_err(|_| Error::Internal("the queries.parquet thread panicked".into()))?;
        if let Some(r) = reader {
            r.join()
                .map_err(|_| Error::Internal("the trace reader thread panicked".into()))?;
        }
        // The writer's error says why a send failed; otherwise the replay's own.
        let (acc, queries) = written?;
        Ok((records?, acc, queries))
    })?;
    if let Some(q) = queries {
        q.close()?;
    }
    let (metrics, invariants) = acc.finish(
        queries_total,
        &head.models,
        &server,
        &records,
        resolved,
        &[],
    )?;
    drop(spill);
    Ok(Replay {
        policy: policy.name.clone(),
        partitioner: policy.partitioner_name.clone(),
        scheduler: policy.scheduler_name.clone(),
        params: policy.params.clone(),
        partition: explanation,
        scheduler_details: scheduler.details(),
        server,
        service: service.clone(),
        batch_rules: rules,
        slas: resolved.to_vec(),
        records,
        metrics,
        invariants,
        repartition: None,
    })
}

/// Rows `lo..hi` of a sorted trace, as a chunk.
fn slice(t: &Trace, lo: usize, hi: usize) -> Trace {
    Trace {
        arrival_ns: t.arrival_ns[lo..hi].to_vec(),
        model: t.model[lo..hi].to_vec(),
        batch: t.batch[lo..hi].to_vec(),
        id: if t.id.is_empty() {
            Vec::new()
        } else {
            t.id[lo..hi].to_vec()
        },
        ..Trace::default()
    }
}

/// Decode the (sorted) trace file chunk by chunk, scaling arrivals, and send the chunks; stops
/// at the end, at the first error (sent), or when the replay stops listening.
fn read_rows(
    path: &Path,
    rate_scale: f64,
    models: usize,
    tx: &std::sync::mpsc::SyncSender<Result<Trace>>,
) {
    let mut r = match TraceReader::reopen(path) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    let mut prev = 0u64;
    loop {
        let c = match r.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if r.models().len() > models {
            let _ = tx.send(Err(Error::file(
                path,
                "the file changed while it was replayed (a model the first pass did not see)",
            )));
            return;
        }
        if c.arrival_ns.iter().any(|&a| {
            let back = a < prev;
            prev = a;
            back
        }) {
            let _ = tx.send(Err(Error::file(
                path,
                "the file changed while it was replayed (its rows are no longer sorted)",
            )));
            return;
        }
        let mut arrival_ns = c.arrival_ns;
        if rate_scale != 1.0 {
            for a in &mut arrival_ns {
                *a = crate::trace::scale_ns(*a, rate_scale);
            }
        }
        let t = Trace {
            arrival_ns,
            model: c.model,
            batch: c.batch,
            id: c.id,
            ..Trace::default()
        };
        if tx.send(Ok(t)).is_err() {
            return;
        }
    }
}
