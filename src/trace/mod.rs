//! Arrival traces: one row per query with its arrival time, model and (client-side) batch size.
//!
//! Parquet schema (the contract):
//! - `arrival_us`: integer (int64, int32 or unsigned), microseconds from the trace start, >= 0.
//!   Rows need not be sorted: loading sorts them stably by arrival.
//! - `model`: string (plain, large, view or dictionary-encoded).
//! - `batch`: integer of any width, >= 1.
//! - `id` (optional): int64; when absent the row index is the id.
//! - `prompt_tokens`, `output_tokens` (optional, both or neither): integers in
//!   `1..=`[`MAX_TOKENS`], never null. A trace with them is an **LLM trace**: every row is one
//!   request (its `batch` must be 1) with that many prompt tokens to prefill and output tokens to
//!   decode ([`Tokens`]). A trace without them is a batch trace, written byte for byte as before.

pub mod import;
pub mod law;
pub mod reader;
pub mod stats;
pub mod synth;
pub mod vary;

use crate::error::{Error, Result};
use crate::io::Interner;
use arrow_array::RecordBatch;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, StringArray};
pub use reader::{Chunk, Mix, TraceReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The latest simulated time a replay handles (2^62 ns, about 146 years): arrivals beyond it
/// are refused, so that adding service times can never overflow.
pub const MAX_TIME_NS: u64 = 1 << 62;

/// The largest prompt or output token count an LLM trace may hold (2^20): more is refused as
/// absurd (no served model has a context near it).
pub const MAX_TOKENS: u32 = 1 << 20;

/// The token counts of an LLM trace's requests, in the trace's sorted order (row `q` of
/// `prompt` and `output` belongs to the query at `arrival_ns[q]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens (prefilled), each in `1..=MAX_TOKENS`.
    pub prompt: Vec<u32>,
    /// Output tokens (decoded; the first is produced by the prefill's last step), each in
    /// `1..=MAX_TOKENS`. A scheduler that is not an oracle must not read these.
    pub output: Vec<u32>,
}

impl Tokens {
    /// Rows `lo..hi`.
    pub fn slice(&self, lo: usize, hi: usize) -> Tokens {
        Tokens {
            prompt: self.prompt[lo..hi].to_vec(),
            output: self.output[lo..hi].to_vec(),
        }
    }

    /// Rows in the order `order` (as [`crate::io::permuted`]).
    fn permuted(&self, order: &[u32]) -> Tokens {
        Tokens {
            prompt: crate::io::permuted(&self.prompt, order),
            output: crate::io::permuted(&self.output, order),
        }
    }
}

/// Refuse a rate scale that is not a positive number, or that stretches the last arrival
/// (`last_ns`) beyond [`MAX_TIME_NS`].
pub fn check_rate_scale(k: f64, last_ns: u64) -> Result<()> {
    if !(k.is_finite() && k > 0.0) {
        return Err(Error::Usage(format!(
            "--rate-scale must be a positive number, got {}",
            crate::error::num(k)
        )));
    }
    if k != 1.0 {
        let last = last_ns as f64 / k;
        if last > MAX_TIME_NS as f64 {
            return Err(Error::Usage(format!(
                "--rate-scale {k} stretches the trace to {:.3e} s of simulated time; at most {:.3e} s (2^62 ns) can be replayed",
                last / 1e9,
                MAX_TIME_NS as f64 / 1e9
            )));
        }
    }
    Ok(())
}

/// An arrival under rate scale `k`: divided by `k`, rounded to the nanosecond.
#[inline]
pub fn scale_ns(a: u64, k: f64) -> u64 {
    (a as f64 / k).round() as u64
}

/// Writes a trace file chunk by chunk ([`Trace::write`]'s schema and encodings): each
/// [`TraceWriter::write`] appends the rows of a trace (its ids when `with_ids`).
pub struct TraceWriter {
    path: PathBuf,
    file: crate::io::AtomicFile,
    /// Opened on the first chunk, with that chunk's schema.
    writer: Option<parquet::arrow::ArrowWriter<std::fs::File>>,
    with_ids: bool,
    /// Whether the chunks carry token counts (set by the first chunk; every chunk must agree).
    llm: Option<bool>,
}

impl TraceWriter {
    pub fn create(path: &Path, with_ids: bool) -> Result<TraceWriter> {
        Ok(TraceWriter {
            path: path.to_path_buf(),
            file: crate::io::AtomicFile::create(path)?,
            writer: None,
            with_ids,
            llm: None,
        })
    }

    /// Append the rows of `t`.
    pub fn write(&mut self, t: &Trace) -> Result<()> {
        let model = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from_iter_values(t.model.iter().map(|&m| m as i32)),
            Arc::new(StringArray::from_iter_values(t.models.iter())),
        )
        .map_err(|e| Error::Other(e.to_string()))?;
        let mut cols: Vec<(&str, ArrayRef)> = Vec::with_capacity(4);
        if self.with_ids {
            cols.push((
                "id",
                Arc::new(Int64Array::from_iter_values(
                    (0..t.len()).map(|q| t.id_of(q)),
                )),
            ));
        }
        cols.push((
            "arrival_us",
            Arc::new(Int64Array::from_iter_values(
                t.arrival_ns.iter().map(|&a| (a / 1000) as i64),
            )),
        ));
        cols.push(("model", Arc::new(model)));
        cols.push((
            "batch",
            Arc::new(Int32Array::from_iter_values(
                t.batch.iter().map(|&b| b.min(i32::MAX as u32) as i32),
            )),
        ));
        if let Some(tk) = &t.tokens {
            // LLM requests only: a batch trace's file keeps exactly its three (or four) columns.
            let int32 = |v: &[u32]| -> ArrayRef {
                Arc::new(Int32Array::from_iter_values(
                    v.iter().map(|&x| x.min(i32::MAX as u32) as i32),
                ))
            };
            cols.push(("prompt_tokens", int32(&tk.prompt)));
            cols.push(("output_tokens", int32(&tk.output)));
        }
        let batch = RecordBatch::try_from_iter(cols).map_err(|e| Error::Other(e.to_string()))?;
        let bad = |e: parquet::errors::ParquetError| Error::file(&self.path, e.to_string());
        if *self.llm.get_or_insert(t.is_llm()) != t.is_llm() {
            return Err(Error::Internal(format!(
                "{}: an LLM chunk and a batch chunk written to one trace file",
                self.path.display()
            )));
        }
        if self.writer.is_none() {
            let delta = ["id", "arrival_us", "batch"];
            let props = delta
                .iter()
                .fold(crate::io::write::parquet_props(), |b, c| {
                    let c = parquet::schema::types::ColumnPath::from(*c);
                    b.set_column_dictionary_enabled(c.clone(), false)
                        .set_column_encoding(c, parquet::basic::Encoding::DELTA_BINARY_PACKED)
                })
                .build();
            let f = self.file.try_clone()?;
            self.writer = Some(
                parquet::arrow::ArrowWriter::try_new(f, batch.schema(), Some(props))
                    .map_err(bad)?,
            );
        }
        let w = self.writer.as_mut().expect("opened");
        w.write(&batch).map_err(bad)
    }

    /// Close the file and move it into place.
    pub fn finish(self) -> Result<()> {
        let bad = |e: parquet::errors::ParquetError| Error::file(&self.path, e.to_string());
        match self.writer {
            Some(w) => {
                w.close().map_err(bad)?;
            }
            None => return Err(Error::file(&self.path, "no rows were written")),
        }
        self.file.commit()
    }
}

/// An in-memory trace, sorted by arrival, in structure-of-arrays form.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Where it came from (for reports); empty for traces built in memory.
    pub path: PathBuf,
    /// sha256 of the file, when loaded from one.
    pub sha256: crate::io::FileHash,
    /// Model names; `model[i]` indexes into this.
    pub models: Vec<String>,
    /// Arrival time in nanoseconds from the trace start, non-decreasing.
    pub arrival_ns: Vec<u64>,
    pub model: Vec<u32>,
    pub batch: Vec<u32>,
    /// Query ids in sorted order; empty when every id equals its sorted position (the common
    /// case, stored implicitly to save 8 bytes per query): read them with [`Trace::id_of`].
    pub id: Vec<i64>,
    /// The global position of row 0: 0 for a whole trace; for a window of a streamed replay
    /// ([`crate::drive::stream`]), the position in the whole sorted trace of its first row. The engine
    /// and the server's view address queries by global position through [`Trace::model_of`],
    /// [`Trace::batch_of`] and [`Trace::arrival_of`].
    pub base: usize,
    /// A streamed replay's stand-in for the whole trace ([`crate::drive::stream`]): no rows, and the
    /// whole trace's batch mix, which is all that partitioners and the SLA rule read of it
    /// ([`Trace::mix`], [`Trace::queries`]).
    pub head: Option<Arc<Mix>>,
    /// The requests' token counts when this is an LLM trace (see [`Trace::is_llm`]); `None` for
    /// a batch trace.
    pub tokens: Option<Tokens>,
}

impl Trace {
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.arrival_ns.len()
    }

    /// Whether the trace has no queries.
    pub fn is_empty(&self) -> bool {
        self.arrival_ns.is_empty()
    }

    /// Whether this is an LLM trace: its rows are requests with prompt and output token counts
    /// ([`Trace::tokens`]), each of batch 1.
    pub fn is_llm(&self) -> bool {
        self.tokens.is_some()
    }

    /// Build an LLM trace from rows `(arrival_ns, model, prompt_tokens, output_tokens)`, each
    /// of batch 1; ids are row indices. Sorts stably.
    pub fn from_llm_rows<'a>(rows: impl IntoIterator<Item = (u64, &'a str, u32, u32)>) -> Trace {
        let mut t = Trace::default();
        let mut names = Interner::default();
        let mut tk = Tokens::default();
        for (a, m, p, o) in rows {
            t.arrival_ns.push(a);
            t.model.push(names.intern(m));
            t.batch.push(1);
            tk.prompt.push(p);
            tk.output.push(o);
        }
        t.models = names.names;
        t.tokens = Some(tk);
        t.sort_stable();
        t.compact_ids();
        t
    }

    /// The prompt tokens of the query at global position `q` (see [`Trace::base`]); an LLM
    /// trace only.
    #[inline(always)]
    pub fn prompt_of(&self, q: u32) -> u32 {
        self.tokens.as_ref().expect("an LLM trace").prompt[q as usize - self.base]
    }

    /// The output tokens of the query at global position `q`; an LLM trace only. Only an
    /// oracle policy may read this (an online server does not know a request's output length).
    #[inline(always)]
    pub fn output_of(&self, q: u32) -> u32 {
        self.tokens.as_ref().expect("an LLM trace").output[q as usize - self.base]
    }

    /// Build a trace from rows `(arrival_ns, model, batch)`; ids are row indices. Sorts stably.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (u64, &'a str, u32)>) -> Trace {
        let mut t = Trace::default();
        let mut names = Interner::default();
        for (a, m, b) in rows {
            t.arrival_ns.push(a);
            t.model.push(names.intern(m));
            t.batch.push(b);
        }
        t.models = names.names;
        t.sort_stable();
        t.compact_ids();
        t
    }

    /// Load and validate a Parquet trace, streaming it batch by batch (memory: the trace
    /// itself, 16 bytes per query, plus 8 when it carries ids that are not its row order and 8
    /// for an LLM trace's token counts).
    pub fn load(path: &Path) -> Result<Trace> {
        let mut r = TraceReader::open(path)?;
        let n = r.rows();
        let mut t = Trace {
            path: path.to_path_buf(),
            arrival_ns: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            batch: Vec::with_capacity(n),
            id: Vec::with_capacity(if r.has_id { n } else { 0 }),
            tokens: r.has_tokens.then(|| Tokens {
                prompt: Vec::with_capacity(n),
                output: Vec::with_capacity(n),
            }),
            ..Trace::default()
        };
        while let Some(c) = r.next_chunk()? {
            t.arrival_ns.extend_from_slice(&c.arrival_ns);
            t.model.extend_from_slice(&c.model);
            t.batch.extend_from_slice(&c.batch);
            t.id.extend_from_slice(&c.id);
            if let Some(tk) = &mut t.tokens {
                tk.prompt.extend_from_slice(&c.prompt_tokens);
                tk.output.extend_from_slice(&c.output_tokens);
            }
        }
        r.check_model_names(|m| t.model.iter().position(|&x| x == m).unwrap_or(0))?;
        (t.models, t.sha256) = r.finish();
        t.sort_stable();
        t.compact_ids();
        Ok(t)
    }

    /// The id of sorted query `q` (a row of this trace, `base` not applied).
    #[inline]
    pub fn id_of(&self, q: usize) -> i64 {
        if self.id.is_empty() {
            (self.base + q) as i64
        } else {
            self.id[q]
        }
    }

    /// The model of the query at global position `q` (see [`Trace::base`]).
    #[inline(always)]
    pub fn model_of(&self, q: u32) -> u32 {
        self.model[q as usize - self.base]
    }

    /// The batch of the query at global position `q`.
    #[inline(always)]
    pub fn batch_of(&self, q: u32) -> u32 {
        self.batch[q as usize - self.base]
    }

    /// The arrival (ns) of the query at global position `q`.
    #[inline(always)]
    pub fn arrival_of(&self, q: u32) -> u64 {
        self.arrival_ns[q as usize - self.base]
    }

    /// One past the global position of the last row.
    #[inline(always)]
    pub fn end(&self) -> usize {
        self.base + self.arrival_ns.len()
    }

    /// Drop the id column when every id equals its sorted position.
    pub(crate) fn compact_ids(&mut self) {
        if !self.id.is_empty() && self.id.iter().enumerate().all(|(q, &v)| v == q as i64) {
            self.id = Vec::new();
        }
    }

    /// Sort stably by arrival (no-op when already sorted).
    pub fn sort_stable(&mut self) {
        let Some(order) = crate::io::sort_order(&self.arrival_ns) else {
            return;
        };
        self.arrival_ns = crate::io::permuted(&self.arrival_ns, &order);
        self.model = crate::io::permuted(&self.model, &order);
        self.batch = crate::io::permuted(&self.batch, &order);
        if let Some(tk) = &mut self.tokens {
            *tk = tk.permuted(&order);
        }
        if self.id.is_empty() {
            // Implicit ids are row positions: the sort order itself.
            self.id = order.iter().map(|&i| i as i64).collect();
        } else {
            self.id = crate::io::permuted(&self.id, &order);
        }
    }

    /// Divide every inter-arrival time by `k` (k = 2 doubles the offered load). Arrivals are
    /// times from the trace start, so each becomes `round(arrival / k)` nanoseconds.
    pub fn scale_rate(&mut self, k: f64) -> Result<()> {
        check_rate_scale(k, self.arrival_ns.last().copied().unwrap_or(0))?;
        if k != 1.0 {
            for a in &mut self.arrival_ns {
                *a = scale_ns(*a, k);
            }
        }
        Ok(())
    }

    /// Write the trace as Parquet in the schema above, atomically: `arrival_us` int64 (rounded
    /// down to whole microseconds) and `batch` int32, both DELTA_BINARY_PACKED (sorted arrivals
    /// and small batches pack to a few bits each); `model` dictionary-encoded; `id` int64 only
    /// when the ids are not the row order (otherwise the schema's default says it). Snappy
    /// pages. A 1M-query trace takes about 2.5 MB this way instead of 10 MB with plain
    /// encodings, and loads and hashes in proportion.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut w = TraceWriter::create(path, !self.id.is_empty())?;
        w.write(self)?;
        w.finish()
    }

    /// The largest batch in the trace.
    pub fn max_batch(&self) -> u32 {
        match &self.head {
            Some(h) => h.counts.keys().map(|&(_, b)| b).max().unwrap_or(1),
            None => self.batch.iter().copied().max().unwrap_or(1),
        }
    }

    /// Queries in the whole trace: its rows, or a stream's head's count.
    pub fn queries(&self) -> usize {
        self.head
            .as_ref()
            .map_or(self.len(), |h| h.queries as usize)
    }

    /// The batch mix of the whole trace: the count of every (model, batch) and its first
    /// sorted row (a stream's head carries it; otherwise counted from the rows).
    pub fn mix(&self) -> std::borrow::Cow<'_, Mix> {
        match &self.head {
            Some(h) => std::borrow::Cow::Borrowed(h),
            None => std::borrow::Cow::Owned(Mix::of(self)),
        }
    }

    /// Window `k` of `of` (0 <= k < of): the queries from position `k * n / of` up to
    /// `(k + 1) * n / of`, in order, with their arrival times, batches and ids; the models
    /// re-interned in order of first appearance (a model absent from the window is dropped).
    pub fn window(&self, k: usize, of: usize) -> Trace {
        let n = self.len();
        let (lo, hi) = (k * n / of.max(1), ((k + 1) * n / of.max(1)).min(n));
        let mut names = Interner::default();
        let model = self.model[lo..hi]
            .iter()
            .map(|&m| names.intern(&self.models[m as usize]))
            .collect();
        Trace {
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            models: names.names,
            arrival_ns: self.arrival_ns[lo..hi].to_vec(),
            model,
            batch: self.batch[lo..hi].to_vec(),
            id: (lo..hi).map(|q| self.id_of(q)).collect(),
            base: 0,
            head: None,
            tokens: self.tokens.as_ref().map(|tk| tk.slice(lo, hi)),
        }
    }

    /// The queries arriving in `[lo_ns, hi_ns)`, with the trace's model list kept as it is (so
    /// model indices, and the SLAs resolved per model, still apply): the traffic a repartitioner
    /// observes over a window.
    pub fn between(&self, lo_ns: u64, hi_ns: u64) -> Trace {
        let lo = self.arrival_ns.partition_point(|&a| a < lo_ns);
        let hi = self.arrival_ns.partition_point(|&a| a < hi_ns).max(lo);
        Trace {
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            models: self.models.clone(),
            arrival_ns: self.arrival_ns[lo..hi].to_vec(),
            model: self.model[lo..hi].to_vec(),
            batch: self.batch[lo..hi].to_vec(),
            id: (lo..hi).map(|q| self.id_of(q)).collect(),
            base: 0,
            head: None,
            tokens: self.tokens.as_ref().map(|tk| tk.slice(lo, hi)),
        }
    }

    /// The mean offered arrival rate, queries/s: (queries - 1) / the span from the first to the
    /// last arrival (at least 1 ns), the rate at which the trace offers its queries.
    pub fn offered_rate(&self) -> f64 {
        let span = match (self.arrival_ns.first(), self.arrival_ns.last()) {
            (Some(a), Some(b)) => (b - a).max(1),
            _ => 1,
        };
        (self.len().max(2) - 1) as f64 / (span as f64 / 1e9)
    }

    /// The first row (in sorted order) that uses model `m`.
    pub fn first_row_of_model(&self, m: u32) -> Option<usize> {
        if let Some(h) = &self.head {
            return h
                .first
                .iter()
                .filter(|(k, _)| k.0 == m)
                .map(|(_, &r)| r.0)
                .min();
        }
        self.model.iter().position(|&x| x == m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(path: &Path) -> Vec<String> {
        let f = std::fs::File::open(path).unwrap();
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    #[test]
    fn write_then_load_round_trips_with_and_without_explicit_ids() {
        let dir = tempfile::tempdir().unwrap();
        // Sorted rows: ids are the row order and the file carries no id column.
        let t = Trace::from_rows([(1_000, "a", 1), (2_000, "b", 3), (2_000, "a", 64)]);
        assert!(t.id.is_empty());
        let p = dir.path().join("implicit.parquet");
        t.write(&p).unwrap();
        assert_eq!(columns(&p), ["arrival_us", "model", "batch"]);
        let back = Trace::load(&p).unwrap();
        assert_eq!(
            (&back.arrival_ns, &back.model, &back.batch, &back.models),
            (&t.arrival_ns, &t.model, &t.batch, &t.models)
        );
        assert!(back.id.is_empty());
        // Unsorted rows: the sort permutes the ids, which the file must then carry.
        let u = Trace::from_rows([(5_000, "a", 2), (1_000, "b", 1), (3_000, "a", 7)]);
        assert_eq!(u.id, [1, 2, 0]);
        let p = dir.path().join("explicit.parquet");
        u.write(&p).unwrap();
        assert_eq!(columns(&p), ["id", "arrival_us", "model", "batch"]);
        let back = Trace::load(&p).unwrap();
        assert_eq!(back.id, u.id);
        assert_eq!(back.arrival_ns, u.arrival_ns);
        assert_eq!(back.batch, u.batch);
    }

    #[test]
    fn token_counts_follow_their_rows_through_sort_window_between_and_a_file() {
        let dir = tempfile::tempdir().unwrap();
        // Unsorted rows (arrival, model, prompt, output): sorted by arrival, the tokens follow.
        let t = Trace::from_llm_rows([
            (3_000, "a", 30, 3),
            (1_000, "b", 10, 1),
            (2_000, "a", 20, 2),
            (4_000, "b", 40, 4),
        ]);
        assert!(t.is_llm());
        assert_eq!(t.arrival_ns, [1_000, 2_000, 3_000, 4_000]);
        let tk = t.tokens.as_ref().unwrap();
        assert_eq!(
            (&tk.prompt[..], &tk.output[..]),
            (&[10, 20, 30, 40][..], &[1, 2, 3, 4][..])
        );
        assert_eq!(t.id, [1, 2, 0, 3]);
        assert_eq!(t.batch, [1, 1, 1, 1]);
        assert_eq!((t.prompt_of(2), t.output_of(3)), (30, 4));
        // Window 1 of 2: rows 2..4; between [2 us, 4 us): rows 1..3.
        let w = t.window(1, 2).tokens.unwrap();
        assert_eq!((w.prompt, w.output), (vec![30, 40], vec![3, 4]));
        let b = t.between(2_000, 4_000).tokens.unwrap();
        assert_eq!((b.prompt, b.output), (vec![20, 30], vec![2, 3]));
        // Rate scaling moves arrivals only.
        let mut s = t.clone();
        s.scale_rate(2.0).unwrap();
        assert_eq!(s.arrival_ns, [500, 1_000, 1_500, 2_000]);
        assert_eq!(s.tokens, t.tokens);
        // The file carries the two columns, and reads back the same.
        let p = dir.path().join("llm.parquet");
        t.write(&p).unwrap();
        assert_eq!(
            columns(&p),
            [
                "id",
                "arrival_us",
                "model",
                "batch",
                "prompt_tokens",
                "output_tokens"
            ]
        );
        let back = Trace::load(&p).unwrap();
        assert_eq!(back.tokens, t.tokens);
        assert_eq!(
            (back.arrival_ns, back.id),
            (t.arrival_ns.clone(), t.id.clone())
        );
        // A batch trace is not an LLM trace.
        assert!(!Trace::from_rows([(0, "a", 2)]).is_llm());
    }
}
