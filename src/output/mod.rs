//! Results tables and run records under the output location.

pub mod parquet;
