//! Writing Parquet: small files in one call ([`write_parquet`]) and large outputs streamed row
//! group by row group with per-column encodings ([`ParquetSink`]), both atomically.

use super::atomic::{AtomicFile, write_atomic_with};
use crate::error::{Error, Result};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::path::Path;

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
    let props = props(parquet_props()).build();
    write_atomic_with(path, |f| {
        let mut w =
            ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(std::io::Error::other)?;
        w.write(batch).map_err(std::io::Error::other)?;
        w.close().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// The writer properties every Parquet output starts from: Snappy pages, created by
/// mig-replay and its version.
pub fn parquet_props() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(created_by())
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
        let one = |(i, w): (usize, ArrowColumnWriter)| {
            let w = self.write_column(i, w, &build)?;
            Ok((i, w.close().map_err(|e| self.column_error(i, e))?))
        };
        if parallel {
            writers.into_par_iter().map(one).collect()
        } else {
            writers.into_iter().map(one).collect()
        }
    }

    /// Write arrays into open column writers without closing them: a row group fed in parts
    /// (each `(i, writer)` gets `build(i)`), in parallel (rayon) or on the calling thread.
    /// Close them with [`ParquetSink::close_writers`].
    pub fn feed(
        &self,
        writers: Vec<(usize, ArrowColumnWriter)>,
        parallel: bool,
        build: impl Fn(usize) -> Result<ArrayRef> + Sync,
    ) -> Result<Vec<(usize, ArrowColumnWriter)>> {
        use rayon::prelude::*;
        let one = |(i, w): (usize, ArrowColumnWriter)| Ok((i, self.write_column(i, w, &build)?));
        if parallel {
            writers.into_par_iter().map(one).collect()
        } else {
            writers.into_iter().map(one).collect()
        }
    }

    /// Close column writers fed with [`ParquetSink::feed`] into their chunks.
    pub fn close_writers(
        &self,
        writers: Vec<(usize, ArrowColumnWriter)>,
    ) -> Result<Vec<(usize, ArrowColumnChunk)>> {
        writers
            .into_iter()
            .map(|(i, w)| Ok((i, w.close().map_err(|e| self.column_error(i, e))?)))
            .collect()
    }

    /// Write column `i`'s array `build(i)` into its writer.
    fn write_column(
        &self,
        i: usize,
        mut w: ArrowColumnWriter,
        build: &(impl Fn(usize) -> Result<ArrayRef> + Sync),
    ) -> Result<ArrowColumnWriter> {
        let arr = build(i)?;
        let field = &self.schema.fields()[i];
        for leaf in compute_leaves(field, &arr).map_err(|e| self.column_error(i, e))? {
            w.write(&leaf).map_err(|e| self.column_error(i, e))?;
        }
        Ok(w)
    }

    fn column_error(&self, i: usize, e: parquet::errors::ParquetError) -> Error {
        Error::Other(format!(
            "Parquet, column {}: {e}",
            self.schema.fields()[i].name()
        ))
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
