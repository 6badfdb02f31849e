//! The feature SQL on an Apache DataFusion Ballista cluster
//! (`engine: { kind: ballista, scheduler: df://host:50050 }`).
//!
//! Planning stays in this process: the same session, views, typed contract
//! tables and in-memory relations (the vocabulary, the labelled pairs) as
//! the local engine. Each query's physical plan goes to the scheduler, which
//! cuts it into stages at its shuffles (the hash repartitions in front of
//! every grouped aggregate and join) and runs the stages on its executors;
//! the result batches stream back here. Training and scoring stay on this
//! machine; so do the cached usage rollups (feature set v4), which read one
//! file at a time.
//!
//! The executors read the export themselves, so they must reach the same
//! paths (a shared disk) or the same bucket (with their own credentials).

use std::net::SocketAddr;

use arrow::array::RecordBatch;
use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionConfig};
use datafusion_proto::protobuf::PhysicalPlanNode;

use crate::error::{Error, Result};

/// A connection to a scheduler: where it is and this run's session there.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `http://host:port`, from `df://host:port`.
    pub url: String,
    session_id: String,
    config: SessionConfig,
}

impl Cluster {
    pub fn new(url: String, config: SessionConfig) -> Cluster {
        let mut config = config.upgrade_for_ballista();
        // Ballista prefers sort-merge joins (they spill); DataFusion 55.2's
        // sort-merge join with a join filter panics on feature set v2's plan
        // (index out of bounds in `sort_merge_join/filter.rs`), so the cluster
        // joins by hash, as the local engine does
        config.options_mut().optimizer.prefer_hash_join = true;
        Cluster { url, session_id: uuid::Uuid::new_v4().to_string(), config }
    }

    /// Gives the session that plans here the options Ballista plans with:
    /// among them, uncorrelated scalar subqueries (`(SELECT count(*) FROM t)`)
    /// become joins, since DataFusion's `ScalarSubqueryExec` cannot be split
    /// into stages, and no dynamic filter waits on an operator in another stage.
    pub fn adopt(&self, ctx: &datafusion::prelude::SessionContext) {
        let state = ctx.state_ref();
        let mut state = state.write();
        *state.config_mut().options_mut() = self.config.options().as_ref().clone();
    }

    /// Plans `df` here and runs it on the cluster.
    pub async fn collect(&self, df: DataFrame) -> datafusion::error::Result<Vec<RecordBatch>> {
        let plan = df.create_physical_plan().await?;
        let codec = self.config.ballista_physical_extension_codec();
        let stream =
            execute_physical_plan::<PhysicalPlanNode>(self.url.clone(), &BallistaConfig::default(), plan, codec.as_ref(), self.session_id.clone(), self.config.clone())
                .await
                .map_err(|e| unreachable_scheduler(&self.url, e))?;
        datafusion::physical_plan::common::collect(stream).await
    }
}

/// A scheduler that does not answer is the setup's to fix: say where we looked.
fn unreachable_scheduler(url: &str, e: DataFusionError) -> DataFusionError {
    let text = e.to_string();
    if text.contains("connect") || text.contains("transport error") || text.contains("Connection refused") {
        DataFusionError::Configuration(format!("no Ballista scheduler answers at {url}: start it, or check `engine.scheduler`"))
    } else {
        e
    }
}

/// Starts Ballista's own scheduler and `executors` executors of `vcores`
/// task slots each in this process, on loopback ports the system picks, and
/// returns the scheduler's address. For a cluster on one machine
/// (`healthscore cluster`, the tests, the benchmark); a real cluster runs
/// Ballista's scheduler and executor binaries.
pub async fn start_local(executors: usize, vcores: usize) -> Result<SocketAddr> {
    let addr = ballista_scheduler::standalone::new_standalone_scheduler().await.map_err(|e| Error::other("starting the Ballista scheduler", e))?;
    let url = format!("http://localhost:{}", addr.port());
    let mut tries = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(s) => break s,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(Error::other("connecting to the Ballista scheduler just started", e)),
        }
    };
    for _ in 0..executors.max(1) {
        ballista_executor::new_standalone_executor(scheduler.clone(), vcores.max(1), BallistaCodec::default())
            .await
            .map_err(|e| Error::other("starting a Ballista executor", e))?;
    }
    Ok(addr)
}
