//! The shape most migrations after the first share: add the columns a
//! table lacks, and drop them again.

use sea_orm_migration::prelude::*;

/// Adds to `table` each of `columns` it does not have yet, one `ALTER`
/// per column (SQLite adds one at a time). Idempotent like every taskq
/// migration: `ADD COLUMN IF NOT EXISTS` is not portable (SQLite and
/// MySQL lack it), so each column is looked up first, and a run cut
/// short between two columns completes on the next.
pub(super) async fn add_missing(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    let name = table.to_string();
    for column in columns {
        if manager.has_column(&name, column.get_column_name()).await? {
            continue;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` from `table`, one `ALTER` each: the `down` of
/// [`add_missing`].
pub(super) async fn drop_all<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
