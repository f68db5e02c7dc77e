//! CSV input through arrow's CSV reader, with the same error discipline as the Parquet loaders:
//! every error names the file, the column and the line. Every column is read as text and parsed
//! here, so a bad cell is reported precisely instead of turning into a silent null. Empty cells
//! read as missing.

use crate::error::{Error, Result};
use arrow_array::RecordBatch;
use arrow_array::{Array, StringArray};
use arrow_csv::ReaderBuilder;
use arrow_csv::reader::Format;
use arrow_schema::{DataType, Field, Schema};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A CSV file read into memory as text columns.
pub struct CsvTable {
    pub path: PathBuf,
    names: Vec<String>,
    columns: Vec<StringArray>,
    rows: usize,
}

/// The CSV line of 0-based data row `r` (line 1 is the header).
fn line(r: usize) -> String {
    format!("line {}", r + 2)
}

fn cell_err(path: &Path, column: &str, r: usize, msg: String) -> Error {
    Error::Input {
        file: path.to_path_buf(),
        column: Some(column.to_string()),
        row: None,
        message: format!("{}: {msg}", line(r)),
    }
}

impl CsvTable {
    /// Read a CSV file with a header row.
    pub fn read(path: &Path) -> Result<CsvTable> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Err(Error::file(
                path,
                "file is empty; expected a CSV file with a header row",
            ));
        }
        let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
        let bad = |e: arrow_schema::ArrowError| Error::file(path, format!("cannot parse CSV: {e}"));
        // The header gives the column names; every column is then read as text.
        let (header, _) = Format::default()
            .with_header(true)
            .infer_schema(open()?, Some(0))
            .map_err(bad)?;
        let names: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let reader = ReaderBuilder::new(schema.clone())
            .with_header(true)
            .with_batch_size(64 * 1024)
            .build(std::io::BufReader::new(open()?))
            .map_err(bad)?;
        let batches = reader
            .collect::<std::result::Result<Vec<RecordBatch>, _>>()
            .map_err(bad)?;
        let all = arrow_select::concat::concat_batches(&schema, &batches).map_err(bad)?;
        if all.num_rows() == 0 {
            return Err(Error::file(path, "CSV has a header but no rows"));
        }
        let columns = all
            .columns()
            .iter()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .expect("every column is read as Utf8")
                    .clone()
            })
            .collect();
        Ok(CsvTable {
            path: path.to_path_buf(),
            names,
            columns,
            rows: all.num_rows(),
        })
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no rows (never true after [`CsvTable::read`]).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the CSV has this column.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn text(&self, name: &str) -> Result<&StringArray> {
        match self.names.iter().position(|n| n == name) {
            Some(k) => Ok(&self.columns[k]),
            None => Err(Error::column(
                &self.path,
                name,
                format!("missing column (found columns: {})", self.names.join(", ")),
            )),
        }
    }

    /// A text column; empty cells are errors.
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        self.text(name)?
            .iter()
            .enumerate()
            .map(|(r, v)| match v.map(str::trim) {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => Err(cell_err(
                    &self.path,
                    name,
                    r,
                    "empty cell; expected a value".into(),
                )),
            })
            .collect()
    }

    /// A numeric column; empty or unparsable cells are errors.
    pub fn floats(&self, name: &str) -> Result<Vec<f64>> {
        self.text(name)?
            .iter()
            .enumerate()
            .map(|(r, v)| {
                let s = v.map(str::trim).unwrap_or("");
                number(s).ok_or_else(|| {
                    cell_err(
                        &self.path,
                        name,
                        r,
                        format!("'{s}' is not a number; expected a finite number"),
                    )
                })
            })
            .collect()
    }

    /// A numeric column whose values must all be > 0.
    pub fn positive_floats(&self, name: &str) -> Result<Vec<f64>> {
        let v = self.floats(name)?;
        match v.iter().position(|&x| x <= 0.0) {
            Some(r) => Err(cell_err(
                &self.path,
                name,
                r,
                format!("value {}; expected a number > 0", v[r]),
            )),
            None => Ok(v),
        }
    }

    /// A text column whose empty cells are `None`.
    pub fn optional_strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        Ok(self
            .text(name)?
            .iter()
            .map(|v| v.map(str::trim).filter(|s| !s.is_empty()).map(String::from))
            .collect())
    }

    /// A numeric column whose empty cells are `None`; unparsable cells are errors.
    pub fn optional_floats(&self, name: &str) -> Result<Vec<Option<f64>>> {
        self.text(name)?
            .iter()
            .enumerate()
            .map(|(r, v)| match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => number(s).map(Some).ok_or_else(|| {
                    cell_err(
                        &self.path,
                        name,
                        r,
                        format!("'{s}' is not a number; expected a finite number or an empty cell"),
                    )
                }),
            })
            .collect()
    }

    /// An integer column (`4` or `4.0`); empty, fractional or unparsable cells are errors.
    pub fn ints(&self, name: &str) -> Result<Vec<i64>> {
        let f = self.floats(name)?;
        f.into_iter()
            .enumerate()
            .map(|(r, x)| {
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    Ok(x as i64)
                } else {
                    Err(cell_err(
                        &self.path,
                        name,
                        r,
                        format!("{x} is not an integer; expected an integer"),
                    ))
                }
            })
            .collect()
    }

    /// An integer column whose values must all be >= `min`.
    pub fn ints_at_least(&self, name: &str, min: i64) -> Result<Vec<i64>> {
        let v = self.ints(name)?;
        match v.iter().position(|&x| x < min) {
            Some(r) => Err(cell_err(
                &self.path,
                name,
                r,
                format!("value {}; expected an integer >= {min}", v[r]),
            )),
            None => Ok(v),
        }
    }

    /// A batch-size column: integers in [1, 2^32 - 1].
    pub fn batches(&self, name: &str) -> Result<Vec<u32>> {
        let v = self.ints_at_least(name, 1)?;
        v.iter()
            .enumerate()
            .map(|(r, &x)| {
                u32::try_from(x).map_err(|_| {
                    cell_err(
                        &self.path,
                        name,
                        r,
                        format!("value {x} is too large for a batch"),
                    )
                })
            })
            .collect()
    }

    /// A timestamp column `YYYY-MM-DD HH:MM:SS[.fraction]` as microseconds since 1970-01-01 (UTC
    /// is assumed; only differences are used).
    pub fn timestamps_us(&self, name: &str) -> Result<Vec<i64>> {
        self.text(name)?
            .iter()
            .enumerate()
            .map(|(r, v)| {
                let s = v.map(str::trim).unwrap_or("");
                parse_datetime_us(s).ok_or_else(|| {
                    cell_err(
                        &self.path,
                        name,
                        r,
                        format!(
                            "'{s}' is not a timestamp; expected YYYY-MM-DD HH:MM:SS[.fraction]"
                        ),
                    )
                })
            })
            .collect()
    }
}

/// A finite number, or `None`.
fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Parse `YYYY-MM-DD HH:MM:SS[.fraction]` (or with a `T`) to microseconds since the Unix epoch.
pub fn parse_datetime_us(s: &str) -> Option<i64> {
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, dd): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hh, mi, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || hh > 23 || mi > 59 || ss > 60 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Fraction to microseconds, rounded to nearest.
    let mut digits: Vec<i64> = frac.chars().map(|c| c as i64 - '0' as i64).collect();
    digits.resize(7, 0);
    let us = digits[..6].iter().fold(0, |a, &x| a * 10 + x) + if digits[6] >= 5 { 1 } else { 0 };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mi * 60 + ss) * 1_000_000) + us)
}

#[cfg(test)]
mod tests {
    use super::parse_datetime_us;

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime_us("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_datetime_us("1970-01-02 00:00:01.5"),
            Some(86_401_500_000)
        );
        // 7 fractional digits (Azure) round to the microsecond.
        assert_eq!(
            parse_datetime_us("2023-11-16 18:17:03.9799606").unwrap()
                - parse_datetime_us("2023-11-16 18:17:03").unwrap(),
            979_961
        );
        assert_eq!(
            parse_datetime_us("2024-03-01 00:00:00").unwrap()
                - parse_datetime_us("2024-02-28 00:00:00").unwrap(),
            2 * 86_400_000_000
        );
        assert_eq!(parse_datetime_us("2024-13-01 00:00:00"), None);
        assert_eq!(parse_datetime_us("yesterday"), None);
    }
}
