//! Revision 0003: `UNIQUE(prefix, key)` on `keyvaluestore`, named `_prefix_key_uc`.
//!
//! The Python conda-store's ORM declares this constraint, but the alembic migration
//! meant to add it targets a table that does not exist, so migrated databases lack it.
//! Settings are upserted by `(prefix, key)`; without the constraint two writers can
//! create duplicates. Should an adopted database hold duplicates already, the newest
//! row (highest id) of each `(prefix, key)` is kept, which is the value the Python
//! conda-store last wrote.

use super::helpers::index;
use sea_orm::DbErr;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Index, Query};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait};

/// Deduplicates settings and adds the unique index.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "0003_keyvaluestore_unique"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // DELETE FROM keyvaluestore WHERE id NOT IN
        //   (SELECT newest FROM (SELECT MAX(id) AS newest ... GROUP BY prefix, key) AS kept)
        // The derived table is needed by MySQL, which cannot select from the table it
        // deletes from.
        let newest = Query::select()
            .expr_as(Expr::col("id").max(), "newest")
            .from("keyvaluestore")
            .group_by_columns(["prefix", "key"])
            .to_owned();
        let kept = Query::select()
            .column("newest")
            .from_subquery(newest, Alias::new("kept"))
            .to_owned();
        manager
            .execute(
                Query::delete()
                    .from_table("keyvaluestore")
                    .and_where(Expr::col("id").not_in_subquery(kept))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "_prefix_key_uc",
                "keyvaluestore",
                &["prefix", "key"],
                true,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("_prefix_key_uc")
                    .table("keyvaluestore")
                    .to_owned(),
            )
            .await
    }
}
