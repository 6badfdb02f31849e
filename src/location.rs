//! Where things are: a folder or file on local disk or in an object store,
//! always as a URL. A leaf: it knows paths and URL schemes, nothing else.

use std::path::{Path, PathBuf};

use url::Url;

use crate::error::{Error, Result};

/// A place on local disk or in an object store, always as a URL
/// (`file:///abs/path/` or `s3://bucket/prefix/`), ending in `/` for folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location(pub Url);

impl Location {
    /// Parses `s` as a URL when it has a scheme, else as a path relative to `base`.
    pub fn parse(s: &str, base: &Path, key: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Config(format!("`{key}` is empty")));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if scheme.len() > 1 {
                let mut url = Url::parse(s).map_err(|e| Error::Config(format!("`{key}`: `{s}` is not a valid URL: {e}")))?;
                if !url.path().ends_with('/') {
                    let p = format!("{}/", url.path());
                    url.set_path(&p);
                }
                return match url.scheme() {
                    "file" | "s3" | "gs" | "az" | "abfs" | "abfss" | "memory" => Ok(Location(url)),
                    other => Err(Error::Config(format!(
                        "`{key}`: unsupported scheme `{other}://`; use a path, file://, s3://, gs:// or az://"
                    ))),
                };
            }
        }
        let p = if Path::new(s).is_absolute() { PathBuf::from(s) } else { base.join(s) };
        let p = normalize(&p);
        let url = Url::from_directory_path(&p)
            .map_err(|_| Error::Config(format!("`{key}`: `{}` is not a usable path", p.display())))?;
        Ok(Location(url))
    }

    pub fn is_local(&self) -> bool {
        self.0.scheme() == "file"
    }

    /// The local folder, for a `file://` location.
    pub fn local_path(&self) -> Option<PathBuf> {
        if self.is_local() { self.0.to_file_path().ok() } else { None }
    }

    /// A child location (file or folder) under this folder.
    pub fn join(&self, rel: &str) -> Location {
        Location(self.0.join(rel).expect("joining a relative path to a folder URL"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.local_path() {
            Some(p) => write!(f, "{}", p.display()),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Removes `.` and `..` segments without touching the disk (the folder may not exist yet).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
