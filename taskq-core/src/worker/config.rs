//! A worker's settings and their named defaults.

use std::time::Duration;

use crate::maintenance::MaintenanceConfig;

/// How long a claimed task's lease lasts without renewal. A worker that
/// dies is noticed this long after its last heartbeat.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(30);
/// How often a worker renews its leases, learns of cancel requests and
/// control requests (pause, resume, shutdown), and reports itself.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// How often an idle worker looks for work it was not signalled about
/// (other processes' submissions, ETAs coming due).
pub const POLL_INTERVAL_DEFAULT: Duration = Duration::from_millis(500);
/// How long a cancelled handler has to return before it is aborted.
pub const CANCEL_GRACE_DEFAULT: Duration = Duration::from_secs(5);
/// How long shutdown waits for in-flight tasks before releasing them.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(30);

/// Settings of a [`Worker`](super::Worker), with the defaults above.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub lease: Duration,
    pub heartbeat_interval: Duration,
    pub poll_interval: Duration,
    pub cancel_grace: Duration,
    pub shutdown_grace: Duration,
    pub maintenance: MaintenanceConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: LEASE_DEFAULT,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            poll_interval: POLL_INTERVAL_DEFAULT,
            cancel_grace: CANCEL_GRACE_DEFAULT,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            maintenance: MaintenanceConfig::default(),
        }
    }
}
