//! Reading a column of a query result or a results file by name, cast to
//! one Rust type: what every stage does with a batch it did not build.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};

use crate::error::{Error, Result};

/// Text of a string column (Utf8, LargeUtf8 or Utf8View).
pub fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let a = batch.column_by_name(name).ok_or_else(|| Error::other("reading results", anyhow::anyhow!("no column `{name}`")))?;
    let a = arrow::compute::cast(a, &DataType::Utf8).map_err(|e| Error::other(format!("column `{name}`"), e))?;
    let s = a.as_string::<i32>();
    Ok((0..s.len()).map(|i| if s.is_null(i) { None } else { Some(s.value(i).to_string()) }).collect())
}

/// Numbers; null as NaN.
pub fn floats(batch: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    let a = batch.column_by_name(name).ok_or_else(|| Error::other("reading results", anyhow::anyhow!("no column `{name}`")))?;
    let a = arrow::compute::cast(a, &DataType::Float64).map_err(|e| Error::other(format!("column `{name}` as a number"), e))?;
    let f = a.as_primitive::<Float64Type>();
    Ok((0..f.len()).map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) }).collect())
}

/// Days since 1970-01-01.
pub fn days(batch: &RecordBatch, name: &str) -> Result<Vec<i32>> {
    let a = batch.column_by_name(name).ok_or_else(|| Error::other("reading results", anyhow::anyhow!("no column `{name}`")))?;
    let a = arrow::compute::cast(a, &DataType::Date32).map_err(|e| Error::other(format!("column `{name}` as a date"), e))?;
    let d = a.as_primitive::<arrow::datatypes::Date32Type>();
    Ok((0..d.len()).map(|i| d.value(i)).collect())
}

