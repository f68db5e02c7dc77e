//! Reading a Parquet trace chunk by chunk, in file order, every cell validated ([`TraceReader`]):
//! [`super::Trace::load`] gathers the chunks into a sorted trace; a streamed replay
//! ([`crate::drive::stream`]) reads them twice, once for the trace's [`Mix`] and once to replay them.

use super::{MAX_TIME_NS, MAX_TOKENS, Trace};
use crate::error::{Error, Result};
use crate::io::{FileHash, Interner, ParquetInput, append_ints, append_strings, col};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows of a trace in file order: arrival (ns), model (interned in order of first appearance
/// in the file), batch, the `id` column when the file has one (empty otherwise), and the token
/// counts of an LLM trace (empty otherwise).
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// File row of the first row.
    pub row0: usize,
    pub arrival_ns: Vec<u64>,
    pub model: Vec<u32>,
    pub batch: Vec<u32>,
    pub id: Vec<i64>,
    pub prompt_tokens: Vec<u32>,
    pub output_tokens: Vec<u32>,
}

/// Reads and validates a Parquet trace (the schema of [`super`]) one record batch at a time.
pub struct TraceReader {
    input: ParquetInput,
    names: Interner,
    /// Whether the file has an `id` column.
    pub has_id: bool,
    /// Whether the file is an LLM trace (it has `prompt_tokens` and `output_tokens`).
    pub has_tokens: bool,
    tmp: Vec<i64>,
}

/// Whether the trace file at `path` is an LLM trace (it has the token columns; both, or the
/// error that names the missing one), reading only its schema.
pub fn is_llm_file(path: &Path) -> Result<bool> {
    Ok(TraceReader::reopen(path)?.has_tokens)
}

impl TraceReader {
    /// Open `path` and check its columns; its hash is computed as it is read
    /// ([`TraceReader::finish`]).
    pub fn open(path: &Path) -> Result<TraceReader> {
        Self::checked(ParquetInput::open(path)?)
    }

    /// Open a file already read once (a streamed replay's second pass): no second hash.
    pub fn reopen(path: &Path) -> Result<TraceReader> {
        Self::checked(ParquetInput::open_unhashed(path)?)
    }

    fn checked(input: ParquetInput) -> Result<TraceReader> {
        input.require(
            "arrival_us",
            "an integer column of microseconds from the trace start",
        )?;
        input.require("model", "a string column with the model name")?;
        input.require("batch", "an integer column with the batch size (>= 1)")?;
        let has_tokens = match (input.has("prompt_tokens"), input.has("output_tokens")) {
            (true, true) => true,
            (false, false) => false,
            (p, _) => {
                let (has, missing) = if p {
                    ("prompt_tokens", "output_tokens")
                } else {
                    ("output_tokens", "prompt_tokens")
                };
                return Err(Error::column(
                    &input.path,
                    missing,
                    format!(
                        "missing column; the file has '{has}', and an LLM trace needs both prompt_tokens and output_tokens (integers >= 1)"
                    ),
                ));
            }
        };
        Ok(TraceReader {
            has_id: input.has("id"),
            has_tokens,
            input,
            names: Interner::default(),
            tmp: Vec::new(),
        })
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.input.rows
    }

    pub fn path(&self) -> &Path {
        &self.input.path
    }

    /// The model names met so far, in order of first appearance.
    pub fn models(&self) -> &[String] {
        &self.names.names
    }

    /// The next rows, validated: arrivals >= 0 and at most 2^62 ns, batches >= 1; in an LLM
    /// trace, batches exactly 1 and token counts in `1..=MAX_TOKENS`.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let Some((b, row0)) = self.input.next_batch()? else {
            return Ok(None);
        };
        let path = self.input.path.clone();
        let path = path.as_path();
        let n = b.num_rows();
        let mut c = Chunk {
            row0,
            arrival_ns: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            batch: Vec::with_capacity(n),
            id: Vec::new(),
            prompt_tokens: Vec::new(),
            output_tokens: Vec::new(),
        };
        let tmp = &mut self.tmp;
        tmp.clear();
        append_ints(col(&b, "arrival_us"), path, "arrival_us", row0, tmp)?;
        for (i, &a) in tmp.iter().enumerate() {
            if a < 0 {
                return Err(Error::cell(
                    path,
                    "arrival_us",
                    row0 + i,
                    format!("negative value {a}; expected >= 0"),
                ));
            }
            let ns = (a as u64)
                .checked_mul(1000)
                .filter(|&ns| ns <= MAX_TIME_NS)
                .ok_or_else(|| {
                    Error::cell(
                        path,
                        "arrival_us",
                        row0 + i,
                        format!(
                            "value {a} is too large; expected at most {} us (2^62 ns)",
                            MAX_TIME_NS / 1000
                        ),
                    )
                })?;
            c.arrival_ns.push(ns);
        }
        tmp.clear();
        append_ints(col(&b, "batch"), path, "batch", row0, tmp)?;
        for (i, &v) in tmp.iter().enumerate() {
            if v < 1 || v > u32::MAX as i64 {
                return Err(Error::cell(
                    path,
                    "batch",
                    row0 + i,
                    format!("value {v}; expected an integer >= 1"),
                ));
            }
            if self.has_tokens && v != 1 {
                return Err(Error::cell(
                    path,
                    "batch",
                    row0 + i,
                    format!(
                        "value {v}; a row of an LLM trace (with prompt_tokens and output_tokens) is one request: expected 1"
                    ),
                ));
            }
            c.batch.push(v as u32);
        }
        if self.has_tokens {
            for (name, out) in [
                ("prompt_tokens", &mut c.prompt_tokens),
                ("output_tokens", &mut c.output_tokens),
            ] {
                tmp.clear();
                append_ints(col(&b, name), path, name, row0, tmp)?;
                out.reserve(n);
                for (i, &v) in tmp.iter().enumerate() {
                    if v < 1 || v > MAX_TOKENS as i64 {
                        let why = if v < 1 {
                            "expected a token count >= 1".to_string()
                        } else {
                            format!("absurd; expected at most {MAX_TOKENS} tokens (2^20)")
                        };
                        return Err(Error::cell(
                            path,
                            name,
                            row0 + i,
                            format!("value {v}: {why}"),
                        ));
                    }
                    out.push(v as u32);
                }
            }
        }
        append_strings(
            col(&b, "model"),
            path,
            "model",
            row0,
            &mut self.names,
            &mut c.model,
        )?;
        if self.has_id {
            append_ints(col(&b, "id"), path, "id", row0, &mut c.id)?;
        }
        Ok(Some(c))
    }

    /// Refuse an empty model name, naming the first file row (`first_row(model)`) that has it.
    pub fn check_model_names(&self, first_row: impl Fn(u32) -> usize) -> Result<()> {
        for (i, m) in self.names.names.iter().enumerate() {
            if m.trim().is_empty() {
                return Err(Error::cell(
                    &self.input.path,
                    "model",
                    first_row(i as u32),
                    "empty model name; expected a model name",
                ));
            }
        }
        Ok(())
    }

    /// The model names and the file's hash.
    pub fn finish(self) -> (Vec<String>, FileHash) {
        (self.names.names, self.input.sha256())
    }
}

/// The batch mix of a whole trace: how many queries of every (model, batch) it holds, and the
/// first of them (sorted position and id). Partitioners (PARIS's batch map) and the default SLA
/// rule read this of a trace, so a streamed replay can plan without holding the rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mix {
    pub counts: BTreeMap<(u32, u32), u64>,
    /// (sorted position, id) of the first query of every (model, batch).
    pub first: BTreeMap<(u32, u32), (usize, i64)>,
    pub queries: u64,
}

/// Counts a mix query by query: a dense table for batches below 4,096, a map above.
#[derive(Debug, Default)]
pub struct MixCounter {
    /// Per model, per batch: (count, first position, its id).
    dense: Vec<Vec<(u64, usize, i64)>>,
    sparse: Mix,
}

impl MixCounter {
    const DENSE: u32 = 4096;

    #[inline]
    pub fn add(&mut self, model: u32, batch: u32, q: usize, id: i64) {
        if batch >= Self::DENSE {
            self.sparse.add(model, batch, q, id);
            return;
        }
        let m = model as usize;
        if m >= self.dense.len() {
            self.dense.resize_with(m + 1, Vec::new);
        }
        let row = &mut self.dense[m];
        let b = batch as usize;
        if b >= row.len() {
            row.resize(b + 1, (0, 0, 0));
        }
        let e = &mut row[b];
        if e.0 == 0 {
            (e.1, e.2) = (q, id);
        }
        e.0 += 1;
    }

    pub fn finish(self) -> Mix {
        let mut mix = self.sparse;
        for (m, row) in self.dense.iter().enumerate() {
            for (b, &(c, q, id)) in row.iter().enumerate() {
                if c > 0 {
                    mix.counts.insert((m as u32, b as u32), c);
                    mix.first.insert((m as u32, b as u32), (q, id));
                    mix.queries += c;
                }
            }
        }
        mix
    }
}

impl Mix {
    /// The mix of an in-memory trace.
    pub fn of(t: &Trace) -> Mix {
        let mut m = MixCounter::default();
        for (q, (&md, &b)) in t.model.iter().zip(&t.batch).enumerate() {
            m.add(md, b, q, t.id_of(q));
        }
        m.finish()
    }

    /// Count one query at sorted position `q`.
    #[inline]
    pub fn add(&mut self, model: u32, batch: u32, q: usize, id: i64) {
        use std::collections::btree_map::Entry;
        match self.counts.entry((model, batch)) {
            Entry::Occupied(mut e) => *e.get_mut() += 1,
            Entry::Vacant(e) => {
                e.insert(1);
                self.first.insert((model, batch), (q, id));
            }
        }
        self.queries += 1;
    }

    /// The `p`-th percentile (nearest rank) of model `m`'s batch sizes.
    pub fn batch_percentile(&self, m: u32, p: f64) -> Option<u32> {
        let of_m = || self.counts.range((m, 0)..=(m, u32::MAX));
        let n: u64 = of_m().map(|(_, &c)| c).sum();
        if n == 0 {
            return None;
        }
        let rank = crate::stats::nearest_rank(n as usize, p) as u64;
        let mut seen = 0;
        for (&(_, b), &c) in of_m() {
            seen += c;
            if seen >= rank {
                return Some(b);
            }
        }
        None
    }
}

/// A trace file read for a streamed replay's first pass: its models, its mix, whether its rows
/// are sorted by arrival, and its last arrival (ns, before any rate scaling).
pub struct Scan {
    pub path: PathBuf,
    pub sha256: FileHash,
    pub models: Vec<String>,
    pub mix: Mix,
    pub sorted: bool,
    pub last_ns: u64,
}

impl Scan {
    /// Read `path` once, validating every cell as [`Trace::load`] does. The mix's positions are
    /// sorted positions only when the file is sorted (`sorted`).
    pub fn read(path: &Path) -> Result<Scan> {
        let mut r = TraceReader::open(path)?;
        if r.has_tokens {
            return Err(Error::file(
                path,
                "an LLM trace (prompt_tokens, output_tokens) replays on LLM replicas, in memory, not streamed: give it an LLM profile file (--profiles profiles/llm.toml, docs/llm.md)",
            ));
        }
        let mut mix = MixCounter::default();
        let mut first_row_of: Vec<usize> = Vec::new();
        let (mut sorted, mut prev, mut last_ns) = (true, 0u64, 0u64);
        while let Some(c) = r.next_chunk()? {
            for (k, ((&a, &m), &b)) in c.arrival_ns.iter().zip(&c.model).zip(&c.batch).enumerate() {
                let q = c.row0 + k;
                let id = if c.id.is_empty() { q as i64 } else { c.id[k] };
                mix.add(m, b, q, id);
                if m as usize >= first_row_of.len() {
                    first_row_of.push(q);
                }
                sorted &= a >= prev;
                prev = a;
                last_ns = last_ns.max(a);
            }
        }
        r.check_model_names(|m| first_row_of.get(m as usize).copied().unwrap_or(0))?;
        let path = r.path().to_path_buf();
        let (models, sha256) = r.finish();
        Ok(Scan {
            path,
            sha256,
            models,
            mix: mix.finish(),
            sorted,
            last_ns,
        })
    }
}
