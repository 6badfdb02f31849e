//! Object stores: one per bucket (or the local disk), built once and shared by
//! reads, writes and DataFusion.
//!
//! Credentials come from the environment the way each SDK reads them
//! (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`…);
//! the config's `storage:` map adds non-secret options such as an endpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use url::Url;

use crate::location::Location;
use crate::error::{Context, Error, Result};

/// What a store's refusal means for the person running the job, when it is
/// the setup's fault rather than a passing fault: refused credentials, a
/// bucket or container that does not exist, a bucket in another region.
/// Some SDK errors carry the server's status only in their text.
fn refused(e: &object_store::Error) -> Option<&'static str> {
    let text = e.to_string();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    match e {
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            Some("the store refused the credentials: check the account and key in the environment")
        }
        _ if has(&["NoSuchBucket", "ContainerNotFound", "bucket does not exist", "The specified bucket"]) => {
            Some("the bucket or container does not exist")
        }
        _ if has(&["PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraint"]) => {
            Some("the bucket is in another region: set `storage.aws_region`")
        }
        _ if has(&["403 Forbidden", "401 Unauthorized", "AuthorizationFailure", "AuthenticationFailed", "InvalidAccessKeyId", "SignatureDoesNotMatch"]) => {
            Some("the store refused the credentials: check the account and key in the environment")
        }
        _ => None,
    }
}

/// A store's error under `what`: exit 2 and one sentence when the setup is
/// wrong (the server's own text, which may echo request details, is left
/// out), else the error with its causes.
fn store_error(what: String, e: object_store::Error) -> Error {
    match refused(&e) {
        Some(why) => Error::Usage(format!("{what}: {why}")),
        None => Error::other(what, e),
    }
}

#[derive(Clone, Default)]
pub struct Stores {
    options: BTreeMap<String, String>,
    cache: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

/// A file or folder in some store.
#[derive(Clone)]
pub struct Blob {
    pub store: Arc<dyn ObjectStore>,
    pub path: ObjPath,
    pub location: Location,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({})", self.location)
    }
}

/// `scheme://host` — the key under which a store is registered with DataFusion.
pub fn store_root(url: &Url) -> String {
    match url.scheme() {
        "file" => "file://".to_string(),
        s => format!("{s}://{}", url.host_str().unwrap_or("")),
    }
}

impl Stores {
    pub fn new(options: BTreeMap<String, String>) -> Self {
        Stores { options, cache: Default::default() }
    }

    /// The store behind `url`, built on first use.
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let root = store_root(url);
        let mut cache = self.cache.lock().unwrap();
        if let Some(s) = cache.get(&root) {
            return Ok(s.clone());
        }
        let opts = self.options.iter();
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => Arc::new(object_store::local::LocalFileSystem::new()),
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            "s3" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
                for (k, v) in opts {
                    let key = k.parse().map_err(|_| Error::Config(format!("`storage.{k}`: not an S3 option")))?;
                    b = b.with_config(key, v.clone());
                }
                Arc::new(b.build().context(format!("cannot open `{root}`"))?)
            }
            "gs" => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
                for (k, v) in opts {
                    let key = k.parse().map_err(|_| Error::Config(format!("`storage.{k}`: not a GCS option")))?;
                    b = b.with_config(key, v.clone());
                }
                Arc::new(b.build().context(format!("cannot open `{root}`"))?)
            }
            "az" | "abfs" | "abfss" => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                for (k, v) in opts {
                    let key = k.parse().map_err(|_| Error::Config(format!("`storage.{k}`: not an Azure option")))?;
                    b = b.with_config(key, v.clone());
                }
                Arc::new(b.build().context(format!("cannot open `{root}`"))?)
            }
            other => return Err(Error::Config(format!("unsupported location scheme `{other}://`"))),
        };
        cache.insert(root, store.clone());
        Ok(store)
    }

    pub fn blob(&self, loc: &Location) -> Result<Blob> {
        let store = self.store(&loc.0)?;
        let path = match loc.local_path() {
            Some(p) => ObjPath::from_absolute_path(&p).context(format!("bad path `{}`", p.display()))?,
            None => ObjPath::from_url_path(loc.0.path()).context(format!("bad path `{}`", loc.0))?,
        };
        Ok(Blob { store, path, location: loc.clone() })
    }

    /// Every store built so far, for registering with DataFusion.
    pub fn all(&self) -> Vec<(String, Arc<dyn ObjectStore>)> {
        self.cache.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl Blob {
    pub fn child(&self, rel: &str) -> Blob {
        let location = self.location.join(rel);
        let mut path = self.path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path = path.clone().join(part);
        }
        Blob { store: self.store.clone(), path, location }
    }

    pub async fn put(&self, bytes: Bytes) -> Result<()> {
        self.store.put(&self.path, PutPayload::from_bytes(bytes)).await.map_err(|e| store_error(format!("cannot write `{}`", self.location), e))?;
        self.sync_local(true)
    }

    /// On a local disk, flushes the file (when `file`) and its folder to the
    /// device, so a write, or a rename that publishes it, survives a crash
    /// of the machine and not only of the process. Object stores commit on
    /// their own.
    fn sync_local(&self, file: bool) -> Result<()> {
        if self.location.0.scheme() != "file" {
            return Ok(());
        }
        let Ok(path) = self.location.0.to_file_path() else { return Ok(()) };
        let flush = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
        if file {
            flush(&path).context(format!("cannot flush `{}`", self.location))?;
        }
        if let Some(dir) = path.parent() {
            flush(dir).context(format!("cannot flush the folder of `{}`", self.location))?;
        }
        Ok(())
    }

    /// Writes only if nothing is there yet; `Ok(false)` when something was.
    pub async fn put_if_absent(&self, bytes: Bytes) -> Result<bool> {
        match self.store.put_opts(&self.path, PutPayload::from_bytes(bytes), PutMode::Create.into()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(store_error(format!("cannot write `{}`", self.location), e)),
        }
    }

    /// The object's bytes, or `None` when it does not exist.
    pub async fn get(&self) -> Result<Option<Bytes>> {
        match self.store.get(&self.path).await {
            Ok(r) => Ok(Some(r.bytes().await.context(format!("cannot read `{}`", self.location))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(format!("cannot read `{}`", self.location), e)),
        }
    }

    pub async fn exists(&self) -> Result<bool> {
        match self.store.head(&self.path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(format!("cannot read `{}`", self.location), e)),
        }
    }

    pub async fn delete(&self) -> Result<()> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(format!("cannot delete `{}`", self.location), e)),
        }
    }

    /// Moves this object over `to`, replacing it. On a local disk this is one
    /// `rename(2)`; on an object store a copy (itself atomic for the target)
    /// followed by deleting the source.
    pub async fn rename_over(&self, to: &Blob) -> Result<()> {
        self.store.rename(&self.path, &to.path).await.map_err(|e| store_error(format!("cannot publish `{}`", to.location), e))?;
        to.sync_local(false)
    }

    /// Every object under this folder, sorted by path, with sizes.
    pub async fn list(&self) -> Result<Vec<(ObjPath, u64)>> {
        Ok(self.list_meta().await?.into_iter().map(|m| (m.location, m.size)).collect())
    }

    /// Every object under this folder, sorted by path, as the store describes
    /// it (size, ETag, last modified).
    pub async fn list_meta(&self) -> Result<Vec<ObjectMeta>> {
        let prefix = if self.path.as_ref().is_empty() { None } else { Some(&self.path) };
        let mut out: Vec<ObjectMeta> =
            self.store.list(prefix).try_collect().await.map_err(|e| store_error(format!("cannot list `{}`", self.location), e))?;
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// The blob for an object path listed under this store.
    pub fn at(&self, path: &ObjPath) -> Blob {
        let mut url = self.location.0.clone();
        let base = store_root(&url);
        let s = if base == "file://" { format!("file:///{path}") } else { format!("{base}/{path}") };
        url = Url::parse(&s).unwrap_or(url);
        Blob { store: self.store.clone(), path: path.clone(), location: Location(url) }
    }
}
