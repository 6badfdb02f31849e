//! The model registry under `models.dir`: `<name>/<version>/` holds
//! `model.txt` (churn hazard), `expansion.txt`, `calibration.json` and
//! `card.json`; `<name>/current` names the version scoring uses. Versions
//! are `v1`, `v2`, … in training order. Files are written before `current`
//! moves, so a crash mid-write never leaves `current` naming half a model.

use bytes::Bytes;

use super::card::{Calibration, Card};
use crate::config::Config;
use crate::store::{Blob, Stores};
use crate::error::{Error, Result};

pub struct Registry {
    root: Blob,
    pub name: String,
}

/// A version's files as stored.
pub struct Stored {
    pub card: Card,
    pub model: Option<String>,
    pub expansion: Option<String>,
    pub calibration: Option<Calibration>,
}

impl Registry {
    pub fn open(stores: &Stores, cfg: &Config) -> Result<Registry> {
        let root = stores.blob(&cfg.models_dir.join(&format!("{}/", cfg.model_name)))?;
        Ok(Registry { root, name: cfg.model_name.clone() })
    }

    pub fn location(&self) -> String {
        self.root.location.to_string()
    }

    async fn text(&self, rel: &str) -> Result<Option<String>> {
        match self.root.child(rel).get().await? {
            Some(b) => Ok(Some(String::from_utf8(b.to_vec()).map_err(|e| Error::other(format!("`{rel}` is not text"), e))?)),
            None => Ok(None),
        }
    }

    /// The version `current` names, if any.
    pub async fn current(&self) -> Result<Option<String>> {
        Ok(self.text("current").await?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
    }

    pub async fn versions(&self) -> Result<Vec<u32>> {
        let mut out: Vec<u32> = self
            .root
            .list()
            .await?
            .iter()
            .filter_map(|(p, _)| {
                let rel = p.as_ref().strip_prefix(self.root.path.as_ref())?.trim_start_matches('/');
                let (dir, file) = rel.split_once('/')?;
                (file == "card.json").then(|| dir.strip_prefix('v')?.parse().ok())?
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    pub async fn next_version(&self) -> Result<String> {
        Ok(format!("v{}", self.versions().await?.last().copied().unwrap_or(0) + 1))
    }

    pub async fn load(&self, version: &str) -> Result<Stored> {
        let card_text = self
            .text(&format!("{version}/card.json"))
            .await?
            .ok_or_else(|| Error::Usage(format!("model `{}` version `{version}` has no card.json under {}", self.name, self.location())))?;
        let card: Card = serde_json::from_str(&card_text).map_err(|e| Error::other(format!("reading `{version}/card.json`"), e))?;
        let calibration = match self.text(&format!("{version}/calibration.json")).await? {
            Some(t) => Some(serde_json::from_str(&t).map_err(|e| Error::other(format!("reading `{version}/calibration.json`"), e))?),
            None => None,
        };
        Ok(Stored {
            card,
            model: self.text(&format!("{version}/model.txt")).await?,
            expansion: self.text(&format!("{version}/expansion.txt")).await?,
            calibration,
        })
    }

    /// Writes a version's files (the card last).
    pub async fn save(&self, s: &Stored) -> Result<()> {
        let v = &s.card.version;
        if let Some(m) = &s.model {
            self.root.child(&format!("{v}/model.txt")).put(Bytes::from(m.clone())).await?;
        }
        if let Some(m) = &s.expansion {
            self.root.child(&format!("{v}/expansion.txt")).put(Bytes::from(m.clone())).await?;
        }
        if let Some(c) = &s.calibration {
            let t = serde_json::to_string_pretty(c).map_err(|e| Error::other("calibration", e))?;
            self.root.child(&format!("{v}/calibration.json")).put(Bytes::from(t)).await?;
        }
        let t = serde_json::to_string_pretty(&s.card).map_err(|e| Error::other("card", e))?;
        self.root.child(&format!("{v}/card.json")).put(Bytes::from(t)).await
    }

    /// Points `current` at `version` (one object write: atomic).
    pub async fn promote(&self, version: &str) -> Result<()> {
        self.root.child("current").put(Bytes::from(format!("{version}\n"))).await
    }
}
