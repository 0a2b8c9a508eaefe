//! Workflows: `taskq_tasks` gains a step's place in its workflow —
//! `workflow_id` (indexed, to read a workflow's steps), `workflow_step`
//! (its name, parents, children, input and run rule, as JSON) and
//! `waiting_on` (the parents yet to end, counted down by the statement
//! that ends each, so fan-in costs one update per child and batch).
//!
//! Frozen: later schema changes go into new migrations.

use sea_orm_migration::prelude::*;

/// The workflow steps migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000010_taskq_workflow_steps"
    }
}

#[derive(DeriveIden)]
enum TaskqTasks {
    Table,
    WorkflowId,
    WorkflowStep,
    WaitingOn,
}

const WORKFLOW_INDEX: &str = "taskq_tasks_workflow";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        let columns = [
            ColumnDef::new(T::WorkflowId).uuid().null().to_owned(),
            ColumnDef::new(T::WorkflowStep).json().null().to_owned(),
            ColumnDef::new(T::WaitingOn).integer().null().to_owned(),
        ];
        super::columns::add_missing(manager, T::Table, columns).await?;
        if !manager.has_index("taskq_tasks", WORKFLOW_INDEX).await? {
            manager
                .create_index(
                    Index::create()
                        .name(WORKFLOW_INDEX)
                        .table(T::Table)
                        .col(T::WorkflowId)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TaskqTasks as T;
        manager
            .drop_index(
                Index::drop()
                    .name(WORKFLOW_INDEX)
                    .table(T::Table)
                    .to_owned(),
            )
            .await?;
        super::columns::drop_all(
            manager,
            T::Table,
            [T::WorkflowId, T::WorkflowStep, T::WaitingOn],
        )
        .await
    }
}
