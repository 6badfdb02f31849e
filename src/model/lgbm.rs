//! LightGBM training through the C API, with dataset parameters.
//!
//! lightgbm3's `Dataset` constructors pass an empty parameter string to
//! `LGBM_DatasetCreateFromMat`, and dataset parameters (`categorical_feature`,
//! `max_bin`, …) only take effect there, so categorical columns would be
//! binned as numbers. Datasets are built here with the full parameter string
//! (the validation set referencing the training set's bins), the boosting
//! loop and early stopping run here, and the model is saved at its best
//! iteration. Prediction goes through lightgbm3's `Booster`. Every FFI return
//! code passes through `check`.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_void};

use lightgbm3_sys as sys;

use crate::error::{Error, Result};

fn check(code: i32, what: &str) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LightGBM returns a pointer to a thread-local, NUL-terminated message.
    let msg = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }.to_string_lossy().into_owned();
    Err(Error::other(format!("lightgbm: {what}"), anyhow::anyhow!(msg)))
}

/// LightGBM parameters, rendered as `key=value` pairs in key order.
pub type Params = BTreeMap<String, String>;

pub fn render(params: &Params) -> String {
    params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Metrics LightGBM reports where higher is better (all others: lower).
fn higher_is_better(metric: &str) -> bool {
    matches!(metric, "auc" | "average_precision" | "map" | "ndcg" | "accuracy")
}

struct Dataset(sys::DatasetHandle);

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_DatasetCreateFromMat and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.0) };
    }
}

struct Booster(sys::BoosterHandle);

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterCreate and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.0) };
    }
}

/// A dense row-major matrix with its labels.
pub struct Data<'a> {
    pub x: &'a [f64],
    pub y: &'a [f32],
    pub n_features: usize,
}

impl Data<'_> {
    fn rows(&self) -> usize {
        self.y.len()
    }
}

fn dataset(d: &Data, params: &str, names: &[String], reference: Option<&Dataset>) -> Result<Dataset> {
    if d.n_features == 0 || d.x.len() != d.rows() * d.n_features {
        return Err(Error::other("lightgbm", anyhow::anyhow!("matrix of {} values is not {} rows × {} features", d.x.len(), d.rows(), d.n_features)));
    }
    if d.rows() == 0 {
        return Err(Error::Usage("no training rows: the training window holds no observed snapshots".into()));
    }
    let p = CString::new(params).map_err(|e| Error::other("lightgbm params", e))?;
    let label = CString::new("label").unwrap();
    let mut handle = std::ptr::null_mut();
    // SAFETY: x holds rows × n_features f64 values, alive for the call; LightGBM copies them.
    check(
        unsafe {
            sys::LGBM_DatasetCreateFromMat(
                d.x.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT64 as i32,
                d.rows() as i32,
                d.n_features as i32,
                1,
                p.as_ptr(),
                reference.map_or(std::ptr::null_mut(), |r| r.0),
                &mut handle,
            )
        },
        "creating a dataset",
    )?;
    let ds = Dataset(handle);
    // SAFETY: y holds `rows` f32 labels.
    check(
        unsafe { sys::LGBM_DatasetSetField(ds.0, label.as_ptr(), d.y.as_ptr() as *const c_void, d.rows() as i32, sys::C_API_DTYPE_FLOAT32 as i32) },
        "setting labels",
    )?;
    let cnames: Vec<CString> = names.iter().map(|n| CString::new(n.as_str()).unwrap()).collect();
    let mut ptrs: Vec<*const std::os::raw::c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: ptrs point into cnames, alive for the call.
    check(unsafe { sys::LGBM_DatasetSetFeatureNames(ds.0, ptrs.as_mut_ptr(), ptrs.len() as i32) }, "naming features")?;
    Ok(ds)
}

pub struct Trained {
    pub model_text: String,
    /// Iterations kept (the best on the validation set, or all).
    pub best_iteration: usize,
    pub best_valid_metric: Option<f64>,
}

/// Trains a booster; with `valid`, stops after `early_stopping_rounds`
/// iterations without improvement of `params["metric"]` and keeps the best.
pub fn train(params: &Params, names: &[String], train: &Data, valid: Option<&Data>, early_stopping_rounds: usize) -> Result<Trained> {
    let metric = params.get("metric").cloned().unwrap_or_else(|| "binary_logloss".into());
    if metric.contains(',') {
        return Err(Error::Config(format!("`training.lightgbm.metric`: give one metric for early stopping, not `{metric}`")));
    }
    let rounds: usize = params.get("num_iterations").and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut booster_params = params.clone();
    booster_params.remove("num_iterations");
    let text = render(&booster_params);
    let ds_train = dataset(train, &text, names, None)?;
    let ds_valid = match valid {
        Some(v) => Some(dataset(v, &text, names, Some(&ds_train))?),
        None => None,
    };
    let p = CString::new(text.clone()).map_err(|e| Error::other("lightgbm params", e))?;
    let mut handle = std::ptr::null_mut();
    // SAFETY: ds_train is a live dataset handle.
    check(unsafe { sys::LGBM_BoosterCreate(ds_train.0, p.as_ptr(), &mut handle) }, "creating the booster")?;
    let booster = Booster(handle);
    if let Some(v) = &ds_valid {
        // SAFETY: both handles are live; v was built with ds_train as reference.
        check(unsafe { sys::LGBM_BoosterAddValidData(booster.0, v.0) }, "adding validation data")?;
    }
    let higher = higher_is_better(&metric);
    let mut best: Option<(usize, f64)> = None;
    let mut iter = 0;
    while iter < rounds {
        let mut finished = 0;
        // SAFETY: booster is live.
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(booster.0, &mut finished) }, "boosting")?;
        if finished != 0 {
            break;
        }
        iter += 1;
        if ds_valid.is_some() {
            let mut n = 0;
            let mut out = [0f64; 8];
            // SAFETY: one metric is configured; `out` has room for 8.
            check(unsafe { sys::LGBM_BoosterGetEval(booster.0, 1, &mut n, out.as_mut_ptr()) }, "evaluating")?;
            let v = out[0];
            let improved = match best {
                None => true,
                Some((_, b)) => if higher { v > b } else { v < b },
            };
            if improved {
                best = Some((iter, v));
            } else if iter - best.unwrap().0 >= early_stopping_rounds {
                break;
            }
        }
    }
    let keep = best.map(|b| b.0).unwrap_or(iter);
    let model_text = save(&booster, keep)?;
    Ok(Trained { model_text, best_iteration: keep, best_valid_metric: best.map(|b| b.1) })
}

fn save(b: &Booster, iterations: usize) -> Result<String> {
    let mut len: i64 = 0;
    // SAFETY: a zero-length buffer asks for the needed size.
    check(
        unsafe { sys::LGBM_BoosterSaveModelToString(b.0, 0, iterations as i32, sys::C_API_FEATURE_IMPORTANCE_GAIN as i32, 0, &mut len, std::ptr::null_mut()) },
        "sizing the model",
    )?;
    let mut buf = vec![0u8; len as usize];
    // SAFETY: buf has `len` bytes as LightGBM asked.
    check(
        unsafe {
            sys::LGBM_BoosterSaveModelToString(
                b.0,
                0,
                iterations as i32,
                sys::C_API_FEATURE_IMPORTANCE_GAIN as i32,
                len,
                &mut len,
                buf.as_mut_ptr() as *mut std::os::raw::c_char,
            )
        },
        "saving the model",
    )?;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    buf.truncate(end);
    String::from_utf8(buf).map_err(|e| Error::other("lightgbm model text", e))
}

/// A trained model loaded for prediction.
pub struct Predictor {
    booster: lightgbm3::Booster,
    n_features: usize,
    threads: usize,
}

impl Predictor {
    pub fn load(model_text: &str, threads: usize) -> Result<Predictor> {
        let booster = lightgbm3::Booster::from_string(model_text).map_err(|e| Error::other("loading a LightGBM model", anyhow::anyhow!("{e}")))?;
        let n_features = booster.num_features() as usize;
        Ok(Predictor { booster, n_features, threads })
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Probabilities (sigmoid of the raw score) for row-major `x`.
    pub fn predict(&self, x: &[f64]) -> Result<Vec<f64>> {
        if x.is_empty() {
            return Ok(vec![]);
        }
        self.booster
            .predict_with_params(x, self.n_features as i32, true, &format!("num_threads={}", self.threads))
            .map_err(|e| Error::other("LightGBM predict", anyhow::anyhow!("{e}")))
    }

    /// LightGBM's own SHAP values: n_features + 1 per row, bias last.
    pub fn contributions(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.booster
            .predict_contrib(x, self.n_features as i32, true)
            .map_err(|e| Error::other("LightGBM predict_contrib", anyhow::anyhow!("{e}")))
    }

    /// Total gain per feature.
    pub fn importance_gain(&self) -> Result<Vec<f64>> {
        self.booster
            .feature_importance(lightgbm3::ImportanceType::Gain)
            .map_err(|e| Error::other("LightGBM feature importance", anyhow::anyhow!("{e}")))
    }
}
