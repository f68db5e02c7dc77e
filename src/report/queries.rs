//! `queries.parquet`: one row per query, exact.
//!
//! Columns: `id`, `model`, `batch`, `arrival_us` (int64 microseconds, whole: the trace's own
//! arrival, rounded down when `--rate-scale` moved it between microseconds), `arrival_ns`
//! (int64, the exact replayed arrival), `start_us`, `finish_us` (float64 microseconds, exact to
//! the nanosecond below 2^53 ns), `gpu`, `instance` (global instance index, as in
//! `summary.json`), `slice`; with dynamic batching that can merge (some `max_batch` above 1),
//! also `batch_id` (batches numbered in start order) and `batch_size` (the batch's summed
//! size). With `id`, `arrival_us`, `model` and `batch` the file is a trace: it loads, inspects
//! and replays like one.
//!
//! Streamed in row groups of [`QUERIES_ROW_GROUP`] rows; the columns of a row group are built
//! and encoded in parallel, each on the worker that encodes it. Encodings are chosen per
//! column: dictionary for `model` and `slice` (a handful of distinct strings), DELTA_BINARY_PACKED
//! for the integer columns (sorted ids and small instance numbers pack to a few bits), PLAIN for
//! the float times (a dictionary would be tried and abandoned); LZ4 for all but the float times,
//! which it barely shrinks.
//!
//! The first five columns come from the trace alone. [`QueriesWriter::prepare`] encodes them
//! for the first row group before the replay has finished: `run` calls it on a second thread
//! while the (single-threaded) event loop runs, which takes them off the write's critical path.

use crate::drive::replay::Replay;
use crate::engine::{Records, RowGroup};
use crate::error::{Error, Result};
use crate::io::{ColumnEncoding, Compress, ParquetSink};
use crate::server::Server;
use crate::trace::Trace;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter};
use std::path::Path;
use std::sync::Arc;

/// Rows per row group of `queries.parquet`: the writer holds one row group in memory at a time.
pub const QUERIES_ROW_GROUP: usize = 1 << 20;

/// The columns, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Model,
    Batch,
    Arrival,
    ArrivalNs,
    Start,
    Finish,
    Gpu,
    Instance,
    Slice,
    BatchId,
    BatchSize,
}

impl Col {
    fn all(batched: bool) -> Vec<Col> {
        use Col::*;
        let mut v = vec![
            Id, Model, Batch, Arrival, ArrivalNs, Start, Finish, Gpu, Instance, Slice,
        ];
        if batched {
            v.extend([BatchId, BatchSize]);
        }
        v
    }

    fn field(self) -> Field {
        let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let (name, t) = match self {
            Col::Id => ("id", DataType::Int64),
            Col::Model => ("model", dict()),
            Col::Batch => ("batch", DataType::Int32),
            Col::Arrival => ("arrival_us", DataType::Int64),
            Col::ArrivalNs => ("arrival_ns", DataType::Int64),
            Col::Start => ("start_us", DataType::Float64),
            Col::Finish => ("finish_us", DataType::Float64),
            Col::Gpu => ("gpu", DataType::Int32),
            Col::Instance => ("instance", DataType::UInt32),
            Col::Slice => ("slice", dict()),
            Col::BatchId => ("batch_id", DataType::UInt32),
            Col::BatchSize => ("batch_size", DataType::UInt32),
        };
        Field::new(name, t, false)
    }

    fn encoding(self) -> (ColumnEncoding, Compress) {
        match self {
            Col::Model | Col::Slice => (ColumnEncoding::Dictionary, Compress::Lz4),
            Col::Start | Col::Finish => (ColumnEncoding::Plain, Compress::None),
            _ => (ColumnEncoding::Delta, Compress::Lz4),
        }
    }

    /// Whether the column depends on the trace alone (not on the replay).
    fn is_trace_column(self) -> bool {
        matches!(
            self,
            Col::Id | Col::Model | Col::Batch | Col::Arrival | Col::ArrivalNs
        )
    }
}

/// Encoded column chunks and column writers, each with its column index.
type Chunks = Vec<(usize, ArrowColumnChunk)>;
type Writers = Vec<(usize, ArrowColumnWriter)>;

/// Writes `queries.parquet` (atomically: nothing appears under the final name until
/// [`QueriesWriter::finish`] succeeds).
pub struct QueriesWriter {
    sink: ParquetSink,
    cols: Vec<Col>,
    rows_per_group: usize,
    /// The first row group's trace columns, encoded by [`QueriesWriter::prepare`], and the
    /// writers of its other columns.
    first: Option<(Chunks, Writers)>,
    /// A streamed replay's row group being fed ([`QueriesWriter::append`]): its column writers
    /// and the rows they hold.
    open: Option<(Writers, usize)>,
}

impl QueriesWriter {
    /// Open `path`; `batched` adds `batch_id` and `batch_size` (see
    /// [`QueriesWriter::batched`]).
    pub fn create(path: &Path, batched: bool, rows_per_group: usize) -> Result<QueriesWriter> {
        let cols = Col::all(batched);
        let schema = Arc::new(Schema::new(
            cols.iter().map(|c| c.field()).collect::<Vec<_>>(),
        ));
        let (enc, comp): (Vec<_>, Vec<_>) = cols.iter().map(|c| c.encoding()).unzip();
        Ok(QueriesWriter {
            sink: ParquetSink::create(path, schema, &enc, &comp)?,
            cols,
            rows_per_group: rows_per_group.max(1),
            first: None,
            open: None,
        })
    }

    /// Whether a replay under `service` writes the batch columns: with batching whose keys
    /// let queries merge (some max_batch above 1).
    pub fn batched(service: &crate::service::ServiceModel) -> bool {
        service.batching.as_ref().is_some_and(|b| b.can_merge())
    }

    /// Encode the first row group's columns that come from the trace alone (`id`, `model`,
    /// `batch`, `arrival_us`, `arrival_ns`), one after the other on the calling thread (it is meant to run
    /// beside the replay, on the core the event loop leaves idle). Optional:
    /// [`QueriesWriter::finish`] encodes whatever is left.
    pub fn prepare(&mut self, trace: &Trace) -> Result<()> {
        if self.first.is_some() || trace.is_empty() {
            return Ok(());
        }
        let hi = self.rows_per_group.min(trace.len());
        let cols = Columns {
            rows: Rows::of_trace(trace),
            models: &trace.models,
            server: None,
        };
        let (ahead, rest): (Vec<_>, Vec<_>) = self
            .sink
            .row_group_writers()?
            .into_iter()
            .enumerate()
            .partition(|(i, _)| self.cols[*i].is_trace_column());
        let chunks = self
            .sink
            .encode(ahead, false, |i| cols.build(self.cols[i], 0, hi))?;
        self.first = Some((chunks, rest));
        Ok(())
    }

    /// Encode every remaining column of every row group and write the file into place.
    pub fn finish(mut self, trace: &Trace, r: &Replay) -> Result<()> {
        let n = trace.len();
        if r.records.instance.len() != n {
            return Err(Error::Internal(format!(
                "queries.parquet: {} records for {n} queries",
                r.records.instance.len()
            )));
        }
        let cols = Columns {
            rows: Rows::of_replay(trace, &r.records),
            models: &trace.models,
            server: Some(&r.server),
        };
        let mut lo = 0;
        while lo < n {
            let hi = (lo + self.rows_per_group).min(n);
            let (mut chunks, writers) = match (lo, self.first.take()) {
                (0, Some(first)) => first,
                _ => (
                    Vec::new(),
                    self.sink
                        .row_group_writers()?
                        .into_iter()
                        .enumerate()
                        .collect(),
                ),
            };
            chunks.extend(
                self.sink
                    .encode(writers, true, |i| cols.build(self.cols[i], lo, hi))?,
            );
            self.sink.append(chunks)?;
            lo = hi;
        }
        self.sink.finish()
    }

    /// Append the rows of a streamed replay's row group `g` (they come in order, of any
    /// length): they fill the file's row groups of `rows_per_group` rows, each encoded as its
    /// rows come (the column writers stay open between calls) and written when full.
    pub fn append(&mut self, g: &RowGroup, models: &[String], server: &Server) -> Result<()> {
        let cols = Columns {
            rows: Rows::of_group(g),
            models,
            server: Some(server),
        };
        let mut lo = 0;
        while lo < g.len() {
            let (writers, have) = match self.open.take() {
                Some(o) => o,
                None => (
                    self.sink
                        .row_group_writers()?
                        .into_iter()
                        .enumerate()
                        .collect(),
                    0,
                ),
            };
            let hi = lo + (self.rows_per_group - have).min(g.len() - lo);
            let writers = self
                .sink
                .feed(writers, true, |i| cols.build(self.cols[i], lo, hi))?;
            let have = have + hi - lo;
            if have == self.rows_per_group {
                let chunks = self.sink.close_writers(writers)?;
                self.sink.append(chunks)?;
            } else {
                self.open = Some((writers, have));
            }
            lo = hi;
        }
        Ok(())
    }

    /// Write the last row group of a streamed replay and move the file into place.
    pub fn close(mut self) -> Result<()> {
        if let Some((writers, _)) = self.open.take() {
            let chunks = self.sink.close_writers(writers)?;
            self.sink.append(chunks)?;
        }
        self.sink.finish()
    }
}

/// The rows a column is built from, borrowed: the whole trace and records of a replay, or a
/// streamed replay's row group. Ids are `first + row` when `id` is empty; batch sizes are
/// looked up by batch id from `batch_base`.
struct Rows<'a> {
    first: usize,
    id: &'a [i64],
    arrival_ns: &'a [u64],
    model: &'a [u32],
    batch: &'a [u32],
    start_ns: &'a [u64],
    finish_ns: &'a [u64],
    instance: &'a [u32],
    batch_id: &'a [u32],
    batch_size: &'a [u32],
    batch_base: u32,
}

impl<'a> Rows<'a> {
    fn of_trace(t: &'a Trace) -> Rows<'a> {
        Rows {
            first: t.base,
            id: &t.id,
            arrival_ns: &t.arrival_ns,
            model: &t.model,
            batch: &t.batch,
            start_ns: &[],
            finish_ns: &[],
            instance: &[],
            batch_id: &[],
            batch_size: &[],
            batch_base: 0,
        }
    }

    fn of_replay(t: &'a Trace, r: &'a Records) -> Rows<'a> {
        Rows {
            start_ns: &r.start_ns,
            finish_ns: &r.finish_ns,
            instance: &r.instance,
            batch_id: &r.batch_id,
            batch_size: &r.batch_size,
            batch_base: r.batch_base,
            ..Rows::of_trace(t)
        }
    }

    fn of_group(g: &'a RowGroup) -> Rows<'a> {
        Rows {
            first: g.first,
            id: &g.id,
            arrival_ns: &g.arrival_ns,
            model: &g.model,
            batch: &g.batch,
            start_ns: &g.start_ns,
            finish_ns: &g.finish_ns,
            instance: &g.instance,
            batch_id: &g.batch_id,
            batch_size: &g.batch_size,
            batch_base: g.batch_base,
        }
    }
}

/// Builds any column's array for a range of rows: the trace columns from the trace alone, the
/// others from the replay's records and server.
struct Columns<'a> {
    rows: Rows<'a>,
    models: &'a [String],
    server: Option<&'a Server>,
}

impl Columns<'_> {
    fn build(&self, c: Col, lo: usize, hi: usize) -> Result<ArrayRef> {
        let t = &self.rows;
        let us = |v: &[u64]| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(
                v.iter().map(|&x| x as f64 / 1e3),
            ))
        };
        let dict = |keys: Int32Array, names: &mut dyn Iterator<Item = &str>| -> Result<ArrayRef> {
            let values = Arc::new(StringArray::from_iter_values(names));
            Ok(Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values)
                    .map_err(|e| Error::Other(e.to_string()))?,
            ))
        };
        let server = || {
            self.server.ok_or_else(|| {
                Error::Other(format!("queries.parquet: column {c:?} needs the replay"))
            })
        };
        Ok(match c {
            Col::Id => Arc::new(Int64Array::from_iter_values((lo..hi).map(|q| {
                if t.id.is_empty() {
                    (t.first + q) as i64
                } else {
                    t.id[q]
                }
            }))),
            Col::Model => dict(
                Int32Array::from_iter_values(t.model[lo..hi].iter().map(|&m| m as i32)),
                &mut self.models.iter().map(String::as_str),
            )?,
            Col::Batch => Arc::new(Int32Array::from_iter_values(
                t.batch[lo..hi].iter().map(|&b| b as i32),
            )),
            Col::Arrival => Arc::new(Int64Array::from_iter_values(
                t.arrival_ns[lo..hi].iter().map(|&a| (a / 1000) as i64),
            )),
            Col::ArrivalNs => Arc::new(Int64Array::from_iter_values(
                t.arrival_ns[lo..hi].iter().map(|&a| a as i64),
            )),
            Col::Start => us(&t.start_ns[lo..hi]),
            Col::Finish => us(&t.finish_ns[lo..hi]),
            Col::Gpu => {
                let server = server()?;
                Arc::new(Int32Array::from_iter_values(
                    t.instance[lo..hi]
                        .iter()
                        .map(|&i| server.instances[i as usize].gpu as i32),
                ))
            }
            Col::Instance => Arc::new(UInt32Array::from_iter_values(
                t.instance[lo..hi].iter().copied(),
            )),
            Col::Slice => {
                let server = server()?;
                dict(
                    Int32Array::from_iter_values(
                        t.instance[lo..hi]
                            .iter()
                            .map(|&i| server.instances[i as usize].slice as i32),
                    ),
                    &mut server.gpu.profiles.iter().map(|p| p.name),
                )?
            }
            Col::BatchId => Arc::new(UInt32Array::from_iter_values(
                t.batch_id[lo..hi].iter().copied(),
            )),
            Col::BatchSize => Arc::new(UInt32Array::from_iter_values(
                t.batch_id[lo..hi]
                    .iter()
                    .map(|&b| t.batch_size[(b - t.batch_base) as usize]),
            )),
        })
    }
}

/// Write `queries.parquet` for a finished replay.
pub fn write_queries(path: &Path, trace: &Trace, r: &Replay) -> Result<()> {
    write_queries_in_groups(path, trace, r, QUERIES_ROW_GROUP)
}

/// [`write_queries`] with `rows_per_group` rows per row group.
pub fn write_queries_in_groups(
    path: &Path,
    trace: &Trace,
    r: &Replay,
    rows_per_group: usize,
) -> Result<()> {
    let batched = QueriesWriter::batched(&r.service);
    QueriesWriter::create(path, batched, rows_per_group)?.finish(trace, r)
}

impl crate::drive::stream::GroupSink for QueriesWriter {
    fn append(&mut self, g: &RowGroup, models: &[String], server: &Server) -> Result<()> {
        QueriesWriter::append(self, g, models, server)
    }
    fn close(self: Box<Self>) -> Result<()> {
        QueriesWriter::close(*self)
    }
}
