//! The one Parquet encoder: zstd, statistics on, fixed row-group size, and no
//! wall-clock or host value in the file, so equal batches give equal bytes.

use std::borrow::Borrow;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Context, Result};

pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Encodes `batches` into one file; they are written as they come, so a
/// large table can be produced a slice at a time.
pub fn encode<B: Borrow<RecordBatch>>(schema: &SchemaRef, batches: impl IntoIterator<Item = B>) -> Result<Bytes> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("zstd level 3 is valid")))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("healthscore {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props)).context("cannot start a parquet file")?;
    for b in batches {
        w.write(b.borrow()).context("cannot encode parquet")?;
    }
    w.close().context("cannot finish a parquet file")?;
    Ok(Bytes::from(buf))
}
