//! DataFusion over the warehouse export: one `SessionContext` per run, object
//! stores registered per bucket, and every contract table registered under its
//! contract name with its columns renamed and cast to one type per kind.
//!
//! Loading is two passes. `inspect` lists each table's files and reads every
//! footer, so a broken file or a wrong column type is reported with the file's
//! name before any query runs. Then each table is registered as
//! `src_<table>` (a ListingTable over exactly those files) under a typed view
//! `<table>`. An optional table that is absent is registered empty, so the
//! feature SQL still plans; the features that need it are dropped.

#[cfg(feature = "ballista")]
pub mod ballista;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool};
use datafusion::logical_expr::{Expr, cast, lit};
use datafusion::prelude::ident;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::config::{Config, TableSource};
use crate::error::{Context, Error, Result};
use crate::contract::{self, Kind};
use crate::location::Location;
use crate::store::{Blob, Stores};

/// One input file, as listed.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub blob: Blob,
    pub size: u64,
    /// What changes when the file is rewritten: the store's ETag, else its
    /// modification time (with the size and path, a cached rollup's key).
    pub version: String,
    /// Path relative to the warehouse base, for messages.
    pub display: String,
    /// Footer statistics per top-level column, when every row group has them.
    pub stats: BTreeMap<String, ColumnStats>,
}

/// What a file's footer proves about a column without reading it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ColumnStats {
    pub nulls: u64,
    /// Largest value as a day number (dates and timestamps), or as a number.
    pub max: Option<f64>,
    pub min: Option<f64>,
}

/// What `inspect` found for one contract table.
#[derive(Debug, Clone)]
pub struct InputTable {
    pub spec: &'static contract::Table,
    pub source: TableSource,
    pub files: Vec<InputFile>,
    /// The table schema (from the first file; every file was checked against the contract).
    pub schema: Option<SchemaRef>,
}

impl InputTable {
    pub fn present(&self) -> bool {
        !self.files.is_empty()
    }
}

pub struct Engine {
    /// DataFusion's session, behind the methods below, so that another engine
    /// (Ballista) can offer the same surface.
    ctx: SessionContext,
    /// Where queries run when not here (`engine.kind: ballista`).
    #[cfg(feature = "ballista")]
    cluster: Option<ballista::Cluster>,
    pub stores: Stores,
    pub cfg: Config,
    pub tables: BTreeMap<&'static str, InputTable>,
    pub warnings: Vec<String>,
    pub export_date: NaiveDate,
}

/// The Arrow type a contract kind is registered as.
pub fn kind_type(k: Kind) -> DataType {
    match k {
        Kind::Str => DataType::Utf8,
        Kind::Num => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Date => DataType::Date32,
        Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// Whether the export's type can stand for a kind.
fn accepts(k: Kind, t: &DataType) -> bool {
    use DataType::*;
    let int = matches!(t, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64);
    match k {
        // dictionary-encoded columns are what polars and pandas `category` write
        _ if matches!(t, Dictionary(..)) => matches!(t, Dictionary(_, v) if accepts(k, v)),
        Kind::Str => matches!(t, Utf8 | LargeUtf8 | Utf8View) || int,
        Kind::Num => int || matches!(t, Float16 | Float32 | Float64 | Decimal128(..) | Decimal256(..)),
        Kind::Bool => matches!(t, Boolean),
        Kind::Date | Kind::Time => matches!(t, Date32 | Date64 | Timestamp(..)),
    }
}

/// Reads every string column as plain `Utf8` (dictionary-encoded ones too):
/// `Utf8View` keys would keep whole decoded pages alive through joins and
/// aggregates.
fn plain_strings(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
}

/// DataFusion's greedy pool, except that `RepartitionExec`'s channel buffers
/// are counted but never refused. Refused, RepartitionExec spills batch by
/// batch through its spill pool, and in DataFusion 55 that can deadlock a
/// grouped aggregate on two partitions under a limit (every worker parks and
/// the query never returns: apache/datafusion#24883, seen here scoring 100,000
/// accounts at 512 MB). The buffers drain as fast as the aggregates read them.
#[derive(Debug)]
struct Pool(TrackConsumersPool<GreedyMemoryPool>);

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl MemoryPool for Pool {
    fn name(&self) -> &str {
        "healthscore"
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.0.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.0.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.0.grow(reservation, additional)
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.0.shrink(reservation, shrink)
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> datafusion::error::Result<()> {
        if reservation.consumer().name().starts_with("RepartitionExec") {
            self.0.grow(reservation, additional);
            return Ok(());
        }
        self.0.try_grow(reservation, additional)
    }
    fn reserved(&self) -> usize {
        self.0.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        self.0.memory_limit()
    }
}

/// One SessionContext per run. Joins, aggregates and sorts share a memory
/// pool of `memory_limit_mb` and spill to disk past it, so a training frame
/// larger than memory still builds.
pub fn session(threads: usize, memory_limit_mb: usize, spill_dir: Option<&std::path::Path>) -> Result<SessionContext> {
    let config = session_config(threads);
    let pool = Pool(TrackConsumersPool::new(GreedyMemoryPool::new(memory_limit_mb << 20), NonZeroUsize::new(5).expect("5 > 0")));
    let mut rt = datafusion::execution::runtime_env::RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool));
    if let Some(d) = spill_dir {
        rt = rt.with_temp_file_path(d);
    }
    let runtime = rt.build_arc().map_err(|e| Error::other("starting the query engine", e))?;
    let state = SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    Ok(SessionContext::new_with_state(state))
}

/// The settings every session of a run shares.
fn session_config(threads: usize) -> SessionConfig {
    let mut config = SessionConfig::new().with_target_partitions(threads.max(1)).with_information_schema(false);
    config.options_mut().optimizer.prefer_hash_join = true;
    config.options_mut().execution.parquet.pushdown_filters = false;
    // Utf8View arrays keep whole decoded pages alive through joins and
    // aggregates (a few bytes of key pin a page); plain Utf8 copies the key.
    config.options_mut().execution.parquet.schema_force_view_types = false;
    config
}

impl Engine {
    /// Opens the export: lists and checks every table's files and registers
    /// them. Problems with files or columns come back as one `Error::Input`.
    pub async fn open(cfg: &Config) -> Result<Engine> {
        let stores = Stores::new(cfg.storage.clone());
        let threads = cfg.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
        let ctx = session(threads, cfg.memory_limit_mb, cfg.spill_dir.as_deref())?;
        let export_date = cfg.export_date.unwrap_or_else(|| chrono::Utc::now().date_naive());
        #[cfg(feature = "ballista")]
        let cluster = cfg.scheduler.clone().map(|url| {
            tracing::info!("the feature SQL runs on the Ballista cluster at {url}; training and scoring here");
            let c = ballista::Cluster::new(url, session_config(threads));
            c.adopt(&ctx);
            c
        });
        let mut engine = Engine {
            ctx,
            #[cfg(feature = "ballista")]
            cluster,
            stores,
            cfg: cfg.clone(),
            tables: BTreeMap::new(),
            warnings: vec![],
            export_date,
        };
        let mut problems = Vec::new();
        for src in &cfg.tables {
            let spec = contract::table(src.name).expect("config tables come from the contract");
            let t = engine.inspect(spec, src, &mut problems).await?;
            engine.tables.insert(spec.name, t);
        }
        if !problems.is_empty() {
            return Err(Error::Input(problems));
        }
        for (root, store) in engine.stores.all() {
            let url = url::Url::parse(&root).map_err(|e| Error::other("store url", e))?;
            engine.ctx.register_object_store(&url, store);
        }
        let names: Vec<&'static str> = engine.tables.keys().copied().collect();
        for name in names {
            engine.register(name).await?;
        }
        Ok(engine)
    }

    /// Whether a table (`usage`) or a table's column (`usage.user_id`) is in the export.
    pub fn present(&self, name: &str) -> bool {
        let (table, column) = name.split_once('.').map_or((name, None), |(t, c)| (t, Some(c)));
        self.tables.get(table).filter(|t| t.present()).is_some_and(|t| match column {
            None => true,
            Some(c) => t.source.columns.get(c).zip(t.schema.as_ref()).is_some_and(|(n, s)| s.field_with_name(n).is_ok()),
        })
    }

    /// What the export has, as feature `requires` name it: every present
    /// table (`usage`) and every column a present table's files carry
    /// (`usage.user_id`), by contract name.
    pub fn present_tables(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for t in self.tables.values().filter(|t| t.present()) {
            out.insert(t.spec.name.to_string());
            if let Some(schema) = &t.schema {
                for c in t.spec.columns {
                    if schema.field_with_name(&t.source.columns[c.name]).is_ok() {
                        out.insert(format!("{}.{}", t.spec.name, c.name));
                    }
                }
            }
        }
        out
    }

    async fn list_files(&self, src: &TableSource) -> Result<Vec<InputFile>> {
        let base = self.stores.blob(&self.cfg.warehouse)?;
        let display = |p: &ObjPath| {
            let s = p.as_ref();
            let b = base.path.as_ref();
            s.strip_prefix(b).map(|r| r.trim_start_matches('/').to_string()).unwrap_or_else(|| s.to_string())
        };
        let loc = &src.location;
        let as_str = loc.0.path().trim_end_matches('/').to_string();
        let folder = self.stores.blob(&Location({
            let mut u = loc.0.clone();
            u.set_path(&format!("{as_str}/"));
            u
        }))?;
        let hidden = |p: &ObjPath, root: &ObjPath| {
            let rel = p.as_ref().strip_prefix(root.as_ref()).unwrap_or(p.as_ref());
            rel.split('/').any(|seg| seg.starts_with('_') || seg.starts_with('.'))
        };
        let mut files: Vec<InputFile> = Vec::new();
        if !as_str.ends_with(".parquet") {
            for m in folder.list_meta().await? {
                let p = &m.location;
                if p.as_ref().ends_with(".parquet") && !hidden(p, &folder.path) {
                    files.push(InputFile { display: display(p), blob: folder.at(p), size: m.size, version: file_version(&m), stats: Default::default() });
                }
            }
        }
        if files.is_empty() {
            // `accounts` may also be the single file `accounts.parquet`.
            let single = if as_str.ends_with(".parquet") { as_str.clone() } else { format!("{as_str}.parquet") };
            let mut u = loc.0.clone();
            u.set_path(&single);
            let blob = self.stores.blob(&Location(u))?;
            if let Ok(meta) = object_store::ObjectStoreExt::head(blob.store.as_ref(), &blob.path).await {
                files.push(InputFile { display: display(&blob.path), blob, size: meta.size, version: file_version(&meta), stats: Default::default() });
            }
        }
        Ok(files)
    }

    async fn inspect(&self, spec: &'static contract::Table, src: &TableSource, problems: &mut Vec<String>) -> Result<InputTable> {
        let files = self.list_files(src).await?;
        let mut t = InputTable { spec, source: src.clone(), files: vec![], schema: None };
        if files.is_empty() {
            if spec.required {
                problems.push(format!(
                    "`{}`: required table not found at `{}` (a Parquet file `{}.parquet` or a folder of Parquet files)",
                    spec.name, src.location, spec.name
                ));
            }
            return Ok(t);
        }
        let footers = futures::stream::iter(files.iter().cloned().map(|f| async move {
            let r = read_schema(&f).await;
            (f, r)
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        let mut first: Option<SchemaRef> = None;
        let before = problems.len();
        for (mut f, schema) in footers {
            let schema = match schema {
                Ok((s, stats)) => {
                    f.stats = stats;
                    s
                }
                Err(e) => {
                    problems.push(format!("`{}` file `{}`: not readable as Parquet: {e}", spec.name, f.display));
                    continue;
                }
            };
            for c in spec.columns {
                let name = &src.columns[c.name];
                let shown = if name == c.name { format!("`{name}`") } else { format!("`{name}` (mapped to `{}`)", c.name) };
                match schema.field_with_name(name) {
                    Err(_) if c.required => problems.push(format!(
                        "`{}` file `{}`: missing required column {shown}{}",
                        spec.name,
                        f.display,
                        suggest(spec.name, c.name, name, schema.fields().iter().map(|f| f.name().as_str()))
                    )),
                    Err(_) => {}
                    Ok(field) if !accepts(c.kind, field.data_type()) => problems.push(format!(
                        "`{}` file `{}`: column {shown} is {}, expected {}",
                        spec.name,
                        f.display,
                        field.data_type(),
                        c.kind.describe()
                    )),
                    Ok(_) => {}
                }
            }
            if first.is_none() {
                first = Some(schema);
            }
            t.files.push(f);
        }
        if problems.len() == before {
            t.schema = first.map(|s| Arc::new(plain_strings(&s)));
        }
        Ok(t)
    }

    /// The typed projection from the export's columns to the contract's.
    fn contract_exprs(spec: &contract::Table, src: &TableSource, schema: &Schema) -> Vec<Expr> {
        spec.columns
            .iter()
            .map(|c| {
                let name = &src.columns[c.name];
                let target = kind_type(c.kind);
                let e = if schema.field_with_name(name).is_ok() {
                    cast(ident(name), target.clone())
                } else if spec.name == "usage" && c.name == "events" {
                    // a raw event table: each row is one event
                    lit(1.0f64)
                } else {
                    lit(ScalarValue::try_from(&target).unwrap_or(ScalarValue::Null))
                };
                e.alias(c.name)
            })
            .collect()
    }

    /// Registers `files` of `table` as a ListingTable named `src` and returns
    /// the typed contract view over it as a DataFrame.
    pub async fn typed_frame(&self, table: &str, files: &[InputFile], src_name: &str) -> Result<DataFrame> {
        self.typed_frame_in(&self.ctx, table, files, src_name).await
    }

    async fn typed_frame_in(&self, ctx: &SessionContext, table: &str, files: &[InputFile], src_name: &str) -> Result<DataFrame> {
        let t = &self.tables[table];
        let schema = t.schema.clone().expect("present tables have a schema");
        let urls = files.iter().map(|f| f.blob.location.clone()).collect::<Vec<_>>();
        register_listing(ctx, src_name, &urls, schema.clone()).context(format!("`{table}`: cannot register"))?;
        let df = ctx.table(src_name).await.context(format!("`{table}`: cannot read"))?;
        df.select(Self::contract_exprs(t.spec, &t.source, &schema)).context(format!("`{table}`: cannot map its columns"))
    }

    /// Computes `outputs` over one file of `table`, in a session of their
    /// own (sharing this one's memory pool and stores) in which the SQL reads
    /// that file as `table`, beside copies of this session's `provided`
    /// relations. `views` (name, SQL, whether to hold it in memory) are
    /// defined in order first; a view several outputs read is held, so the
    /// file is scanned once. Each output's batches go to `sink` (with the
    /// output's index) as they come; its schema is returned.
    pub async fn over_file(
        &self,
        table: &str,
        file: &InputFile,
        provided: &[&str],
        views: &[(&str, &str, bool)],
        outputs: &[&str],
        mut sink: impl FnMut(usize, &RecordBatch) -> Result<()>,
    ) -> Result<Vec<SchemaRef>> {
        let state = SessionStateBuilder::new()
            .with_config(session_config(self.ctx.state().config().target_partitions()))
            .with_runtime_env(self.ctx.runtime_env())
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        let df = self.typed_frame_in(&ctx, table, std::slice::from_ref(file), &format!("src_{table}")).await?;
        ctx.register_table(table, df.into_view()).context(format!("`{table}`: cannot register"))?;
        for name in provided {
            let t = self.ctx.table_provider(*name).await.context(format!("reading `{name}`"))?;
            ctx.register_table(*name, t).context(format!("registering `{name}`"))?;
        }
        let what = |name: &str| format!("view `{name}` over `{table}` file `{}`", file.display);
        for (name, sql, hold) in views {
            let plan = ctx.sql(sql).await.map_err(|e| Error::Config(format!("{}: {e}", what(name))))?;
            if *hold {
                let schema = Arc::new(plan.schema().as_arrow().clone());
                let batches = plan.collect().await.map_err(|e| self.query_error(what(name), e))?;
                let mem = MemTable::try_new(schema, vec![batches]).context(format!("cannot hold `{name}`"))?;
                ctx.register_table(*name, Arc::new(mem)).map_err(|e| Error::other(format!("registering view `{name}`"), e))?;
            } else {
                ctx.register_table(*name, plan.into_view()).map_err(|e| Error::other(format!("registering view `{name}`"), e))?;
            }
        }
        let mut schemas = Vec::new();
        for (i, name) in outputs.iter().enumerate() {
            let plan = ctx.table(*name).await.map_err(|e| Error::Config(format!("{}: {e}", what(name))))?;
            schemas.push(Arc::new(plan.schema().as_arrow().clone()));
            let mut stream = plan.execute_stream().await.map_err(|e| self.query_error(what(name), e))?;
            while let Some(b) = stream.next().await {
                sink(i, &b.map_err(|e| self.query_error(what(name), e))?)?;
            }
        }
        Ok(schemas)
    }

    /// Registers the Parquet files at `files` as the table `name` with
    /// `schema`, replacing one of the same name.
    pub fn register_files(&self, name: &str, files: &[Location], schema: SchemaRef) -> Result<()> {
        register_listing(&self.ctx, name, files, schema).context(format!("cannot register `{name}`"))
    }

    async fn register(&mut self, table: &'static str) -> Result<()> {
        let t = self.tables[table].clone();
        if t.present() {
            let df = self.typed_frame(table, &t.files, &format!("src_{table}")).await?;
            self.ctx.register_table(table, df.into_view()).context(format!("`{table}`: cannot register"))?;
        } else {
            let schema = Arc::new(Schema::new(
                t.spec.columns.iter().map(|c| Field::new(c.name, kind_type(c.kind), true)).collect::<Vec<_>>(),
            ));
            let mem = MemTable::try_new(schema, vec![vec![]]).context("empty table")?;
            self.ctx.register_table(table, Arc::new(mem)).context(format!("`{table}`: cannot register"))?;
            if !t.spec.required && !crate::contract::REPORT_ONLY.contains(&t.spec.name) {
                self.warnings.push(format!(
                    "`{table}` ({}) not found at `{}`: the features that read it are dropped; the run continues",
                    t.spec.about, t.source.location
                ));
            }
        }
        Ok(())
    }

    /// Runs a query and collects its batches.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let df = self.ctx.sql(sql).await.map_err(|e| self.query_error("planning a query", e))?;
        // EXPLAIN ANALYZE times the plan where it runs: here
        let here = sql.trim_start().get(..7).is_some_and(|w| w.eq_ignore_ascii_case("explain"));
        if here {
            return df.collect().await.map_err(|e| self.query_error("running a query", e));
        }
        self.collect(df).await.map_err(|e| self.query_error("running a query", e))
    }

    /// Runs `df` here, or on the Ballista cluster when there is one.
    async fn collect(&self, df: DataFrame) -> datafusion::error::Result<Vec<RecordBatch>> {
        #[cfg(feature = "ballista")]
        if let Some(c) = &self.cluster {
            return c.collect(df).await;
        }
        df.collect().await
    }

    /// Whether queries run on a Ballista cluster.
    pub fn distributed(&self) -> bool {
        #[cfg(feature = "ballista")]
        return self.cluster.is_some();
        #[cfg(not(feature = "ballista"))]
        false
    }

    /// A failed query as our error. Running out of the memory pool is the
    /// setup's to fix, not a crash: exit 2 and one sentence naming the
    /// setting, never DataFusion's dump.
    pub fn query_error(&self, context: impl Into<String>, e: datafusion::error::DataFusionError) -> Error {
        let context = context.into();
        let text = e.to_string();
        if let Some(at) = text.find("no Ballista scheduler answers at") {
            return Error::Usage(format!("{context}: {}", &text[at..]));
        }
        let exhausted = matches!(e.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_)) || text.contains("Resources exhausted");
        if !exhausted {
            return Error::other(context, e);
        }
        // "Failed to allocate additional 544.0 MB for HashJoinInput…"
        let wanted = text.split("allocate additional ").nth(1).and_then(|t| t.split(" for ").next()).map(|w| format!(" (one step asked for {w} more)")).unwrap_or_default();
        let machine = crate::config::machine_memory_mb().map(|m| format!("; this machine has {m} MB")).unwrap_or_default();
        Error::Usage(format!(
            "{context}: the query engine needs more memory than `engine.memory_limit_mb` ({} MB) allows{wanted}: raise `engine.memory_limit_mb`{machine}",
            self.cfg.memory_limit_mb
        ))
    }

    /// Defines the view `name` by `sql`, replacing one of the same name;
    /// `materialize` computes it once and holds the result in memory (a
    /// view several others read). `what` names the SQL file in errors.
    pub async fn define_view(&self, name: &str, sql: &str, materialize: bool, what: &str) -> Result<()> {
        let _ = self.ctx.deregister_table(name);
        let plan = self.ctx.sql(sql).await.map_err(|e| Error::Config(format!("{what}: {e}")))?;
        // on a cluster a view held here would travel inside every plan that
        // reads it (and past gRPC's message limit): the executors recompute it
        if materialize && !self.distributed() {
            let schema = Arc::new(plan.schema().as_arrow().clone());
            let batches = self.collect(plan).await.map_err(|e| self.query_error(what, e))?;
            return self.register_batches(name, schema, batches);
        }
        self.ctx.register_table(name, plan.into_view()).map_err(|e| Error::other(format!("registering view `{name}`"), e))?;
        Ok(())
    }

    /// The schema a query would return, from its plan (nothing runs).
    pub async fn plan_schema(&self, sql: &str, what: &str) -> Result<SchemaRef> {
        let plan = self.ctx.sql(sql).await.map_err(|e| Error::Config(format!("{what}: {e}")))?;
        Ok(Arc::new(plan.schema().as_arrow().clone()))
    }

    /// The column names of a registered table or view.
    pub async fn columns_of(&self, name: &str) -> Result<Vec<String>> {
        let df = self.ctx.table(name).await.context(format!("reading `{name}`"))?;
        Ok(df.schema().fields().iter().map(|f| f.name().clone()).collect())
    }

    /// Registers the Parquet files under `folder` as `name`, replacing one of
    /// the same name.
    pub async fn register_parquet(&self, name: &str, folder: &Location) -> Result<()> {
        let _ = self.ctx.deregister_table(name);
        self.ctx.register_parquet(name, folder.as_str(), Default::default()).await.map_err(|e| Error::other(format!("reading `{name}`"), e))
    }

    /// Makes a scalar function callable from the SQL (`sentiment(text)`).
    pub fn register_udf(&self, udf: datafusion::logical_expr::ScalarUDF) {
        self.ctx.register_udf(udf);
    }

    /// Registers a small in-memory table, replacing one of the same name.
    pub fn register_batches(&self, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        let mem = MemTable::try_new(schema, vec![batches]).context(format!("cannot build `{name}`"))?;
        let _ = self.ctx.deregister_table(name);
        self.ctx.register_table(name, Arc::new(mem)).context(format!("cannot register `{name}`"))?;
        Ok(())
    }
}

/// A ListingTable over exactly `files`, replacing a table of the same name.
fn register_listing(ctx: &SessionContext, name: &str, files: &[Location], schema: SchemaRef) -> datafusion::error::Result<()> {
    let urls = files.iter().map(|f| ListingTableUrl::parse(f.as_str())).collect::<datafusion::error::Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let lt = ListingTable::try_new(ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema))?;
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, Arc::new(lt))?;
    Ok(())
}

/// A listed object's ETag, else its modification time.
fn file_version(m: &object_store::ObjectMeta) -> String {
    m.e_tag.clone().unwrap_or_else(|| m.last_modified.to_rfc3339())
}

/// Reads a Parquet file's footer and returns its Arrow schema.
async fn read_schema(f: &InputFile) -> std::result::Result<(SchemaRef, BTreeMap<String, ColumnStats>), String> {
    if f.size < 12 {
        return Err(format!("{} bytes is too small for a Parquet file", f.size));
    }
    let store = &f.blob.store;
    let tail = store.get_range(&f.blob.path, f.size - 8..f.size).await.map_err(|e| e.to_string())?;
    if &tail[4..8] != b"PAR1" {
        return Err("no Parquet footer (the file does not end in `PAR1`)".into());
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 8 > f.size {
        return Err("the footer length is corrupt".into());
    }
    let meta = store.get_range(&f.blob.path, f.size - 8 - len..f.size - 8).await.map_err(|e| e.to_string())?;
    let md = ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| e.to_string())?;
    let fm = md.file_metadata();
    let schema = parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata()).map_err(|e| e.to_string())?;
    let stats = footer_stats(&md, &schema);
    Ok((Arc::new(schema), stats))
}

/// Per-column null counts and min/max over every row group, for columns whose
/// every row group carries them; values as day numbers for dates and
/// timestamps. `validate` skips a scan that the footers already answer.
fn footer_stats(md: &parquet::file::metadata::ParquetMetaData, schema: &Schema) -> BTreeMap<String, ColumnStats> {
    use parquet::file::statistics::Statistics as S;
    struct Acc {
        nulls: Option<u64>,
        min: Option<f64>,
        max: Option<f64>,
        min_ok: bool,
        max_ok: bool,
    }
    let mut out: BTreeMap<String, Acc> = BTreeMap::new();
    for rg in md.row_groups() {
        for cc in rg.columns() {
            let name = cc.column_path().string();
            let Ok(field) = schema.field_with_name(&name) else { continue };
            let per_day = match field.data_type() {
                DataType::Date32 => Some(1.0),
                DataType::Timestamp(TimeUnit::Second, _) => Some(86_400.0),
                DataType::Timestamp(TimeUnit::Millisecond, _) => Some(86_400e3),
                DataType::Timestamp(TimeUnit::Microsecond, _) => Some(86_400e6),
                DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(86_400e9),
                _ => None,
            };
            let num = |v: f64| per_day.map(|d| (v / d).floor()).unwrap_or(v);
            let (min, max, nulls) = match cc.statistics() {
                Some(S::Int32(v)) => (v.min_opt().map(|x| num(*x as f64)), v.max_opt().map(|x| num(*x as f64)), v.null_count_opt()),
                Some(S::Int64(v)) => (v.min_opt().map(|x| num(*x as f64)), v.max_opt().map(|x| num(*x as f64)), v.null_count_opt()),
                Some(S::Double(v)) => (v.min_opt().copied(), v.max_opt().copied(), v.null_count_opt()),
                Some(other) => (None, None, other.null_count_opt()),
                None => (None, None, None),
            };
            let a = out.entry(name).or_insert(Acc { nulls: Some(0), min: None, max: None, min_ok: true, max_ok: true });
            a.nulls = a.nulls.zip(nulls).map(|(x, y)| x + y);
            a.min_ok &= min.is_some();
            a.max_ok &= max.is_some();
            a.min = a.min.into_iter().chain(min).reduce(f64::min);
            a.max = a.max.into_iter().chain(max).reduce(f64::max);
        }
    }
    out.into_iter()
        .filter_map(|(k, a)| {
            Some((k, ColumnStats { nulls: a.nulls?, min: a.min.filter(|_| a.min_ok), max: a.max.filter(|_| a.max_ok) }))
        })
        .collect()
}

/// " (did you mean `x`? …)" when a column with a close name exists, with the
/// config line that maps the contract's `column` of `table` to it.
pub fn suggest<'a>(table: &str, column: &str, name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_ascii_lowercase();
    let best = candidates
        .map(|c| {
            let lc = c.to_ascii_lowercase();
            // `date` → `event_date`: a name inside the other counts as close
            let d = if lc.contains(&lower) || lower.contains(&lc) { 1 } else { strsim(&lower, &lc) };
            (d, c)
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`? map it in the config: `warehouse.tables.{table}.columns: {{ {column}: {c} }}`)"),
        None => String::new(),
    }
}

/// Edit distance, for "did you mean".
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_refuses_operators_past_its_limit_but_never_repartition_buffers() {
        let pool: Arc<dyn MemoryPool> = Arc::new(Pool(TrackConsumersPool::new(GreedyMemoryPool::new(1000), NonZeroUsize::new(5).unwrap())));
        let aggregate = MemoryConsumer::new("GroupedHashAggregateStream[0]").with_can_spill(true).register(&pool);
        let channel = MemoryConsumer::new("RepartitionExec[1]").with_can_spill(true).register(&pool);
        channel.try_grow(900).unwrap();
        assert!(aggregate.try_grow(200).is_err(), "an aggregate past the limit must spill");
        channel.try_grow(500).unwrap();
        assert_eq!(pool.reserved(), 1400, "the channel's bytes are still counted");
        drop(channel);
        aggregate.try_grow(200).unwrap();
        assert_eq!(pool.reserved(), 200);
    }
}
