//! Cached views: a staging view that reduces one input table (`usage`) to a
//! compact rollup is computed once per input file and kept as Parquet under
//! the output location, so every later run (`train`, `backtest`, `score`,
//! `features`) reads the rollup instead of the raw rows, and a new or
//! rewritten export file rebuilds only its own rollup.
//!
//! ```text
//!  <out>/_cache/features/v4/stg_usage_days/<key>.parquet    one per usage file
//! ```
//!
//! A key is sha256 over what the rollup depends on: the SQL of the view and
//! of the views it reads, the vocabulary, the table's column mapping, this
//! build's version, and the file's path, size and ETag (or modification
//! time). Keys this run does not use are deleted. A view is cacheable when
//! it reads one contract table, `vocabulary` and views over those only: then
//! its rows over all files are the union of its rows over each, so the SQL
//! that reads it must only sum, count rows of, or take the min or max of
//! what it gives (a `GROUP BY` key may repeat across files).

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::SqlFolder;
use crate::engine::Engine;
use crate::error::Result;
use crate::output::parquet::Encoder;

/// Bump when the meaning of a cached file changes without its SQL changing.
const FORMAT: &str = "healthscore-rollup-1";

/// What a cached view reads: its views in order (itself last) and the one
/// input table it is computed per file of.
#[derive(Debug, Clone)]
pub struct Plan {
    pub views: Vec<(String, String)>,
    pub table: &'static str,
    pub vocabulary: bool,
}

/// Checks that `view` of `folder` can be cached and says what it reads.
pub fn plan(folder: &SqlFolder, view: &str) -> std::result::Result<Plan, String> {
    if !folder.has_view(view) {
        return Err(format!("`cached` names `{view}`, which is not a view of the set"));
    }
    let mut needed: BTreeSet<&str> = BTreeSet::from([view]);
    let mut inputs: BTreeSet<String> = BTreeSet::new();
    // views come in dependency order, so one backward pass finds them all
    for v in folder.views.iter().rev() {
        if needed.contains(v.name.as_str()) {
            for r in &v.refs {
                if folder.has_view(r) {
                    needed.insert(r.as_str());
                } else {
                    inputs.insert(r.clone());
                }
            }
        }
    }
    let vocabulary = inputs.remove("vocabulary");
    let tables: Vec<&'static str> = inputs.iter().filter_map(|r| crate::contract::table(r).map(|t| t.name)).collect();
    let other: Vec<&String> = inputs.iter().filter(|r| crate::contract::table(r).is_none()).collect();
    if !other.is_empty() || tables.len() != 1 {
        let read: Vec<String> = inputs.iter().map(|r| format!("`{r}`")).collect();
        return Err(format!(
            "`cached` view `{view}` reads {}; a cached view is computed once per file of one input table, so it may read only that table, `vocabulary` and views over them",
            if read.is_empty() { "no input table".to_string() } else { read.join(", ") }
        ));
    }
    let views = folder.views.iter().filter(|v| needed.contains(v.name.as_str())).map(|v| (v.name.clone(), v.sql.clone())).collect();
    Ok(Plan { views, table: tables[0], vocabulary })
}

impl Plan {
    /// The cached view's name.
    pub fn view(&self) -> &str {
        &self.views.last().expect("a plan ends with its view").0
    }
}

/// How many files are rolled up at once (each in its own session).
const FILES_AT_ONCE: usize = 2;

/// Registers the cached views of `plans` (over one table, their own views
/// defined by now): builds the rollups the cache lacks, one pass over each
/// file for all of them, deletes the ones no file of this export needs any
/// more, and registers each view as one table over exactly this export's
/// rollups.
pub async fn define(engine: &Engine, folder: &SqlFolder, plans: &[&Plan]) -> Result<()> {
    let table = plans[0].table;
    let files = match engine.tables.get(table) {
        Some(t) if t.present() => t.files.clone(),
        // an absent table is empty: nothing to cache
        _ => {
            for p in plans {
                let (view, sql) = p.views.last().expect("a plan ends with its view");
                engine.define_view(view, sql, false, &format!("`{}/{view}.sql`", folder.name)).await?;
            }
            return Ok(());
        }
    };
    let source = &engine.tables[table].source;
    let vocabulary = if plans.iter().any(|p| p.vocabulary) {
        let mut rows = Vec::new();
        for b in engine.query("SELECT relation, term, role FROM vocabulary ORDER BY relation, term, role").await? {
            let cols = ["relation", "term", "role"].map(|c| crate::columns::strings(&b, c));
            let [r, t, o] = cols;
            for ((r, t), o) in r?.into_iter().zip(t?).zip(o?) {
                rows.push(format!("{}\0{}\0{}", r.unwrap_or_default(), t.unwrap_or_default(), o.unwrap_or_default()));
            }
        }
        rows.join("\0")
    } else {
        String::new()
    };
    struct Cached<'a> {
        plan: &'a Plan,
        schema: arrow::datatypes::SchemaRef,
        dir: crate::store::Blob,
        base: Sha256,
        listed: BTreeSet<String>,
    }
    let mut cached = Vec::new();
    for plan in plans {
        let view = plan.view();
        let what = format!("`{}/{view}.sql`", folder.name);
        // the schema from the whole-table plan; nullable throughout, as
        // files of one export may differ in that
        let schema = engine.plan_schema(&plan.views.last().expect("a plan ends with its view").1, &what).await?;
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
            schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
        ));
        let mut base = Sha256::new();
        for part in [FORMAT, env!("CARGO_PKG_VERSION")] {
            base.update(format!("{part}\0").as_bytes());
        }
        for (name, sql) in &plan.views {
            base.update(format!("{name}\0{sql}\0").as_bytes());
        }
        if plan.vocabulary {
            base.update(vocabulary.as_bytes());
        }
        base.update(format!("\0{:?}\0", source.columns).as_bytes());
        let dir = engine.stores.blob(&engine.cfg.output)?.child(&format!("_cache/{}/{view}/", folder.name));
        let listed = dir.list().await?.into_iter().map(|(p, _)| p.as_ref().to_string()).collect();
        cached.push(Cached { plan, schema, dir, base, listed });
    }
    let key = |c: &Cached, f: &crate::engine::InputFile| {
        let mut h = c.base.clone();
        h.update(format!("{}\0{}\0{}", f.blob.location, f.size, f.version).as_bytes());
        let key: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        c.dir.child(&format!("{key}.parquet"))
    };

    // per file, the cached views whose rollup is missing, built in one pass
    let work: Vec<(&crate::engine::InputFile, Vec<usize>)> = files
        .iter()
        .map(|f| (f, (0..cached.len()).filter(|&i| !cached[i].listed.contains(key(&cached[i], f).path.as_ref())).collect::<Vec<_>>()))
        .filter(|(_, missing)| !missing.is_empty())
        .collect();
    let built = work.len();
    let rows: Vec<usize> = futures::stream::iter(work.iter().map(|(f, missing)| {
        let cached = &cached;
        let key = &key;
        async move {
            let wanted: Vec<&Plan> = missing.iter().map(|&i| cached[i].plan).collect();
            let views = views_for(folder, &wanted);
            let views: Vec<(&str, &str, bool)> = views.iter().map(|(n, s, h)| (n.as_str(), s.as_str(), *h)).collect();
            let outputs: Vec<&str> = wanted.iter().map(|p| p.view()).collect();
            let provided: &[&str] = if wanted.iter().any(|p| p.vocabulary) { &["vocabulary"] } else { &[] };
            let mut enc: Vec<Option<Encoder>> = wanted.iter().map(|_| None).collect();
            let schemas = engine
                .over_file(table, f, provided, &views, &outputs, |i, b| {
                    if enc[i].is_none() {
                        enc[i] = Some(Encoder::new(&b.schema())?);
                    }
                    enc[i].as_mut().expect("just set").write(b)
                })
                .await?;
            let mut rows = 0;
            for ((&i, e), schema) in missing.iter().zip(enc).zip(&schemas) {
                let e = match e {
                    Some(e) => e,
                    None => Encoder::new(schema)?,
                };
                rows += e.rows;
                // one object write: a crash leaves the key absent, never half a file
                key(&cached[i], f).put(e.finish()?).await?;
            }
            Ok::<usize, crate::error::Error>(rows)
        }
    }))
    .buffer_unordered(FILES_AT_ONCE)
    .try_collect()
    .await?;
    let rows: usize = rows.into_iter().sum();

    for c in &cached {
        let keep: Vec<crate::store::Blob> = files.iter().map(|f| key(c, f)).collect();
        let kept: BTreeSet<&str> = keep.iter().map(|b| b.path.as_ref()).collect();
        let mut dropped = 0;
        for p in c.listed.iter().filter(|p| !kept.contains(p.as_str())) {
            c.dir.at(&object_store::path::Path::from(p.as_str())).delete().await?;
            dropped += 1;
        }
        let hits = files.iter().filter(|f| c.listed.contains(key(c, f).path.as_ref())).count();
        tracing::info!(
            "cached view `{}`: {hits} of {} {table} file(s) read from the cache{}",
            c.plan.view(),
            files.len(),
            if dropped > 0 { format!(", {dropped} stale rollup(s) deleted") } else { String::new() }
        );
        let locations: Vec<_> = keep.iter().map(|b| b.location.clone()).collect();
        engine.register_files(c.plan.view(), &locations, c.schema.clone())?;
    }
    if built > 0 {
        tracing::info!("rolled up {built} {table} file(s) into {rows} rows ({} view(s))", cached.len());
    }
    Ok(())
}

/// The views the per-file session defines for `plans`, in order, and
/// whether each is held in memory: a view that two or more of them read.
fn views_for(folder: &SqlFolder, plans: &[&Plan]) -> Vec<(String, String, bool)> {
    let names: BTreeSet<&str> = plans.iter().flat_map(|p| p.views.iter().map(|(n, _)| n.as_str())).collect();
    let outputs: BTreeSet<&str> = plans.iter().map(|p| p.view()).collect();
    folder
        .views
        .iter()
        .filter(|v| names.contains(v.name.as_str()))
        .map(|v| {
            let readers = folder.views.iter().filter(|r| names.contains(r.name.as_str()) && r.refs.contains(&v.name)).count();
            (v.name.clone(), v.sql.clone(), readers >= 2 && !outputs.contains(v.name.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::View;

    fn folder(views: &[(&str, &str)]) -> SqlFolder {
        let views = views
            .iter()
            .map(|(n, sql)| View { name: n.to_string(), sql: sql.to_string(), refs: crate::features::references(sql).unwrap() })
            .collect();
        SqlFolder { name: "features/t".into(), version: "t".into(), dir: Default::default(), views, hash: String::new(), files: vec![] }
    }

    #[test]
    fn a_cached_view_reads_one_input_table_and_the_vocabulary_only() {
        let f = folder(&[
            ("stg", "SELECT u.account_id, v.role FROM usage u LEFT JOIN vocabulary v ON v.term = u.feature"),
            ("days", "SELECT account_id, count(*) AS n FROM stg GROUP BY account_id"),
            ("windows", "SELECT d.account_id FROM days d JOIN snapshot_dates s ON true"),
            ("both", "SELECT account_id FROM stg UNION ALL SELECT account_id FROM tickets"),
        ]);
        let p = plan(&f, "days").unwrap();
        assert_eq!((p.table, p.vocabulary), ("usage", true));
        assert_eq!(p.views.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["stg", "days"]);
        let e = plan(&f, "windows").unwrap_err();
        assert!(e.contains("`windows`") && e.contains("`snapshot_dates`"), "{e}");
        let e = plan(&f, "both").unwrap_err();
        assert!(e.contains("`tickets`") && e.contains("`usage`"), "{e}");
        assert!(plan(&f, "nothing").unwrap_err().contains("not a view"));
    }
}
