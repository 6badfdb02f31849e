//! From feature batches to a dense matrix: one row per (account_id, as_of),
//! one f64 column per feature (null → NaN), categorical columns as integer
//! codes of a vocabulary fixed at training time (unseen → NaN).

use std::collections::BTreeMap;

use arrow::array::RecordBatch;

use crate::columns::{days, floats, strings};
use crate::error::Result;
use crate::features::Feature;

pub type Vocab = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub account_id: Vec<String>,
    /// Snapshot date as days since 1970-01-01.
    pub as_of: Vec<i32>,
    pub names: Vec<String>,
    pub categorical: Vec<bool>,
    /// Row-major, rows × names.len().
    pub x: Vec<f64>,
    /// The `segment` column's text, when the set has one (for peers).
    pub segment: Vec<String>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.account_id.len()
    }
    pub fn width(&self) -> usize {
        self.names.len()
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.width()..(i + 1) * self.width()]
    }
    pub fn col(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    pub fn value(&self, i: usize, j: usize) -> f64 {
        self.x[i * self.width() + j]
    }

    /// Columns whose value is the same on every row (or null on every row):
    /// features that say nothing on this export.
    pub fn constant_columns(&self) -> Vec<usize> {
        let w = self.width();
        (0..w)
            .filter(|j| {
                let mut first: Option<f64> = None;
                let mut all_nan = true;
                for i in 0..self.rows() {
                    let v = self.x[i * w + j];
                    if v.is_nan() {
                        continue;
                    }
                    all_nan = false;
                    match first {
                        None => first = Some(v),
                        Some(f) if f != v => return false,
                        Some(_) => {}
                    }
                }
                // a column with values and nulls is informative (null is a value to LightGBM)
                all_nan || (0..self.rows()).all(|i| !self.x[i * w + j].is_nan())
            })
            .collect()
    }

    /// The frame without the columns `drop` (indices), e.g. features found constant.
    pub fn without(&self, drop: &[usize]) -> Frame {
        let keep: Vec<usize> = (0..self.width()).filter(|j| !drop.contains(j)).collect();
        let mut x = Vec::with_capacity(self.rows() * keep.len());
        for i in 0..self.rows() {
            let row = self.row(i);
            x.extend(keep.iter().map(|j| row[*j]));
        }
        Frame {
            account_id: self.account_id.clone(),
            as_of: self.as_of.clone(),
            names: keep.iter().map(|j| self.names[*j].clone()).collect(),
            categorical: keep.iter().map(|j| self.categorical[*j]).collect(),
            x,
            segment: self.segment.clone(),
        }
    }

    /// The rows whose index `keep` says, in order.
    pub fn select(&self, keep: &[usize]) -> Frame {
        let w = self.width();
        let mut x = Vec::with_capacity(keep.len() * w);
        for &i in keep {
            x.extend_from_slice(self.row(i));
        }
        Frame {
            account_id: keep.iter().map(|i| self.account_id[*i].clone()).collect(),
            as_of: keep.iter().map(|i| self.as_of[*i]).collect(),
            names: self.names.clone(),
            categorical: self.categorical.clone(),
            x,
            segment: if self.segment.is_empty() { vec![] } else { keep.iter().map(|i| self.segment[*i].clone()).collect() },
        }
    }
}

/// Builds the matrix. With `vocab`, categorical columns use it (scoring);
/// without, the vocabulary is every value seen, sorted (training).
pub fn build(batches: &[RecordBatch], features: &[&Feature], vocab: Option<&Vocab>) -> Result<(Frame, Vocab)> {
    let mut frame = Frame {
        names: features.iter().map(|f| f.name.clone()).collect(),
        categorical: features.iter().map(|f| f.categorical).collect(),
        ..Default::default()
    };
    let mut cat_text: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); features.len()];
    for b in batches {
        frame.account_id.extend(strings(b, "account_id")?.into_iter().map(|s| s.unwrap_or_default()));
        frame.as_of.extend(days(b, "as_of")?);
        if b.column_by_name("segment").is_some() {
            frame.segment.extend(strings(b, "segment")?.into_iter().map(|s| s.unwrap_or_default()));
        }
        for (j, f) in features.iter().enumerate() {
            if f.categorical {
                cat_text.entry(f.name.clone()).or_default().extend(strings(b, &f.name)?);
                cols[j].extend(std::iter::repeat_n(f64::NAN, b.num_rows()));
            } else {
                cols[j].extend(floats(b, &f.name)?);
            }
        }
    }
    let mut out_vocab = Vocab::new();
    for (j, f) in features.iter().enumerate() {
        if !f.categorical {
            continue;
        }
        // no batches (an empty population) leave no text at all
        let text: &[Option<String>] = cat_text.get(&f.name).map(Vec::as_slice).unwrap_or(&[]);
        let v: Vec<String> = match vocab.and_then(|v| v.get(&f.name)) {
            Some(v) => v.clone(),
            None => {
                let mut v: Vec<String> = text.iter().flatten().cloned().collect();
                v.sort();
                v.dedup();
                v
            }
        };
        for (i, t) in text.iter().enumerate() {
            cols[j][i] = t.as_ref().and_then(|t| v.binary_search(t).ok()).map(|c| c as f64).unwrap_or(f64::NAN);
        }
        out_vocab.insert(f.name.clone(), v);
    }
    let n = frame.account_id.len();
    let w = features.len();
    frame.x = vec![0.0; n * w];
    for (j, c) in cols.iter().enumerate() {
        for i in 0..n {
            frame.x[i * w + j] = c[i];
        }
    }
    Ok((frame, out_vocab))
}
