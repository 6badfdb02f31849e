//! Feature sets: versioned folders of SQL views run over a `snapshots`
//! relation, so the same SQL builds training rows (many `as_of` dates in one
//! plan) and scoring rows (one `as_of`).
//!
//! A set is `sql/features/<version>/`: one view per `.sql` file, named after
//! the file, and `features.yaml`. Views run in the order their table
//! references give (found with DataFusion's SQL parser), not file names. The
//! set's hash covers every file; a model records it and scoring refuses a
//! model built on another hash.
//!
//! Views are registered lazily (DataFusion inlines them), except that a view
//! read by two or more others is computed once and kept in memory — unless it
//! reads `usage`, the one table too large to hold, which the SQL reads once —
//! and that the views `features.yaml` lists as `cached` are computed once
//! per input file and kept as Parquet under the output location (`cache`).
//!
//! Inputs the SQL sees besides the contract tables: `snapshot_dates(as_of)`
//! (the dates asked for), `run_params(export_date, …)` and
//! `vocabulary(relation, term, role)` (the export's words: the feature set's
//! defaults with `features.vocabulary_file` laid over them).

pub mod cache;
pub mod spec;
pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::visit_relations;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::{Context, Error, Result};
pub use spec::{Direction, Feature, Spec, Unit, render};

#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    pub sql: String,
    /// Relations the SQL reads (views of the set and input tables).
    pub refs: BTreeSet<String>,
}

/// A versioned folder of view files: a feature set or a label set.
#[derive(Debug, Clone)]
pub struct SqlFolder {
    /// `features/v1`, `labels/v1`: for messages.
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
    pub views: Vec<View>,
    pub hash: String,
    /// Every file's (name, text), for features.yaml and the hash.
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct FeatureSet {
    pub version: String,
    pub sql: SqlFolder,
    pub spec: Spec,
    /// What each `cached` view reads (checked when the set loads).
    pub cached: Vec<cache::Plan>,
    pub hash: String,
    /// `intent.yaml`: the intents `intent_weight(text, intent)` finds.
    pub lexicon: Arc<text::Lexicon>,
    /// Messages scored on their first `text::MAX_CHARS` characters only.
    pub long_messages: Arc<std::sync::atomic::AtomicUsize>,
}

impl SqlFolder {
    pub fn load(sql_dir: &Path, kind: &str, version: &str) -> Result<SqlFolder> {
        let dir = sql_dir.join(kind).join(version);
        let name = format!("{kind}/{version}");
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            Error::Config(format!("`{name}`: cannot read `{}`: {e} (check `features.sql_dir` and `features.version`)", dir.display()))
        })?;
        let mut files: Vec<(String, String)> = Vec::new();
        for entry in entries {
            let entry = entry.context("listing a SQL folder")?;
            let file = entry.file_name().to_string_lossy().to_string();
            if file.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).context(format!("reading `{}`", entry.path().display()))?;
            files.push((file, text));
        }
        files.sort();
        let hash = hash_files(&files);
        let mut views = Vec::new();
        for (file, sql) in files.iter().filter(|(n, _)| n.ends_with(".sql")) {
            let view = file.trim_end_matches(".sql").to_string();
            let refs = references(sql).map_err(|e| Error::Config(format!("`{name}/{file}`: {e}")))?;
            views.push(View { name: view, sql: sql.clone(), refs });
        }
        let views = order(views).map_err(|e| Error::Config(format!("`{name}`: {e}")))?;
        Ok(SqlFolder { name, version: version.to_string(), dir, views, hash, files })
    }

    pub fn has_view(&self, view: &str) -> bool {
        self.views.iter().any(|v| v.name == view)
    }

    /// Registers the views in order. A view read by two or more others is
    /// computed once and held in memory, unless it reads `usage`; the
    /// `cached` ones come from (and go to) the rollup cache.
    pub async fn register(&self, engine: &Engine, cached: &[cache::Plan]) -> Result<()> {
        let mut readers: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &self.views {
            for r in &v.refs {
                *readers.entry(r.as_str()).or_default() += 1;
            }
        }
        let mut reads_usage: BTreeSet<String> = BTreeSet::new();
        let mut defined: BTreeSet<&str> = BTreeSet::new();
        for v in &self.views {
            let big = v.refs.iter().any(|r| r == "usage" || reads_usage.contains(r));
            if big {
                reads_usage.insert(v.name.clone());
            }
            if defined.contains(v.name.as_str()) {
                continue;
            }
            if let Some(plan) = cached.iter().find(|p| p.view() == v.name) {
                // with it, every cached view over the same table that is
                // ready now: one pass over each file builds them all
                let ready: Vec<&cache::Plan> = cached
                    .iter()
                    .filter(|p| p.table == plan.table && !defined.contains(p.view()))
                    .filter(|p| p.views[..p.views.len() - 1].iter().all(|(n, _)| defined.contains(n.as_str())))
                    .collect();
                cache::define(engine, self, &ready).await?;
                defined.extend(ready.iter().map(|p| p.view()));
                continue;
            }
            defined.insert(v.name.as_str());
            let materialize = readers.get(v.name.as_str()).copied().unwrap_or(0) >= 2 && !big;
            engine.define_view(&v.name, &v.sql, materialize, &format!("`{}/{}.sql`", self.name, v.name)).await?;
        }
        Ok(())
    }
}

/// Relations provided to the SQL rather than defined by it.
pub const PROVIDED: &[&str] = &["snapshot_dates", "run_params", "vocabulary"];

impl FeatureSet {
    /// Loads `sql_dir/features/<version>/`.
    pub fn load(sql_dir: &Path, version: &str) -> Result<FeatureSet> {
        let sql = SqlFolder::load(sql_dir, "features", version)?;
        let spec_text = sql
            .files
            .iter()
            .find(|(n, _)| n == "features.yaml")
            .map(|(_, t)| t.clone())
            .ok_or_else(|| Error::Config(format!("`{}`: `{}` has no features.yaml", sql.name, sql.dir.display())))?;
        let spec = Spec::parse(&spec_text, &format!("{}/features.yaml", sql.name))?;
        if !sql.has_view(&spec.output) {
            return Err(Error::Config(format!("`{}`: the output view `{}.sql` is missing", sql.name, spec.output)));
        }
        if !sql.has_view("snapshots") {
            return Err(Error::Config(format!("`{}`: a feature set defines the population in `snapshots.sql`", sql.name)));
        }
        let cached = spec
            .cached
            .iter()
            .map(|v| cache::plan(&sql, v).map_err(|e| Error::Config(format!("`{}/features.yaml`: {e}", sql.name))))
            .collect::<Result<Vec<_>>>()?;
        let lexicon = match sql.files.iter().find(|(n, _)| n == "intent.yaml") {
            Some((_, t)) => text::Lexicon::parse(t, &format!("{}/intent.yaml", sql.name))?,
            None => text::Lexicon::default(),
        };
        Ok(FeatureSet { version: version.to_string(), hash: sql.hash.clone(), sql, spec, cached, lexicon: Arc::new(lexicon), long_messages: Default::default() })
    }

    pub fn short_hash(&self) -> &str {
        &self.hash[..12]
    }

    /// Features whose required tables (and `table.column`s) are all present,
    /// in `features.yaml` order.
    pub fn available(&self, present: &BTreeSet<String>) -> Vec<&Feature> {
        self.spec.features.iter().filter(|f| f.missing(|r| present.contains(r)).is_empty()).collect()
    }

    /// The available features the model reads (not the text the messages quote).
    pub fn model_inputs(&self, present: &BTreeSet<String>) -> Vec<&Feature> {
        self.available(present).into_iter().filter(|f| f.model).collect()
    }

    /// Registers every view (computing the shared small ones once) for `dates`,
    /// and returns the output view's rows sorted by (as_of, account_id).
    pub async fn build(&self, engine: &Engine, dates: &[NaiveDate]) -> Result<Vec<RecordBatch>> {
        // Every view reads a snapshot's facts from before its `as_of` alone,
        // so the dates can be built a few at a time: each pass holds the
        // per-(account, date, user) groups of its own dates only, and the
        // passes, in date order, concatenate to the one query's ordered rows.
        let per_pass = engine.cfg.snapshots_per_pass.max(1);
        let mut sorted = dates.to_vec();
        sorted.sort();
        sorted.dedup();
        let passes: Vec<&[NaiveDate]> = if sorted.len() <= per_pass { vec![&sorted[..]] } else { sorted.chunks(per_pass).collect() };
        let mut out = Vec::new();
        for (i, pass) in passes.iter().enumerate() {
            if passes.len() > 1 {
                tracing::info!("feature pass {} of {}: {} to {}", i + 1, passes.len(), pass[0], pass[pass.len() - 1]);
            }
            self.register(engine, pass).await?;
            out.extend(self.query_output(engine).await?);
        }
        if passes.len() > 1 {
            // what reads the views next (the labels read `snapshots`) sees every date
            self.register(engine, dates).await?;
        }
        let long = self.long_messages.swap(0, std::sync::atomic::Ordering::Relaxed);
        if long > 0 {
            tracing::warn!("{long} message scorings read only the first {} characters of a longer text (sentiment and intents)", text::MAX_CHARS);
        }
        Ok(out)
    }

    /// The output view's rows for the registered dates, in (as_of, account_id) order.
    async fn query_output(&self, engine: &Engine) -> Result<Vec<RecordBatch>> {
        let features = self.available(&engine.present_tables());
        let cols: Vec<String> = std::iter::once("account_id".to_string())
            .chain(std::iter::once("as_of".to_string()))
            .chain(features.iter().map(|f| format!("\"{}\"", f.name)))
            .collect();
        let sql = format!("SELECT {} FROM {} ORDER BY as_of, account_id", cols.join(", "), self.spec.output);
        let where_ = format!("feature set `{}`, view `{}`", self.version, self.spec.output);
        engine.query(&sql).await.map_err(|e| match e {
            Error::Other { context, source } => Error::Other { context: format!("{where_}: {context}"), source },
            Error::Usage(m) => Error::Usage(format!("{where_}: {m}")),
            e => e,
        })
    }

    /// The words this set reads an export through: its defaults, with each
    /// relation the config's vocabulary file names replaced whole.
    pub fn vocabulary(&self, cfg: &crate::config::Config) -> crate::config::Vocabulary {
        let mut v = self.spec.vocabulary.clone();
        if let Some(over) = &cfg.vocabulary {
            for (relation, roles) in over {
                v.insert(relation.clone(), roles.clone());
            }
        }
        v
    }

    /// Registers `snapshot_dates`, `run_params`, `vocabulary` and the views for `dates`.
    pub async fn register(&self, engine: &Engine, dates: &[NaiveDate]) -> Result<()> {
        register_dates(engine, dates)?;
        register_vocabulary(engine, &self.vocabulary(&engine.cfg))?;
        let udfs = text::udfs(self.lexicon.clone(), self.long_messages.clone());
        if engine.distributed() {
            // the executors decode a plan with the functions they know:
            // DataFusion's, not ours
            let calls = |v: &View| udfs.iter().map(|f| f.name().to_string()).find(|n| v.sql.contains(&format!("{n}(")));
            if let Some((v, f)) = self.sql.views.iter().find_map(|v| calls(v).map(|f| (v, f))) {
                return Err(Error::Config(format!(
                    "`{}/{}.sql` calls `{f}`, one of healthscore's text functions, which a Ballista executor does not have: \
                     on a cluster (`engine.kind: ballista`) use a feature set without them (v1, v2 or v4)",
                    self.sql.name, v.name
                )));
            }
        }
        for f in udfs {
            engine.register_udf(f);
        }
        self.sql.register(engine, &self.cached).await
    }

    /// Checks the output view's columns against `features.yaml` (plans only).
    pub async fn check_columns(&self, engine: &Engine) -> Result<()> {
        let cols: BTreeSet<String> = engine.columns_of(&self.spec.output).await?.into_iter().collect();
        for f in &self.spec.features {
            if !cols.contains(&f.name) {
                return Err(Error::Config(format!(
                    "feature set `{}`: `{}` lists `{}`, which the view `{}` does not produce",
                    self.version, "features.yaml", f.name, self.spec.output
                )));
            }
        }
        for c in &cols {
            if c != "account_id" && c != "as_of" && self.spec.get(c).is_none() {
                return Err(Error::Config(format!(
                    "feature set `{}`: the view `{}` produces `{c}`, which features.yaml does not describe",
                    self.version, self.spec.output
                )));
            }
        }
        Ok(())
    }
}

pub fn register_dates(engine: &Engine, dates: &[NaiveDate]) -> Result<()> {
    let days: Vec<i32> = dates.iter().map(|d| crate::dates::day(*d)).collect();
    let schema = Arc::new(Schema::new(vec![Field::new("as_of", DataType::Date32, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Date32Array::from(days))]).context("snapshot dates")?;
    engine.register_batches("snapshot_dates", schema, vec![batch])?;
    let t = &engine.cfg.training;
    let schema = Arc::new(Schema::new(vec![
        Field::new("export_date", DataType::Date32, false),
        Field::new("churn_grace_days", DataType::Int32, false),
        Field::new("expansion_share", DataType::Float64, false),
        Field::new("expansion_horizon", DataType::Int32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from(vec![crate::dates::day(engine.export_date)])),
            Arc::new(arrow::array::Int32Array::from(vec![t.churn_grace_days as i32])),
            Arc::new(arrow::array::Float64Array::from(vec![t.expansion_share])),
            Arc::new(arrow::array::Int32Array::from(vec![t.expansion_horizon as i32])),
        ],
    )
    .context("run params")?;
    engine.register_batches("run_params", schema, vec![batch])
}

/// The vocabulary relations: the contract table and column each reads, and
/// the role a word plays when the vocabulary does not name it.
const VOCABULARY_SOURCES: &[(&str, &str, &str, &str)] = &[
    ("usage", "usage", "feature", "product"),
    ("activity", "activities", "kind", "touch"),
    ("ticket_priority", "tickets", "priority", "not high"),
    ("external_signal", "external_signals", "kind", "not read"),
];

/// `validate --profile`: the export's words with counts and the role each
/// plays for this feature set, the vocabulary's words the export never
/// uses, and the features it cannot feed (and why).
pub async fn profile(engine: &Engine, fs: &FeatureSet) -> Result<String> {
    use std::fmt::Write;
    let vocab = fs.vocabulary(&engine.cfg);
    let mut out = format!("feature set `{}`: the export's vocabulary\n", fs.version);
    for (relation, table, column, default) in VOCABULARY_SOURCES {
        if !engine.present(table) {
            let _ = writeln!(out, "  {table}.{column}: table absent");
            continue;
        }
        let roles = vocab.get(*relation).cloned().unwrap_or_default();
        let role_of = |t: &str| roles.iter().find(|(_, terms)| terms.iter().any(|x| x == t)).map(|(r, _)| r.clone());
        let b = engine.query(&format!("SELECT lower({column}) AS term, count(*) AS n FROM {table} GROUP BY lower({column}) ORDER BY n DESC, term LIMIT 40")).await?;
        let _ = writeln!(out, "  {table}.{column} (relation `{relation}`):");
        let mut seen = BTreeSet::new();
        for batch in &b {
            let terms = crate::columns::strings(batch, "term")?;
            let counts = crate::columns::floats(batch, "n")?;
            for (t, n) in terms.into_iter().zip(counts) {
                let t = t.unwrap_or_default();
                let role = role_of(&t).unwrap_or_else(|| format!("{default} (not in the vocabulary)"));
                let _ = writeln!(out, "    {t:<28} {n:>12.0}  → {role}");
                seen.insert(t);
            }
        }
        for (role, terms) in &roles {
            let unused: Vec<&String> = terms.iter().filter(|t| !seen.contains(*t)).collect();
            if unused.len() == terms.len() && !terms.is_empty() {
                let _ = writeln!(out, "    ! no word of this export plays `{role}` (the vocabulary names {}): features reading it will be constant and dropped", terms.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "));
            }
        }
    }
    if let Some(phrases) = vocab.get("ticket_text") {
        let n: usize = phrases.values().map(Vec::len).sum();
        let _ = writeln!(out, "  tickets subject/body: {n} phrases in the vocabulary (`ticket_text`: {})", phrases.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    let present = engine.present_tables();
    let available = fs.available(&present);
    let _ = writeln!(out, "features: {} of {} can be built from this export", available.len(), fs.spec.features.len());
    for f in &fs.spec.features {
        let missing = f.missing(|r| present.contains(r));
        if !missing.is_empty() {
            let _ = writeln!(out, "  dropped {:<28} needs `{}`", f.name, missing.join("`, `"));
        }
    }
    Ok(out)
}

/// Registers `vocabulary(relation, term, role)`, one row per term.
pub fn register_vocabulary(engine: &Engine, v: &crate::config::Vocabulary) -> Result<()> {
    let mut rows: Vec<[&str; 3]> = Vec::new();
    for (relation, roles) in v {
        for (role, terms) in roles {
            for t in terms {
                rows.push([relation, t, role]);
            }
        }
    }
    let schema = Arc::new(Schema::new(["relation", "term", "role"].map(|n| Field::new(n, DataType::Utf8, false)).to_vec()));
    let cols: Vec<arrow::array::ArrayRef> =
        (0..3).map(|j| Arc::new(arrow::array::StringArray::from_iter_values(rows.iter().map(|r| r[j]))) as arrow::array::ArrayRef).collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).context("vocabulary")?;
    engine.register_batches("vocabulary", schema, vec![batch])
}

/// sha256 over every file's name and bytes, in name order.
pub fn hash_files(files: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (name, text) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Table names a view's SQL reads, lower-cased, from DataFusion's parser.
pub fn references(sql: &str) -> std::result::Result<BTreeSet<String>, String> {
    let stmts = DFParser::parse_sql(sql).map_err(|e| e.to_string())?;
    if stmts.len() != 1 {
        return Err(format!("holds {} statements; a view file holds one SELECT", stmts.len()));
    }
    let mut out = BTreeSet::new();
    match &stmts[0] {
        DfStatement::Statement(s) => {
            let _ = visit_relations(s.as_ref(), |name| {
                out.insert(name.to_string().to_ascii_lowercase().trim_matches('"').to_string());
                std::ops::ControlFlow::<()>::Continue(())
            });
        }
        _ => return Err("is not a SELECT".into()),
    }
    Ok(out)
}

/// Orders views so each comes after the views it reads; ties by name.
fn order(views: Vec<View>) -> std::result::Result<Vec<View>, String> {
    let names: BTreeSet<String> = views.iter().map(|v| v.name.clone()).collect();
    let mut pending: BTreeMap<String, View> = views.into_iter().map(|v| (v.name.clone(), v)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .values()
            .filter(|v| v.refs.iter().all(|r| !names.contains(r) || done.contains(r) || r == &v.name))
            .map(|v| v.name.clone())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<_> = pending.keys().cloned().collect();
            return Err(format!("views read each other in a cycle: {}", stuck.join(", ")));
        }
        for n in ready {
            let v = pending.remove(&n).unwrap();
            if v.refs.contains(&v.name) {
                return Err(format!("view `{n}` reads itself"));
            }
            done.insert(n);
            out.push(v);
        }
    }
    Ok(out)
}

/// The snapshot dates between `from` and `to` (inclusive), on the first of each month.
pub fn monthly(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    use chrono::Datelike;
    let mut d = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap();
    if d < from {
        d = d.checked_add_months(chrono::Months::new(1)).unwrap();
    }
    let mut out = Vec::new();
    while d <= to {
        out.push(d);
        d = d.checked_add_months(chrono::Months::new(1)).unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_come_from_the_parser() {
        let r = references("WITH x AS (SELECT * FROM stg_usage) SELECT * FROM snapshots s JOIN x ON true LEFT JOIN \"Tickets\" t ON true").unwrap();
        assert!(r.contains("stg_usage") && r.contains("snapshots") && r.contains("tickets"), "{r:?}");
    }

    #[test]
    fn order_follows_references_not_names() {
        let v = |n: &str, refs: &[&str]| View { name: n.into(), sql: String::new(), refs: refs.iter().map(|s| s.to_string()).collect() };
        let out = order(vec![v("a_final", &["z_stage"]), v("z_stage", &["usage"])]).unwrap();
        assert_eq!(out[0].name, "z_stage");
        assert!(order(vec![v("a", &["b"]), v("b", &["a"])]).unwrap_err().contains("cycle"));
    }

    #[test]
    fn monthly_dates_start_on_the_first() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(monthly(d("2025-01-15"), d("2025-04-01")), vec![d("2025-02-01"), d("2025-03-01"), d("2025-04-01")]);
    }
}
