//! taskq's schema migrations (sea-orm-migration), written with sea-query's
//! builders so they run on SQLite, PostgreSQL and MySQL alike.
//!
//! [`crate::SeaBackend::connect`] runs them through [`Migrator`], which
//! records them in its own table, `taskq_migrations`, so it never mixes
//! with a host's `seaql_migrations`.
//!
//! A host with its own SeaORM migrator can instead splice taskq's
//! migrations into it with [`migrations`], and open the backend with
//! [`crate::SeaBackend::from_connection`] (which does not migrate):
//!
//! ```
//! use sea_orm_migration::prelude::*;
//!
//! # #[derive(DeriveMigrationName)]
//! # struct m20250101_000001_create_users;
//! # #[async_trait::async_trait]
//! # impl MigrationTrait for m20250101_000001_create_users {
//! #     async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> { Ok(()) }
//! # }
//! /// The host application's migrator.
//! pub struct Migrator;
//!
//! #[async_trait::async_trait]
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         let mut migrations: Vec<Box<dyn MigrationTrait>> =
//!             vec![Box::new(m20250101_000001_create_users)];
//!         // taskq's tables, in their own order, after the host's.
//!         migrations.extend(taskq_sea::migration::migrations());
//!         migrations
//!     }
//! }
//! ```
//!
//! Every taskq migration is idempotent (`IF NOT EXISTS`), so running both
//! the host's migrator and [`Migrator`] against one database is harmless.

mod columns;
mod m20261122_000001_taskq_create_tables;
mod m20261124_000001_taskq_schedules;
mod m20261124_000002_taskq_workers;
mod m20261124_000003_taskq_schedule_revision;
mod m20261205_000001_taskq_worker_task_types;
mod m20261207_000001_taskq_unique_keys;
mod m20261207_000002_taskq_queue_limits;
mod m20261207_000010_taskq_workflow_steps;
mod m20261207_000016_taskq_queue_rates;
mod m20261208_000040_taskq_schedule_workflows;
mod m20261208_000041_taskq_counts;
mod m20261208_000050_taskq_task_history;
mod m20261208_000051_taskq_snooze_expiry;
mod m20261208_000060_taskq_type_limits;
mod m20261209_000060_taskq_trace_context;
mod m20261209_000070_taskq_fair_queues;
mod m20261210_000080_taskq_type_rates;
mod m20261210_000085_taskq_fair_held;
mod m20261210_000090_taskq_fair_weights;

use sea_orm_migration::prelude::*;

/// taskq's migrations in order, for splicing into a host's migrator. Their
/// names start with `m…_taskq_` so they do not collide with the host's.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261122_000001_taskq_create_tables::Migration),
        Box::new(m20261124_000001_taskq_schedules::Migration),
        Box::new(m20261124_000002_taskq_workers::Migration),
        Box::new(m20261124_000003_taskq_schedule_revision::Migration),
        Box::new(m20261205_000001_taskq_worker_task_types::Migration),
        Box::new(m20261207_000001_taskq_unique_keys::Migration),
        Box::new(m20261207_000002_taskq_queue_limits::Migration),
        Box::new(m20261207_000010_taskq_workflow_steps::Migration),
        Box::new(m20261207_000016_taskq_queue_rates::Migration),
        Box::new(m20261208_000040_taskq_schedule_workflows::Migration),
        Box::new(m20261208_000041_taskq_counts::Migration),
        Box::new(m20261208_000050_taskq_task_history::Migration),
        Box::new(m20261208_000051_taskq_snooze_expiry::Migration),
        Box::new(m20261208_000060_taskq_type_limits::Migration),
        Box::new(m20261209_000060_taskq_trace_context::Migration),
        Box::new(m20261209_000070_taskq_fair_queues::Migration),
        Box::new(m20261210_000080_taskq_type_rates::Migration),
        Box::new(m20261210_000085_taskq_fair_held::Migration),
        Box::new(m20261210_000090_taskq_fair_weights::Migration),
    ]
}

/// Runs taskq's [`migrations`], recording them in `taskq_migrations`.
///
/// ```no_run
/// # async fn run(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm_migration::MigratorTrait;
/// taskq_sea::migration::Migrator::up(db, None).await?;
/// # Ok(()) }
/// ```
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations()
    }

    fn migration_table_name() -> DynIden {
        "taskq_migrations".into_iden()
    }
}

/// Applies taskq's pending migrations on `db` (inside the caller's lock),
/// quietly: sea-orm-migration announces every run at `INFO` ("Applying all
/// pending migrations", "No pending migrations"), which made every worker,
/// CLI command and HTTP host start with migration lines. Nothing pending
/// (every start but the first after an upgrade): `Migrator::up` is not
/// called. Otherwise its events are muted and taskq names each migration
/// it applies at `DEBUG` (a failure is the returned error).
pub(crate) async fn apply_pending<C>(db: &C) -> Result<(), DbErr>
where
    C: sea_orm::ConnectionTrait,
    for<'c> &'c C: IntoSchemaManagerConnection<'c>,
{
    use tracing::instrument::WithSubscriber;
    let pending = Migrator::get_pending_migrations(db).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = pending.iter().map(|m| m.name().to_owned()).collect();
    Migrator::up(db, None)
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await?;
    tracing::debug!(migrations = ?names, "taskq applied schema migrations");
    Ok(())
}
