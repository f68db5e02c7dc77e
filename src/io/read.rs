//! Reading Parquet inputs: opening a file with clear errors (missing, empty, not Parquet, no
//! rows), streaming its record batches, and appending typed columns with the file, the column and
//! the row named in every error.

use super::hash::{FileHash, HashState, hex};
use super::intern::Interner;
use crate::error::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An opened Parquet input: its schema, a streaming batch reader and the file's sha256 (hashed
/// on a second thread while the batches are decoded; [`ParquetInput::sha256`] waits for it).
pub struct ParquetInput {
    pub path: PathBuf,
    pub schema: SchemaRef,
    pub rows: usize,
    /// `None`: opened with [`ParquetInput::open_unhashed`].
    hash: Option<std::thread::JoinHandle<std::io::Result<String>>>,
    reader: ParquetRecordBatchReader,
    /// Rows already handed out, so errors can name the row in the whole file.
    offset: usize,
}

impl ParquetInput {
    /// Open a Parquet file. Errors name the file: missing, empty, not Parquet, no rows. The
    /// file is hashed in one streaming pass and then decoded batch by batch, never held whole.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, true)
    }

    /// Open a file whose hash is known already (a second pass over it): no hashing thread.
    pub fn open_unhashed(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, hashed: bool) -> Result<Self> {
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
        let hash = if !hashed {
            None
        } else {
            let mut h = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            Some(std::thread::spawn(move || {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let k = h.read(&mut buf)?;
                    if k == 0 {
                        return Ok(hex(&hasher.finalize()));
                    }
                    hasher.update(&buf[..k]);
                }
            }))
        };
        let (rows, schema, reader) = super::guard::contained(path, "the Parquet reader", || {
            let builder = ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;
            let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
            let schema = builder.schema().clone();
            let reader = builder
                .with_batch_size(64 * 1024)
                .build()
                .map_err(|e| Error::file(path, format!("cannot read Parquet file: {e}")))?;
            Ok((rows, schema, reader))
        })?;
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
    /// An input opened with [`ParquetInput::open`] (not [`ParquetInput::open_unhashed`]).
    pub fn sha256(self) -> FileHash {
        let hash = self
            .hash
            .expect("sha256 of an input opened without its hash");
        FileHash {
            path: self.path,
            state: Arc::new(Mutex::new(HashState::Running(hash))),
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
        let reader = &mut self.reader;
        let next = super::guard::contained(&self.path, "decoding its data", || Ok(reader.next()))?;
        match next {
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
