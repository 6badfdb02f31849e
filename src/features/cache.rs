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

/// Registers the cached view `plan` ends with: builds the rollups the cache
/// lacks, deletes the ones no file of this export needs any more, and
/// registers the rest as one table over exactly this export's files.
pub async fn define(engine: &Engine, folder: &SqlFolder, plan: &Plan) -> Result<()> {
    let (view, sql) = plan.views.last().expect("a plan ends with its view");
    let what = format!("`{}/{view}.sql`", folder.name);
    let files = match engine.tables.get(plan.table) {
        Some(t) if t.present() => t.files.clone(),
        // an absent table is empty: nothing to cache
        _ => return engine.define_view(view, sql, false, &what).await,
    };
    // the schema from the whole-table plan (its views are defined by now);
    // nullable throughout, as files of one export may differ in that
    let schema = engine.plan_schema(sql, &what).await?;
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
        schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
    ));
    let mut base = Sha256::new();
    for part in [FORMAT, env!("CARGO_PKG_VERSION")] {
        base.update(part.as_bytes());
        base.update([0]);
    }
    for (name, sql) in &plan.views {
        base.update(format!("{name}\0{sql}\0").as_bytes());
    }
    if plan.vocabulary {
        for b in engine.query("SELECT relation, term, role FROM vocabulary ORDER BY relation, term, role").await? {
            for c in ["relation", "term", "role"] {
                for v in crate::columns::strings(&b, c)? {
                    base.update(v.unwrap_or_default().as_bytes());
                    base.update([0]);
                }
            }
        }
    }
    let source = &engine.tables[plan.table].source;
    base.update(format!("{:?}\0", source.columns).as_bytes());

    let dir = engine.stores.blob(&engine.cfg.output)?.child(&format!("_cache/{}/{view}/", folder.name));
    let cached: BTreeSet<String> = dir.list().await?.into_iter().map(|(p, _)| p.as_ref().to_string()).collect();
    let views: Vec<(&str, &str)> = plan.views.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
    let provided: &[&str] = if plan.vocabulary { &["vocabulary"] } else { &[] };
    let (mut built, mut rows) = (0usize, 0usize);
    let mut keep = BTreeSet::new();
    let mut locations = Vec::new();
    for f in &files {
        let mut h = base.clone();
        h.update(format!("{}\0{}\0{}", f.blob.location, f.size, f.version).as_bytes());
        let key: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        let blob = dir.child(&format!("{key}.parquet"));
        if !cached.contains(blob.path.as_ref()) {
            let mut enc: Option<Encoder> = None;
            let file_schema = engine
                .over_file(plan.table, f, provided, &views, |b| {
                    if enc.is_none() {
                        enc = Some(Encoder::new(&b.schema())?);
                    }
                    enc.as_mut().expect("just set").write(b)
                })
                .await?;
            let enc = match enc {
                Some(e) => e,
                None => Encoder::new(&file_schema)?,
            };
            rows += enc.rows;
            // one object write: a crash leaves the key absent, never half a file
            blob.put(enc.finish()?).await?;
            built += 1;
        }
        keep.insert(blob.path.as_ref().to_string());
        locations.push(blob.location.clone());
    }
    let mut dropped = 0;
    for p in cached.difference(&keep) {
        dir.at(&object_store::path::Path::from(p.as_str())).delete().await?;
        dropped += 1;
    }
    tracing::info!(
        "cached view `{view}`: {} of {} {} file(s) read from the cache, {built} built ({rows} rows){}",
        files.len() - built,
        files.len(),
        plan.table,
        if dropped > 0 { format!(", {dropped} stale rollup(s) deleted") } else { String::new() }
    );
    engine.register_files(view, &locations, schema)
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
