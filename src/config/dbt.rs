//! `warehouse.dbt`: the export's tables found through a dbt project's
//! `target/manifest.json`, by model name, where dbt-duckdb's `external`
//! materialization wrote them.
//!
//! A model's file is its `config.location` when it sets one, else
//! `<external_root>/<alias>.<format>` — dbt-duckdb's default, with the
//! profile's `external_root` (`.` unless set) — both relative to the dbt
//! project folder (the one holding `target/`), where `dbt build` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::location::{normalize, Location};

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    nodes: BTreeMap<String, Node>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    project_name: Option<String>,
}

#[derive(Deserialize)]
struct Node {
    resource_type: String,
    name: String,
    alias: Option<String>,
    package_name: String,
    #[serde(default)]
    config: NodeConfig,
}

#[derive(Deserialize, Default)]
struct NodeConfig {
    materialized: Option<String>,
    location: Option<String>,
    format: Option<String>,
}

/// A dbt project's models, read from its manifest.
pub struct Project {
    /// The folder holding `target/`, where dbt runs.
    pub dir: PathBuf,
    manifest: PathBuf,
    external_root: String,
    /// Model name → (package, alias, config); the root project's first.
    models: Vec<(String, Node)>,
}

impl Project {
    pub fn load(manifest: &Path, external_root: Option<&str>) -> Result<Project> {
        let text = std::fs::read_to_string(manifest).map_err(|e| {
            Error::Config(format!("`warehouse.dbt.manifest`: cannot read `{}`: {e} (run `dbt build` or `dbt parse` first)", manifest.display()))
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("`warehouse.dbt.manifest`: `{}` is not a dbt manifest: {e}", manifest.display())))?;
        let dir = manifest.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let root = m.metadata.project_name.unwrap_or_default();
        let mut models: Vec<(String, Node)> = m.nodes.into_values().filter(|n| n.resource_type == "model").map(|n| (n.name.clone(), n)).collect();
        // the root project's models shadow a package's of the same name
        models.sort_by_key(|(name, n)| (n.package_name != root, name.clone()));
        Ok(Project { dir, manifest: manifest.to_path_buf(), external_root: external_root.unwrap_or(".").to_string(), models })
    }

    /// The Parquet location of `model`, for contract table `table`; None
    /// when the manifest has no such model.
    pub fn location(&self, table: &str, model: &str) -> Result<Option<Location>> {
        let Some((_, node)) = self.models.iter().find(|(name, _)| name == model) else { return Ok(None) };
        let key = format!("warehouse.tables.{table}");
        let materialized = node.config.materialized.as_deref().unwrap_or("view");
        if materialized != "external" {
            return Err(Error::Config(format!(
                "`{key}`: dbt model `{model}` is materialized `{materialized}`, inside DuckDB's database file; healthscore reads Parquet: give it `materialized='external'` (dbt-duckdb)"
            )));
        }
        let alias = node.alias.as_deref().unwrap_or(&node.name);
        let format = node.config.format.clone().unwrap_or_else(|| match &node.config.location {
            Some(l) if l.contains('.') => l.rsplit('.').next().unwrap_or("parquet").to_ascii_lowercase(),
            _ => "parquet".into(),
        });
        if format != "parquet" {
            return Err(Error::Config(format!("`{key}`: dbt model `{model}` writes `{format}`; healthscore reads Parquet: set `format='parquet'`")));
        }
        let path = node.config.location.clone().unwrap_or_else(|| format!("{}/{alias}.parquet", self.external_root.trim_end_matches('/')));
        if path.contains("{{") {
            return Err(Error::Config(format!("`{key}`: dbt model `{model}`'s location `{path}` is a template the manifest does not resolve; give the path with `warehouse.tables.{table}.path`")));
        }
        let url = if path.contains("://") { url::Url::parse(&path).ok() } else { url::Url::from_file_path(normalize(&self.dir.join(&path))).ok() };
        url.map(|u| Some(Location(u))).ok_or_else(|| Error::Config(format!("`{key}`: dbt model `{model}`'s location `{path}` is not a usable path or URL")))
    }

    /// For messages: the models the manifest has.
    pub fn model_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.models.iter().map(|(n, _)| n.as_str()).collect();
        v.dedup();
        v
    }

    pub fn manifest(&self) -> &Path {
        &self.manifest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest in a folder of its own (`name`: tests run in parallel).
    fn project(name: &str, json: &str) -> Project {
        let dir = std::env::temp_dir().join(format!("hs-dbt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(dir.join("target")).unwrap();
        let p = dir.join("target/manifest.json");
        std::fs::write(&p, json).unwrap();
        Project::load(&p, Some("export")).unwrap()
    }

    const MANIFEST: &str = r#"{"metadata":{"project_name":"shop"},"nodes":{
      "model.shop.accounts":{"resource_type":"model","name":"accounts","alias":"accounts","package_name":"shop","config":{"materialized":"external"}},
      "model.shop.fct_usage":{"resource_type":"model","name":"fct_usage","alias":"usage_daily","package_name":"shop","config":{"materialized":"external","location":"lake/usage.parquet"}},
      "model.shop.stg":{"resource_type":"model","name":"stg","alias":"stg","package_name":"shop","config":{"materialized":"table"}},
      "model.shop.csv":{"resource_type":"model","name":"csv","package_name":"shop","config":{"materialized":"external","location":"x/a.csv"}},
      "seed.shop.raw":{"resource_type":"seed","name":"raw","package_name":"shop","config":{}}}}"#;

    #[test]
    fn models_resolve_to_their_external_files() {
        let p = project("resolve", MANIFEST);
        let a = p.location("accounts", "accounts").unwrap().unwrap();
        assert_eq!(a.local_path().unwrap(), p.dir.join("export/accounts.parquet"));
        let u = p.location("usage", "fct_usage").unwrap().unwrap();
        assert_eq!(u.local_path().unwrap(), p.dir.join("lake/usage.parquet"));
        assert!(p.location("tickets", "tickets").unwrap().is_none());
        assert!(!p.model_names().contains(&"raw"), "seeds are not models");
    }

    #[test]
    fn a_model_inside_duckdb_or_not_parquet_is_refused_by_name() {
        let p = project("refuse", MANIFEST);
        let e = p.location("subscriptions", "stg").unwrap_err().to_string();
        assert!(e.contains("warehouse.tables.subscriptions") && e.contains("`stg`") && e.contains("external"), "{e}");
        let e = p.location("usage", "csv").unwrap_err().to_string();
        assert!(e.contains("csv") && e.contains("Parquet"), "{e}");
    }
}
