//! Input/output helpers: opening Parquet files with clear errors, reading typed columns row by
//! row with file/column/row in every error, hashing inputs, and atomic (temp + rename) writes.

use crate::error::{Error, Result};
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An opened Parquet input: its schema, a streaming batch reader and the file's sha256 (hashed
/// on a second thread while the batches are decoded; [`ParquetInput::sha256`] waits for it).
pub struct ParquetInput {
    pub path: PathBuf,
    pub schema: SchemaRef,
    pub rows: usize,
    hash: std::thread::JoinHandle<std::io::Result<String>>,
    reader: ParquetRecordBatchReader,
    /// Rows already handed out, so errors can name the row in the whole file.
    offset: usize,
}

/// The sha256 of an input file, computed on a background thread and waited for on first
/// read. Clones share the result.
#[derive(Debug, Clone, Default)]
pub struct FileHash {
    path: PathBuf,
    state: Arc<Mutex<HashState>>,
}

#[derive(Debug, Default)]
enum HashState {
    #[default]
    None,
    Running(std::thread::JoinHandle<std::io::Result<String>>),
    Done(String),
}

impl FileHash {
    /// The hex sha256 (empty for data that did not come from a file).
    pub fn get(&self) -> Result<String> {
        let mut st = self.state.lock().expect("not poisoned");
        if let HashState::Running(_) = &*st {
            let HashState::Running(h) = std::mem::take(&mut *st) else {
                unreachable!()
            };
            let hex = h
                .join()
                .map_err(|_| Error::Other("the hashing thread panicked".into()))?
                .map_err(|e| Error::io(&self.path, e))?;
            *st = HashState::Done(hex);
        }
        Ok(match &*st {
            HashState::Done(h) => h.clone(),
            _ => String::new(),
        })
    }
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl ParquetInput {
    /// Open a Parquet file. Errors name the file: missing, empty, not Parquet, no rows. The
    /// file is hashed in one streaming pass and then decoded batch by batch, never held whole.
    pub fn open(path: &Path) -> Result<Self> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Err(Error::file(path, "file is empty; expected a Parquet file"));
        }
        let mut head = [0u8; 4];
        let mut tail = [0u8; 4];
        let magic_ok = len >= 12
            && f.read_exact(&mut head).is_ok()
            && f.seek(SeekFrom::End(-4)).is_ok()
            && f.read_exact(&mut tail).is_ok()
            && &head == b"PAR1"
            && &tail == b"PAR1";
        if !magic_ok {
            return Err(Error::file(
                path,
                "not a Parquet file (no PAR1 magic bytes); expected a Parquet file",
            ));
        }
        let hash = {
            let mut h = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            std::thread::spawn(move || {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let k = h.read(&mut buf)?;
                    if k == 0 {
                        return Ok(hex(&hasher.finalize()));
                    }
                    hasher.update(&buf[..k]);
                }
            })
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(f)
            .map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
        let schema = builder.schema().clone();
        let reader = builder
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| Error::file(path, format!("cannot read Parquet file: {e}")))?;
        if rows == 0 {
            return Err(Error::file(path, "file has no rows"));
        }
        Ok(ParquetInput {
            path: path.to_path_buf(),
            schema,
            rows,
            hash,
            reader,
            offset: 0,
        })
    }

    /// The file's sha256, still being computed on its own thread: read it with
    /// [`FileHash::get`] when it is needed (for the report), so hashing overlaps the replay.
    pub fn sha256(self) -> FileHash {
        FileHash {
            path: self.path,
            state: Arc::new(Mutex::new(HashState::Running(self.hash))),
        }
    }

    /// Fail with a clear message if a required column is absent.
    pub fn require(&self, column: &str, expected: &str) -> Result<()> {
        if self.schema.field_with_name(column).is_err() {
            let found: Vec<_> = self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(Error::column(
                &self.path,
                column,
                format!(
                    "missing column; expected {expected} (found columns: {})",
                    found.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Whether the file has a column of this name.
    pub fn has(&self, column: &str) -> bool {
        self.schema.field_with_name(column).is_ok()
    }

    /// The next record batch and the file row of its first row.
    pub fn next_batch(&mut self) -> Result<Option<(RecordBatch, usize)>> {
        match self.reader.next() {
            None => Ok(None),
            Some(Err(e)) => Err(Error::file(
                &self.path,
                format!("cannot decode Parquet data: {e}"),
            )),
            Some(Ok(b)) => {
                let off = self.offset;
                self.offset += b.num_rows();
                Ok(Some((b, off)))
            }
        }
    }
}

/// Column `name` of a batch (the caller has checked it exists).
pub fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch
        .column_by_name(name)
        .expect("column presence checked at open")
}

fn first_null(arr: &dyn Array) -> Option<usize> {
    if arr.null_count() == 0 {
        return None;
    }
    (0..arr.len()).find(|&i| arr.is_null(i))
}

/// Append an integer column (any signed or unsigned width) as i64.
pub fn append_ints(
    arr: &ArrayRef,
    file: &Path,
    column: &str,
    row0: usize,
    out: &mut Vec<i64>,
) -> Result<()> {
    if let Some(i) = first_null(arr.as_ref()) {
        return Err(Error::cell(
            file,
            column,
            row0 + i,
            "null value; expected an integer",
        ));
    }
    macro_rules! ext {
        ($t:ty) => {{
            out.extend(arr.as_primitive::<$t>().values().iter().map(|&v| v as i64));
        }};
    }
    use arrow_array::types::*;
    use arrow_schema::DataType;
    match arr.data_type() {
        DataType::Int64 => out.extend_from_slice(arr.as_primitive::<Int64Type>().values()),
        DataType::Int32 => ext!(Int32Type),
        DataType::Int16 => ext!(Int16Type),
        DataType::Int8 => ext!(Int8Type),
        DataType::UInt32 => ext!(UInt32Type),
        DataType::UInt16 => ext!(UInt16Type),
        DataType::UInt8 => ext!(UInt8Type),
        DataType::UInt64 => {
            for (i, &v) in arr.as_primitive::<UInt64Type>().values().iter().enumerate() {
                if v > i64::MAX as u64 {
                    return Err(Error::cell(
                        file,
                        column,
                        row0 + i,
                        format!("value {v} is too large"),
                    ));
                }
                out.push(v as i64);
            }
        }
        other => {
            return Err(Error::column(
                file,
                column,
                format!("wrong type {other}; expected an integer column (int64, int32, ...)"),
            ));
        }
    }
    Ok(())
}

/// Append a floating-point column (float64, float32 or integer) as f64.
pub fn append_floats(
    arr: &ArrayRef,
    file: &Path,
    column: &str,
    row0: usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    if let Some(i) = first_null(arr.as_ref()) {
        return Err(Error::cell(
            file,
            column,
            row0 + i,
            "null value; expected a number",
        ));
    }
    use arrow_array::types::*;
    use arrow_schema::DataType;
    match arr.data_type() {
        DataType::Float64 => out.extend_from_slice(arr.as_primitive::<Float64Type>().values()),
        DataType::Float32 => out.extend(
            arr.as_primitive::<Float32Type>()
                .values()
                .iter()
                .map(|&v| v as f64),
        ),
        t if t.is_integer() => {
            let mut tmp = Vec::with_capacity(arr.len());
            append_ints(arr, file, column, row0, &mut tmp)?;
            out.extend(tmp.into_iter().map(|v| v as f64));
        }
        other => {
            return Err(Error::column(
                file,
                column,
                format!("wrong type {other}; expected a float64 column"),
            ));
        }
    }
    Ok(())
}

/// The stable order that sorts `keys`, or `None` when they are already sorted. Apply it to
/// each parallel column with [`permuted`].
pub fn sort_order<K: Ord>(keys: &[K]) -> Option<Vec<u32>> {
    if keys.is_sorted() {
        return None;
    }
    let mut idx: Vec<u32> = (0..keys.len() as u32).collect();
    idx.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    Some(idx)
}

/// `v` reordered by `order` (from [`sort_order`]).
pub fn permuted<T: Copy>(v: &[T], order: &[u32]) -> Vec<T> {
    order.iter().map(|&i| v[i as usize]).collect()
}

/// Interns strings to dense ids in order of first appearance.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    pub names: Vec<String>,
    map: HashMap<String, u32>,
}

impl Interner {
    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.map.insert(s.to_string(), i);
        i
    }

    /// The id of `s`, if known.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
}

/// Append a string column (utf8, large utf8, utf8 view or dictionary of those) as interned ids.
pub fn append_strings(
    arr: &ArrayRef,
    file: &Path,
    column: &str,
    row0: usize,
    interner: &mut Interner,
    out: &mut Vec<u32>,
) -> Result<()> {
    if let Some(i) = first_null(arr.as_ref()) {
        return Err(Error::cell(
            file,
            column,
            row0 + i,
            "null value; expected a string",
        ));
    }
    let wrong = |t: &DataType| {
        Error::column(
            file,
            column,
            format!("wrong type {t}; expected a string column"),
        )
    };
    match arr.data_type() {
        DataType::Dictionary(_, v) => {
            if !matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                return Err(wrong(arr.data_type()));
            }
            let dict = arr.as_any_dictionary();
            if dict.keys().is_empty() {
                return Ok(());
            }
            // Intern each distinct value once, then map the keys: no per-row string work.
            let values = dict.values();
            fn intern_all<'a>(
                interner: &mut Interner,
                n: usize,
                get: impl Fn(usize) -> Option<&'a str>,
            ) -> Vec<u32> {
                (0..n)
                    .map(|i| get(i).map_or(u32::MAX, |v| interner.intern(v)))
                    .collect()
            }
            let n = values.len();
            let ids: Vec<u32> = match values.data_type() {
                DataType::Utf8 => {
                    let a = values.as_string::<i32>();
                    intern_all(interner, n, |i| a.is_valid(i).then(|| a.value(i)))
                }
                DataType::LargeUtf8 => {
                    let a = values.as_string::<i64>();
                    intern_all(interner, n, |i| a.is_valid(i).then(|| a.value(i)))
                }
                _ => {
                    let a = values.as_string_view();
                    intern_all(interner, n, |i| a.is_valid(i).then(|| a.value(i)))
                }
            };
            // Keys of any integer width, as positions into `values` (nulls were rejected above).
            for (i, k) in dict.normalized_keys().into_iter().enumerate() {
                let id = ids[k];
                if id == u32::MAX {
                    return Err(Error::cell(
                        file,
                        column,
                        row0 + i,
                        "null value; expected a string",
                    ));
                }
                out.push(id);
            }
        }
        DataType::Utf8 => out.extend(
            arr.as_string::<i32>()
                .iter()
                .map(|s| interner.intern(s.unwrap_or(""))),
        ),
        DataType::LargeUtf8 => out.extend(
            arr.as_string::<i64>()
                .iter()
                .map(|s| interner.intern(s.unwrap_or(""))),
        ),
        DataType::Utf8View => out.extend(
            arr.as_string_view()
                .iter()
                .map(|s| interner.intern(s.unwrap_or(""))),
        ),
        other => return Err(wrong(other)),
    }
    Ok(())
}

/// A file written under a temporary name in its destination folder and renamed into place by
/// [`AtomicFile::commit`]; dropped uncommitted, the temporary file is removed. Readers never see
/// a half-written output.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl AtomicFile {
    /// Create the temporary file next to `path` (creating the folder if needed).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file.as_mut().expect("open until commit")
    }

    /// A second handle to the temporary file (for writers that take ownership).
    pub fn try_clone(&self) -> Result<std::fs::File> {
        self.file
            .as_ref()
            .expect("open until commit")
            .try_clone()
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Flush to disk and rename into place.
    pub fn commit(mut self) -> Result<()> {
        let f = self.file.take().expect("open until commit");
        f.sync_all().map_err(|e| Error::io(&self.path, e))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| {
        use std::io::Write;
        f.write_all(bytes)
    })
}

/// Write to `path` atomically through a closure that fills a temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let mut a = AtomicFile::create(path)?;
    fill(a.file()).map_err(|e| Error::io(path, e))?;
    a.commit()
}

/// Write one record batch as a Parquet file (snappy, the parquet crate's default encodings),
/// atomically. Used for the small files whose bytes are part of the product (the shipped
/// profiles rebuild byte-identical through it) and, with per-column encodings
/// ([`write_parquet_with`]), for traces; large outputs go through [`ParquetSink`].
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    write_parquet_with(path, batch, |b| b)
}

/// [`write_parquet`] with per-column settings on top of its defaults (Snappy, the parquet
/// crate's encodings).
pub fn write_parquet_with(
    path: &Path,
    batch: &RecordBatch,
    props: impl FnOnce(WriterPropertiesBuilder) -> WriterPropertiesBuilder,
) -> Result<()> {
    let props = props(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(created_by()),
    )
    .build();
    write_atomic_with(path, |f| {
        let mut w =
            ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(std::io::Error::other)?;
        w.write(batch).map_err(std::io::Error::other)?;
        w.close().map_err(std::io::Error::other)?;
        Ok(())
    })
}

fn created_by() -> String {
    format!("mig-replay {}", env!("CARGO_PKG_VERSION"))
}

/// How [`ParquetSink`] encodes a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnEncoding {
    /// Dictionary + RLE: for dictionary-typed string columns with few distinct values.
    Dictionary,
    /// DELTA_BINARY_PACKED: for integer columns (ids, batches, instance numbers).
    Delta,
    /// PLAIN: for float columns, where a dictionary would only be tried and abandoned.
    Plain,
}

/// How [`ParquetSink`] compresses a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    None,
    Lz4,
}

/// A streaming Parquet writer for large outputs: row group after row group, each column's chunk
/// encoded on its own (in parallel or on another thread, see [`ParquetSink::encode`]), the
/// encodings chosen per column, written to a temporary file and renamed into place by
/// [`ParquetSink::finish`]. Memory is bounded by the row groups being encoded.
pub struct ParquetSink {
    file: AtomicFile,
    writer: SerializedFileWriter<std::io::BufWriter<std::fs::File>>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Row groups whose column writers were handed out.
    row_groups_started: usize,
}

impl ParquetSink {
    /// Open `path` for writing `schema`, with one encoding and one compression per column (in
    /// schema order).
    pub fn create(
        path: &Path,
        schema: SchemaRef,
        encodings: &[ColumnEncoding],
        compression: &[Compress],
    ) -> Result<ParquetSink> {
        assert_eq!(encodings.len(), schema.fields().len());
        assert_eq!(compression.len(), schema.fields().len());
        let mut b = WriterProperties::builder()
            .set_created_by(created_by())
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::Chunk);
        for ((f, e), z) in schema.fields().iter().zip(encodings).zip(compression) {
            let c = ColumnPath::from(f.name().as_str());
            b = b.set_column_compression(
                c.clone(),
                match z {
                    Compress::None => Compression::UNCOMPRESSED,
                    Compress::Lz4 => Compression::LZ4_RAW,
                },
            );
            b = match e {
                // No min/max statistics on dictionary strings: computing them compares every
                // row's string (a tenth of the column's encoding time) for a range that a
                // handful of names makes useless for pruning.
                ColumnEncoding::Dictionary => b
                    .set_column_dictionary_enabled(c.clone(), true)
                    .set_column_statistics_enabled(c, EnabledStatistics::None),
                ColumnEncoding::Delta => b.set_column_encoding(c, Encoding::DELTA_BINARY_PACKED),
                ColumnEncoding::Plain => b.set_column_encoding(c, Encoding::PLAIN),
            };
        }
        let file = AtomicFile::create(path)?;
        let w = std::io::BufWriter::with_capacity(1 << 20, file.try_clone()?);
        let bad = |e: parquet::errors::ParquetError| Error::file(path, e.to_string());
        // ArrowWriter embeds the Arrow schema (so readers get the dictionary types back); its
        // lower-level halves then let the columns of a row group be encoded in parallel.
        let (writer, factory) = ArrowWriter::try_new(w, schema.clone(), Some(b.build()))
            .and_then(|aw| aw.into_serialized_writer())
            .map_err(bad)?;
        Ok(ParquetSink {
            file,
            writer,
            factory,
            schema,
            row_groups_started: 0,
        })
    }

    /// The column writers of the next row group, in schema order. Encode them with
    /// [`ParquetSink::encode`] (all at once or in parts, on any thread) and hand every chunk
    /// to [`ParquetSink::append`].
    pub fn row_group_writers(&mut self) -> Result<Vec<ArrowColumnWriter>> {
        let w = self
            .factory
            .create_column_writers(self.row_groups_started)
            .map_err(|e| Error::Other(format!("Parquet: {e}")))?;
        self.row_groups_started += 1;
        Ok(w)
    }

    /// Encode columns, in parallel (rayon) or one after the other on the calling thread:
    /// each `(i, writer)` gets the array `build(i)`, built by the thread that encodes it. Flat
    /// schemas only: one leaf per field.
    pub fn encode(
        &self,
        writers: Vec<(usize, ArrowColumnWriter)>,
        parallel: bool,
        build: impl Fn(usize) -> Result<ArrayRef> + Sync,
    ) -> Result<Vec<(usize, ArrowColumnChunk)>> {
        use rayon::prelude::*;
        let fields = self.schema.fields();
        let one = |(i, mut w): (usize, ArrowColumnWriter)| {
            let arr = build(i)?;
            let bad = |e: parquet::errors::ParquetError| {
                Error::Other(format!("Parquet, column {}: {e}", fields[i].name()))
            };
            for leaf in compute_leaves(&fields[i], &arr).map_err(bad)? {
                w.write(&leaf).map_err(bad)?;
            }
            Ok((i, w.close().map_err(bad)?))
        };
        if parallel {
            writers.into_par_iter().map(one).collect()
        } else {
            writers.into_iter().map(one).collect()
        }
    }

    /// Append one row group from the chunks of every column (any order).
    pub fn append(&mut self, mut chunks: Vec<(usize, ArrowColumnChunk)>) -> Result<()> {
        let bad = |e: parquet::errors::ParquetError| Error::Other(format!("Parquet: {e}"));
        chunks.sort_by_key(|c| c.0);
        if chunks.iter().map(|c| c.0).ne(0..self.schema.fields().len()) {
            return Err(Error::Other(
                "Parquet: a row group needs exactly one chunk per column".into(),
            ));
        }
        let mut rg = self.writer.next_row_group().map_err(bad)?;
        for (_, c) in chunks {
            c.append_to_row_group(&mut rg).map_err(bad)?;
        }
        rg.close().map_err(bad)?;
        Ok(())
    }

    /// Write the footer and rename the file into place.
    pub fn finish(self) -> Result<()> {
        let ParquetSink { file, writer, .. } = self;
        let mut inner = writer
            .into_inner()
            .map_err(|e| Error::Other(format!("Parquet: {e}")))?;
        use std::io::Write;
        inner.flush().map_err(|e| Error::io(&file.path, e))?;
        drop(inner);
        file.commit()
    }
}
