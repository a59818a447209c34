//! Revision 0002: the job queue that replaces Celery and its broker tables.
//!
//! A job is one unit of worker work (`build`, `delete_build`, `index_channels`, ...).
//! Workers claim `QUEUED` jobs whose `run_after` has passed, hold them with a lease
//! they renew by heartbeat, and a job whose lease expired is claimed again until
//! `max_attempts` is spent.
//!
//! Data: an adopted Python conda-store database has builds that are `QUEUED` or
//! `BUILDING` whose Celery messages are gone with Celery. This revision enqueues one
//! `build` job for each of them (unless the build is deleted), so they get built.
//! The downgrade drops the queue and leaves every build as it was.

use super::helpers::{index, integer, json, text, timestamp, varchar};
use sea_orm::sea_query::{Expr, ExprTrait, Query, Table};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait};

/// Creates the `job` table and enqueues the builds left waiting.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "0002_job_queue"
    }
}

/// Attempts a backfilled build job gets, as any new build job.
const BUILD_ATTEMPTS: i32 = 3;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("job")
                    .col(super::helpers::id())
                    .col(varchar("kind", 64, true))
                    .col(json("payload", true))
                    .col(varchar("state", 16, true))
                    .col(integer("attempts", true))
                    .col(integer("max_attempts", true))
                    .col(varchar("unique_key", 255, false))
                    .col(varchar("worker_name", 255, false))
                    .col(timestamp("lease_expires_on", false))
                    .col(timestamp("heartbeat_on", false))
                    .col(timestamp("run_after", true))
                    .col(timestamp("created_on", true))
                    .col(timestamp("started_on", false))
                    .col(timestamp("ended_on", false))
                    .col(text("error", false))
                    .index(&mut index(
                        "_job_unique_key_uc",
                        "job",
                        &["unique_key"],
                        true,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_job_state_run_after",
                "job",
                &["state", "run_after"],
                false,
            ))
            .await?;
        enqueue_waiting_builds(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("job").to_owned())
            .await
    }
}

async fn enqueue_waiting_builds(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    let waiting = connection
        .query_all(
            &Query::select()
                .column("id")
                .from("build")
                .and_where(Expr::col("status").is_in(["QUEUED", "BUILDING"]))
                .and_where(Expr::col("deleted_on").is_null())
                .order_by("id", sea_orm::Order::Asc)
                .to_owned(),
        )
        .await?;
    let now = chrono::Utc::now().naive_utc();
    for row in waiting {
        let build_id = super::helpers::integer_at(&row, 0)?;
        let payload = serde_json::json!({ "build_id": build_id });
        connection
            .execute(
                &Query::insert()
                    .into_table("job")
                    .columns([
                        "kind",
                        "payload",
                        "state",
                        "attempts",
                        "max_attempts",
                        "unique_key",
                        "run_after",
                        "created_on",
                    ])
                    .values_panic([
                        "build".into(),
                        payload.into(),
                        "QUEUED".into(),
                        0.into(),
                        BUILD_ATTEMPTS.into(),
                        format!("build:{build_id}").into(),
                        now.into(),
                        now.into(),
                    ])
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
