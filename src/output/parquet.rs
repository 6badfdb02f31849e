//! The one Parquet encoder: zstd, statistics on, fixed row-group size, and no
//! wall-clock or host value in the file, so equal batches give equal bytes.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Context, Result};

pub const ROW_GROUP_ROWS: usize = 128 * 1024;

pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("zstd level 3 is valid")))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("healthscore {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props)).context("cannot start a parquet file")?;
    for b in batches {
        w.write(b).context("cannot encode parquet")?;
    }
    w.close().context("cannot finish a parquet file")?;
    Ok(Bytes::from(buf))
}
