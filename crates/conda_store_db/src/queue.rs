//! The job queue: the `job` table used as a work queue by many workers at once.
//!
//! - [`enqueue`] adds a job; a `unique_key` makes it idempotent while the job is
//!   waiting or running, and re-arms a finished job with the same key.
//! - [`claim`] hands the oldest due job to one worker: `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL and MariaDB/MySQL, so concurrent workers never get the same job; an
//!   `IMMEDIATE` transaction on SQLite, which serialises writers.
//! - The claiming worker holds a lease it renews with [`heartbeat`]; a heartbeat that
//!   returns `false` means the job was canceled or taken away, and the work must stop.
//! - [`complete`] and [`fail`] end a run; [`fail`] retries until `max_attempts` is
//!   spent. [`release`] hands a job back when its worker shuts down. [`recover_expired`] returns the jobs of workers that died (lease expired)
//!   to the queue, or fails them when their attempts are spent.

use crate::entity::job;
use crate::error::DatabaseError;
use chrono::{NaiveDateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use std::time::Duration;

/// The PostgreSQL notification channel on which [`enqueue`] announces new jobs.
pub const NOTIFY_CHANNEL: &str = "conda_store_jobs";

/// Wakes a worker as soon as a job is enqueued, where the backend can tell
/// (PostgreSQL `LISTEN`); elsewhere workers poll.
pub struct JobListener {
    listener: sea_orm::sqlx::postgres::PgListener,
}

impl JobListener {
    /// Listens for new jobs; `None` on backends without notifications.
    pub async fn start(connection: &DatabaseConnection) -> Result<Option<Self>, DatabaseError> {
        if connection.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let failed = |error: sea_orm::sqlx::Error| {
            DatabaseError::Query(sea_orm::DbErr::Custom(error.to_string()))
        };
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(
            connection.get_postgres_connection_pool(),
        )
        .await
        .map_err(failed)?;
        listener.listen(NOTIFY_CHANNEL).await.map_err(failed)?;
        Ok(Some(Self { listener }))
    }

    /// Waits for the next announcement. An error means the connection broke; the
    /// listener reconnects on the next call.
    pub async fn next(&mut self) -> Result<(), DatabaseError> {
        self.listener
            .recv()
            .await
            .map(|_| ())
            .map_err(|error| DatabaseError::Query(sea_orm::DbErr::Custom(error.to_string())))
    }
}

/// The state of a job (`job.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker (possibly until `run_after`).
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error after its last attempt.
    Failed,
    /// Canceled before it finished.
    Canceled,
}

impl JobState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Running => "RUNNING",
            JobState::Succeeded => "SUCCEEDED",
            JobState::Failed => "FAILED",
            JobState::Canceled => "CANCELED",
        }
    }
}

const FINISHED: [&str; 3] = ["SUCCEEDED", "FAILED", "CANCELED"];

/// A job to add to the queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// What the job does (`build`, `delete_build`, ...).
    pub kind: String,
    /// Its arguments.
    pub payload: serde_json::Value,
    /// At most one waiting or running job has this key.
    pub unique_key: Option<String>,
    /// Runs allowed before the job fails for good.
    pub max_attempts: i32,
    /// Do not start before this delay has passed.
    pub delay: Duration,
}

/// Current time, naive UTC as every timestamp in the database.
fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn later(duration: Duration) -> NaiveDateTime {
    now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Adds a job. Returns its id, or `None` when a job with the same `unique_key` is
/// already waiting or running. A finished job with the same key is queued again.
/// Inside a PostgreSQL transaction, only enqueue keys that cannot exist yet: a unique
/// violation there aborts the transaction.
pub async fn enqueue<C: ConnectionTrait>(
    connection: &C,
    new: NewJob,
) -> Result<Option<i32>, DatabaseError> {
    let created = now();
    let run_after = later(new.delay);
    let row = job::ActiveModel {
        kind: Set(new.kind.clone()),
        payload: Set(new.payload.clone()),
        state: Set(JobState::Queued.as_str().to_owned()),
        attempts: Set(0),
        max_attempts: Set(new.max_attempts),
        unique_key: Set(new.unique_key.clone()),
        run_after: Set(run_after),
        created_on: Set(created),
        ..Default::default()
    };
    let inserted = insert_or_rearm(connection, row, new, run_after, created).await?;
    if inserted.is_some() && connection.get_database_backend() == DbBackend::Postgres {
        // Wakes listening workers; inside a transaction it is delivered at commit.
        connection
            .execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    Ok(inserted)
}

async fn insert_or_rearm<C: ConnectionTrait>(
    connection: &C,
    row: job::ActiveModel,
    new: NewJob,
    run_after: NaiveDateTime,
    created: NaiveDateTime,
) -> Result<Option<i32>, DatabaseError> {
    match row.insert(connection).await {
        Ok(model) => Ok(Some(model.id)),
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let Some(key) = new.unique_key else {
                return Err(error.into());
            };
            let rearmed = job::Entity::update_many()
                .col_expr(job::Column::Kind, Expr::value(new.kind))
                .col_expr(job::Column::Payload, Expr::value(new.payload))
                .col_expr(job::Column::State, Expr::value(JobState::Queued.as_str()))
                .col_expr(job::Column::Attempts, Expr::value(0))
                .col_expr(job::Column::MaxAttempts, Expr::value(new.max_attempts))
                .col_expr(job::Column::RunAfter, Expr::value(run_after))
                .col_expr(job::Column::CreatedOn, Expr::value(created))
                .col_expr(job::Column::WorkerName, Expr::value(Option::<String>::None))
                .col_expr(
                    job::Column::LeaseExpiresOn,
                    Expr::value(Option::<NaiveDateTime>::None),
                )
                .col_expr(
                    job::Column::HeartbeatOn,
                    Expr::value(Option::<NaiveDateTime>::None),
                )
                .col_expr(
                    job::Column::StartedOn,
                    Expr::value(Option::<NaiveDateTime>::None),
                )
                .col_expr(
                    job::Column::EndedOn,
                    Expr::value(Option::<NaiveDateTime>::None),
                )
                .col_expr(job::Column::Error, Expr::value(Option::<String>::None))
                .filter(job::Column::UniqueKey.eq(key.clone()))
                .filter(job::Column::State.is_in(FINISHED))
                .exec(connection)
                .await?;
            if rearmed.rows_affected == 0 {
                return Ok(None);
            }
            let model = job::Entity::find()
                .filter(job::Column::UniqueKey.eq(key))
                .one(connection)
                .await?;
            Ok(model.map(|model| model.id))
        }
        Err(error) => Err(error.into()),
    }
}

/// Gives the oldest due `QUEUED` job (of one of `kinds`, or any) to `worker`, with a
/// lease of `lease`. Every claim counts as an attempt. `None` when no job is due (or,
/// rarely, when another worker won the race for it: call again).
pub async fn claim(
    connection: &DatabaseConnection,
    worker: &str,
    kinds: Option<&[&str]>,
    lease: Duration,
) -> Result<Option<job::Model>, DatabaseError> {
    let backend = connection.get_database_backend();
    let transaction = crate::connection::begin_write(connection).await?;
    let mut query = job::Entity::find()
        .filter(job::Column::State.eq(JobState::Queued.as_str()))
        .filter(job::Column::RunAfter.lte(now()))
        .order_by_asc(job::Column::RunAfter)
        .order_by_asc(job::Column::Id)
        .limit(1);
    if let Some(kinds) = kinds {
        query = query.filter(job::Column::Kind.is_in(kinds.iter().copied()));
    }
    if backend != DbBackend::Sqlite {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(found) = query.one(&transaction).await? else {
        transaction.commit().await?;
        return Ok(None);
    };
    let started = now();
    // The state condition guards against a backend without row locks: if another
    // worker took the row in between, nothing is updated and the caller tries again.
    let result = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(JobState::Running.as_str()))
        .col_expr(job::Column::Attempts, Expr::value(found.attempts + 1))
        .col_expr(job::Column::WorkerName, Expr::value(worker.to_owned()))
        .col_expr(job::Column::StartedOn, Expr::value(started))
        .col_expr(job::Column::HeartbeatOn, Expr::value(started))
        .col_expr(job::Column::LeaseExpiresOn, Expr::value(later(lease)))
        .col_expr(
            job::Column::EndedOn,
            Expr::value(Option::<NaiveDateTime>::None),
        )
        .filter(job::Column::Id.eq(found.id))
        .filter(job::Column::State.eq(JobState::Queued.as_str()))
        .exec(&transaction)
        .await?;
    let claimed = if result.rows_affected == 1 {
        job::Entity::find_by_id(found.id).one(&transaction).await?
    } else {
        None
    };
    transaction.commit().await?;
    Ok(claimed)
}

/// Updates rows of `job` that `worker` runs; returns whether one was updated.
async fn update_running<C: ConnectionTrait>(
    connection: &C,
    id: i32,
    worker: &str,
    update: sea_orm::UpdateMany<job::Entity>,
) -> Result<bool, DatabaseError> {
    let result = update
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::WorkerName.eq(worker))
        .filter(job::Column::State.eq(JobState::Running.as_str()))
        .exec(connection)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Renews the lease of a running job. `false`: the job is no longer this worker's
/// (canceled, or its lease expired and it was recovered); stop working on it.
pub async fn heartbeat(
    connection: &DatabaseConnection,
    id: i32,
    worker: &str,
    lease: Duration,
) -> Result<bool, DatabaseError> {
    let update = job::Entity::update_many()
        .col_expr(job::Column::HeartbeatOn, Expr::value(now()))
        .col_expr(job::Column::LeaseExpiresOn, Expr::value(later(lease)));
    update_running(connection, id, worker, update).await
}

/// Marks a running job done. `false` if it was no longer this worker's.
pub async fn complete(
    connection: &DatabaseConnection,
    id: i32,
    worker: &str,
) -> Result<bool, DatabaseError> {
    let update = job::Entity::update_many()
        .col_expr(
            job::Column::State,
            Expr::value(JobState::Succeeded.as_str()),
        )
        .col_expr(job::Column::EndedOn, Expr::value(now()))
        .col_expr(
            job::Column::LeaseExpiresOn,
            Expr::value(Option::<NaiveDateTime>::None),
        );
    update_running(connection, id, worker, update).await
}

/// Returns a running job to the queue at once because its worker is shutting down; the
/// interrupted attempt does not count. `false` if it was no longer this worker's.
pub async fn release(
    connection: &DatabaseConnection,
    id: i32,
    worker: &str,
) -> Result<bool, DatabaseError> {
    let update = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(JobState::Queued.as_str()))
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).sub(1),
        )
        .col_expr(job::Column::RunAfter, Expr::value(now()))
        .col_expr(job::Column::WorkerName, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::LeaseExpiresOn,
            Expr::value(Option::<NaiveDateTime>::None),
        );
    update_running(connection, id, worker, update).await
}

/// What became of a job that failed or lost its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureOutcome {
    /// It will run again after the delay.
    Retrying,
    /// Its attempts are spent: it is `FAILED` for good.
    Failed,
    /// It was no longer this worker's; nothing changed.
    NotOwned,
}

/// Ends a run with an error: back to the queue after `retry_after` while attempts
/// remain, `FAILED` otherwise.
pub async fn fail(
    connection: &DatabaseConnection,
    id: i32,
    worker: &str,
    error: &str,
    retry_after: Duration,
) -> Result<FailureOutcome, DatabaseError> {
    let Some(found) = job::Entity::find_by_id(id).one(connection).await? else {
        return Ok(FailureOutcome::NotOwned);
    };
    let (update, outcome) = failure_update(&found, error, retry_after);
    if update_running(connection, id, worker, update).await? {
        Ok(outcome)
    } else {
        Ok(FailureOutcome::NotOwned)
    }
}

fn failure_update(
    found: &job::Model,
    error: &str,
    retry_after: Duration,
) -> (sea_orm::UpdateMany<job::Entity>, FailureOutcome) {
    let update = job::Entity::update_many()
        .col_expr(job::Column::Error, Expr::value(error.to_owned()))
        .col_expr(
            job::Column::LeaseExpiresOn,
            Expr::value(Option::<NaiveDateTime>::None),
        );
    if found.attempts < found.max_attempts {
        let update = update
            .col_expr(job::Column::State, Expr::value(JobState::Queued.as_str()))
            .col_expr(job::Column::RunAfter, Expr::value(later(retry_after)))
            .col_expr(job::Column::WorkerName, Expr::value(Option::<String>::None));
        (update, FailureOutcome::Retrying)
    } else {
        let update = update
            .col_expr(job::Column::State, Expr::value(JobState::Failed.as_str()))
            .col_expr(job::Column::EndedOn, Expr::value(now()));
        (update, FailureOutcome::Failed)
    }
}

/// Returns the running jobs whose lease expired (their worker died or hung) to the
/// queue, or fails them when their attempts are spent. Returns each such job as it was
/// before, with what became of it, so the caller can report it (for a build: FAILED
/// with the reason in `status_info`).
pub async fn recover_expired(
    connection: &DatabaseConnection,
) -> Result<Vec<(job::Model, FailureOutcome)>, DatabaseError> {
    let expired = job::Entity::find()
        .filter(job::Column::State.eq(JobState::Running.as_str()))
        .filter(job::Column::LeaseExpiresOn.lt(now()))
        .all(connection)
        .await?;
    let mut recovered = Vec::new();
    for found in expired {
        let worker = found.worker_name.clone().unwrap_or_default();
        let error = format!(
            "worker `{worker}` stopped renewing its lease during attempt {} of {}",
            found.attempts, found.max_attempts
        );
        let (update, outcome) = failure_update(&found, &error, Duration::ZERO);
        // The lease condition makes this a no-op if the worker renewed it meanwhile.
        let result = update
            .filter(job::Column::Id.eq(found.id))
            .filter(job::Column::State.eq(JobState::Running.as_str()))
            .filter(job::Column::LeaseExpiresOn.lt(now()))
            .exec(connection)
            .await?;
        if result.rows_affected == 1 {
            recovered.push((found, outcome));
        }
    }
    Ok(recovered)
}

/// Cancels the waiting or running job with `unique_key`. Returns the state it had, if
/// it was waiting or running; a running job's worker learns it at its next heartbeat.
pub async fn cancel(
    connection: &DatabaseConnection,
    unique_key: &str,
) -> Result<Option<JobState>, DatabaseError> {
    let Some(found) = job::Entity::find()
        .filter(job::Column::UniqueKey.eq(unique_key))
        .filter(job::Column::State.is_in([JobState::Queued.as_str(), JobState::Running.as_str()]))
        .one(connection)
        .await?
    else {
        return Ok(None);
    };
    let result = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(JobState::Canceled.as_str()))
        .col_expr(job::Column::EndedOn, Expr::value(now()))
        .col_expr(
            job::Column::LeaseExpiresOn,
            Expr::value(Option::<NaiveDateTime>::None),
        )
        .filter(job::Column::Id.eq(found.id))
        .filter(job::Column::State.eq(found.state.clone()))
        .exec(connection)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(if found.state == JobState::Running.as_str() {
        JobState::Running
    } else {
        JobState::Queued
    }))
}
