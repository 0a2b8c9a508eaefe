//! Background services every worker runs beside its tasks, one file each:
//! the [`rescuer`] returns tasks of dead workers, the [`expirer`] ends
//! pending tasks past their deadline to start, the [`pruner`] deletes
//! old records, the [`scheduler`] fires due schedules, the [`reconciler`]
//! refills a delivery path that lost data (only for backends that have
//! one apart from their records) and, on Redis, finishes carrying
//! workflow step ends. All are safe to run on every worker at once.

pub mod expirer;
pub mod pruner;
pub mod reconciler;
pub mod rescuer;
pub mod scheduler;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::client::Client;
use reconciler::ReconcilerConfig;
use scheduler::SchedulerConfig;

/// Settings of the maintenance services.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// How often expired leases are looked for.
    pub rescue_interval: Duration,
    /// How often pending tasks past their deadline to start are looked
    /// for ([`expirer`]).
    pub expire_interval: Duration,
    /// Terminal records older than this are deleted; `None` keeps them
    /// (Celery's `result_expires`).
    pub retention: Option<Duration>,
    /// How often old records are looked for.
    pub prune_interval: Duration,
    /// The scheduler's settings; `None` runs no scheduler in this worker.
    pub scheduler: Option<SchedulerConfig>,
    /// The reconciler's settings (it runs only for backends whose
    /// delivery path is separate from their records, and on Redis).
    pub reconciler: ReconcilerConfig,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            rescue_interval: rescuer::RESCUE_INTERVAL_DEFAULT,
            expire_interval: expirer::EXPIRE_INTERVAL_DEFAULT,
            retention: Some(pruner::RETENTION_DEFAULT),
            prune_interval: pruner::PRUNE_INTERVAL_DEFAULT,
            scheduler: Some(SchedulerConfig::default()),
            reconciler: ReconcilerConfig::default(),
        }
    }
}

/// Runs every service until `stop` fires.
pub async fn run(client: Client, config: MaintenanceConfig, stop: CancellationToken) {
    let backend = client.backend().clone();
    let rescuer = rescuer::run(
        backend.clone(),
        client.registry().clone(),
        config.rescue_interval,
        stop.clone(),
    );
    let expirer = expirer::run(backend.clone(), config.expire_interval, stop.clone());
    let reconciler = reconciler::run(backend.clone(), config.reconciler, stop.clone());
    let pruner = pruner::run(
        backend,
        config.retention,
        config.prune_interval,
        stop.clone(),
    );
    let scheduler = async {
        if let Some(scheduler) = config.scheduler {
            scheduler::run(client, scheduler, stop).await;
        }
    };
    tokio::join!(rescuer, expirer, reconciler, pruner, scheduler);
}
