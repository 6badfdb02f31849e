//! The results tables, one file each. A table's file is the only place that
//! knows its name, its partition key, its columns (names as constants, types,
//! and the sentence that documents each) and how rows become an Arrow batch.
//! Producers hand it rows; readers name columns by its constants.
//!
//! ```text
//!  producer (score, train, sync, …)      tables/<table>.rs                 Output
//!    rows: Vec<table::Row> ───────────▶  table::batch(&rows) ─ RecordBatch ─▶ stage(TABLE, partition, …)
//!                                         TABLE: name, partition, columns      └▶ publish (atomic)
//! ```
//!
//! To add a table (`renewal_forecast`, `feature_drift`): one file
//! here with its `TABLE`, `Row` and `batch`, and a line in `ALL`.

pub mod account_scores;
pub mod alerts;
pub mod backtest;
pub mod effectiveness;
pub mod feature_drift;
pub mod features;
pub mod model_metrics;
pub mod renewal_forecast;
pub mod renewal_forecast_rollup;
pub mod score_drivers;
pub mod sync_log;
pub mod sync_rejections;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// Every results table, for generated docs and the checks that read sources.
pub const ALL: &[&Table] = &[
    &account_scores::TABLE,
    &score_drivers::TABLE,
    &alerts::TABLE,
    &renewal_forecast::TABLE,
    &renewal_forecast_rollup::TABLE,
    &feature_drift::TABLE,
    &model_metrics::TABLE,
    &backtest::TABLE,
    &effectiveness::TABLE,
    &features::TABLE,
    &sync_log::TABLE,
    &sync_rejections::TABLE,
];

/// A column's logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Float,
    Int,
    Count,
    Bool,
    Date,
    /// A list of texts (reasons).
    TextList,
}

impl Type {
    pub fn data_type(self) -> DataType {
        match self {
            Type::Text => DataType::Utf8,
            Type::Float => DataType::Float64,
            Type::Int => DataType::Int64,
            Type::Count => DataType::UInt64,
            Type::Bool => DataType::Boolean,
            Type::Date => DataType::Date32,
            Type::TextList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }
}

/// One column: its name (`{h}` stands for each churn horizon, `{e}` for the
/// expansion horizon), type, whether it may be null, and what it means.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
    pub doc: &'static str,
}

pub(crate) const fn col(name: &'static str, ty: Type, nullable: bool, doc: &'static str) -> Column {
    Column { name, ty, nullable, doc }
}

/// A results table: `<output>/<name>/<partition>=<value>/part-0.parquet`.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The partition key (`as_of`, `run_id`, `model_version`).
    pub partition: &'static str,
    pub doc: &'static str,
    pub columns: &'static [Column],
}

impl Table {
    /// The folder name of one partition: `as_of=2026-11-01`.
    pub fn partition(&self, value: impl std::fmt::Display) -> String {
        format!("{}={value}", self.partition)
    }

    /// The partition value of a folder name this table wrote.
    pub fn partition_value<'a>(&self, folder: &'a str) -> Option<&'a str> {
        folder.strip_prefix(self.partition)?.strip_prefix('=')
    }

    /// The date of an `as_of=YYYY-MM-DD` folder (None for other folders).
    pub fn partition_date(&self, folder: &str) -> Option<chrono::NaiveDate> {
        self.partition_value(folder).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    }

    /// Column names, templates expanded for `horizons` and `expansion`.
    pub fn column_names(&self, horizons: &[u32], expansion: u32) -> Vec<String> {
        self.expanded(horizons, expansion).into_iter().map(|(n, _)| n).collect()
    }

    /// Each column by its name, templates expanded (a `{h}` column once per horizon).
    pub fn expanded(&self, horizons: &[u32], expansion: u32) -> Vec<(String, &Column)> {
        let mut out = Vec::new();
        for c in self.columns {
            if c.name.contains("{h}") {
                out.extend(horizons.iter().map(|h| (c.name.replace("{h}", &h.to_string()), c)));
            } else {
                out.push((c.name.replace("{e}", &expansion.to_string()), c));
            }
        }
        out
    }

    /// The Arrow schema, templates expanded.
    pub fn schema_for(&self, horizons: &[u32], expansion: u32) -> SchemaRef {
        Arc::new(Schema::new(self.expanded(horizons, expansion).into_iter().map(|(n, c)| Field::new(n, c.ty.data_type(), c.nullable)).collect::<Vec<_>>()))
    }

    /// The Arrow schema of a table without templated columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema_for(&[], 0)
    }

    /// The column called `name`, a templated one included (`p_churn_90d`).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns.iter().find(|c| {
                let (Some(open), Some(close)) = (c.name.find('{'), c.name.find('}')) else { return false };
                let (pre, post) = (&c.name[..open], &c.name[close + 1..]);
                name.len() > pre.len() + post.len()
                    && name.starts_with(pre)
                    && name.ends_with(post)
                    && name[pre.len()..name.len() - post.len()].bytes().all(|b| b.is_ascii_digit())
            })
        })
    }
}

// ---- column builders, shared by the table files -----------------------------

pub(crate) fn texts<R>(rows: &[R], f: impl Fn(&R) -> Option<String>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

/// Numbers; a non-finite value is stored as null.
pub(crate) fn floats<R>(rows: &[R], f: impl Fn(&R) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(|r| f(r).filter(|v| v.is_finite())).collect::<Float64Array>())
}

pub(crate) fn ints<R>(rows: &[R], f: impl Fn(&R) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

pub(crate) fn counts<R>(rows: &[R], f: impl Fn(&R) -> usize) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r) as u64)).collect::<UInt64Array>())
}

pub(crate) fn bools<R>(rows: &[R], f: impl Fn(&R) -> bool) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>())
}

/// Days since 1970-01-01.
pub(crate) fn dates<R>(rows: &[R], f: impl Fn(&R) -> Option<i32>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Date32Array>())
}

pub(crate) fn text_lists<R>(rows: &[R], f: impl Fn(&R) -> Vec<&str>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for t in f(r) {
            b.values().append_value(t);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Builds a batch column by column: `col` returns each column's array by
/// name, so schema and arrays cannot drift apart.
pub(crate) fn build(table: &Table, horizons: &[u32], expansion: u32, col: impl Fn(&str, &str) -> Option<ArrayRef>) -> crate::error::Result<arrow::array::RecordBatch> {
    let schema = table.schema_for(horizons, expansion);
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for (name, c) in table.expanded(horizons, expansion) {
        let a = col(c.name, &name).unwrap_or_else(|| panic!("table `{}` has no builder for column `{}`", table.name, c.name));
        arrays.push(a);
    }
    arrow::array::RecordBatch::try_new(schema, arrays).map_err(|e| crate::error::Error::other(format!("building `{}`", table.name), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_documented_and_unique() {
        for t in ALL {
            let mut seen = std::collections::BTreeSet::new();
            for c in t.columns {
                assert!(seen.insert(c.name), "{}: `{}` twice", t.name, c.name);
                assert!(c.doc.len() > 10 && c.doc.ends_with('.'), "{}: `{}` needs a sentence", t.name, c.name);
            }
            assert!(!t.doc.is_empty(), "{} needs a description", t.name);
        }
    }

    #[test]
    fn templates_expand_per_horizon() {
        let names = account_scores::TABLE.column_names(&[30, 90], 60);
        assert!(names.contains(&"p_churn_30d".to_string()) && names.contains(&"p_churn_90d".to_string()));
        assert!(names.contains(&"p_expand_60d".to_string()));
        assert!(!names.iter().any(|n| n.contains('{')));
    }

    #[test]
    fn templated_columns_are_found_by_their_expanded_name() {
        let t = &account_scores::TABLE;
        assert_eq!(t.column("p_churn_90d").map(|c| c.name), Some(account_scores::P_CHURN));
        assert_eq!(t.column("p_expand_30d").map(|c| c.name), Some(account_scores::P_EXPAND));
        assert_eq!(t.column("tier").map(|c| c.name), Some(account_scores::TIER));
        assert!(t.column("p_churn_d").is_none() && t.column("p_churn_xd").is_none() && t.column("nope").is_none());
    }

    #[test]
    fn partitions_name_and_parse() {
        let t = &account_scores::TABLE;
        assert_eq!(t.partition("2026-11-01"), "as_of=2026-11-01");
        assert_eq!(t.partition_value("as_of=2026-11-01"), Some("2026-11-01"));
        assert_eq!(t.partition_value("run_id=x"), None);
    }
}
