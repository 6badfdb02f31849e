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
    let mut w = Encoder::new(schema)?;
    for b in batches {
        w.write(b.borrow())?;
    }
    w.finish()
}

/// One file being encoded, batch by batch (from a stream).
pub struct Encoder {
    w: ArrowWriter<Vec<u8>>,
    pub rows: usize,
}

impl Encoder {
    pub fn new(schema: &SchemaRef) -> Result<Encoder> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("zstd level 3 is valid")))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("healthscore {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Encoder { w: ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).context("cannot start a parquet file")?, rows: 0 })
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        self.rows += b.num_rows();
        self.w.write(b).context("cannot encode parquet")
    }

    pub fn finish(self) -> Result<Bytes> {
        Ok(Bytes::from(self.w.into_inner().context("cannot finish a parquet file")?))
    }
}
