//! The worker: claims jobs from the database queue and runs them.
//!
//! A job is held with a lease that a heartbeat renews every third of the lease. When
//! the heartbeat finds the job is no longer ours (canceled, or recovered after we
//! stalled), the work is dropped at once. Jobs of workers that died are returned to
//! the queue by [`conda_store_db::queue::recover_expired`], which every worker calls
//! before claiming; when a build job's attempts are spent its build is marked FAILED.

mod build;
mod channel_index;

pub use channel_index::{IndexResult, SubdirIndexed, channel_packages};

use conda_store_build::Engine;
use conda_store_core::domain::BuildStatus;
use conda_store_db::entity::job;
use conda_store_db::queue::{self, FailureOutcome, JobState};
use conda_store_service::{
    BUILD_JOB, DELETE_BUILD_JOB, DELETE_ENVIRONMENT_JOB, DELETE_NAMESPACE_JOB, Service,
};
use sea_orm::EntityTrait;
use std::sync::Arc;
use std::time::Duration;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Name recorded on claimed jobs (host and process id by default).
    pub name: String,
    /// Lease length; a worker silent for this long is presumed dead.
    pub lease: Duration,
    /// Pause between polls of an empty queue.
    pub poll_interval: Duration,
    /// Delay before a failed job is retried.
    pub retry_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        Self {
            name: format!("{host}:{}", std::process::id()),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// A worker: the service to report through and the engine that builds.
#[derive(Clone)]
pub struct Worker {
    service: Service,
    engine: Arc<Engine>,
    options: WorkerOptions,
}

impl Worker {
    /// A worker over `service` and `engine`.
    pub fn new(service: Service, engine: Arc<Engine>, options: WorkerOptions) -> Self {
        Self {
            service,
            engine,
            options,
        }
    }

    /// Runs jobs until `shutdown` turns true, `concurrency` at a time. Jobs running then
    /// are stopped and handed back to the queue (a build becomes QUEUED again), so the
    /// next worker starts them at once; `run` returns when that is done.
    pub async fn run(&self, concurrency: usize, shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Err(error) = self.schedule_periodic_jobs().await {
            tracing::error!("scheduling periodic jobs: {error}");
        }
        let wake = Arc::new(tokio::sync::Notify::new());
        let _relay = AbortOnDrop(tokio::spawn(self.clone().relay_notifications(wake.clone())));
        let mut slots = tokio::task::JoinSet::new();
        for slot in 0..concurrency.max(1) {
            let worker = self.clone();
            let wake = wake.clone();
            let mut shutdown = shutdown.clone();
            slots.spawn(async move {
                let name = format!("{}#{slot}", worker.options.name);
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    let stopping = {
                        let mut shutdown = shutdown.clone();
                        async move {
                            let _ = shutdown.wait_for(|stop| *stop).await;
                        }
                    };
                    let worked = match worker.step(&name, stopping).await {
                        Ok(worked) => worked,
                        Err(error) => {
                            tracing::error!("worker {name}: {error}");
                            false
                        }
                    };
                    if !worked {
                        tokio::select! {
                            _ = tokio::time::sleep(worker.options.poll_interval) => {}
                            _ = wake.notified() => {}
                            _ = worker.service.jobs_announced().notified() => {}
                            _ = shutdown.changed() => return,
                        }
                    }
                }
            });
        }
        while slots.join_next().await.is_some() {}
    }

    /// Passes PostgreSQL job announcements on to the idle slots, so a new job starts at
    /// once instead of at the next poll. Without notifications it does nothing.
    async fn relay_notifications(self, wake: Arc<tokio::sync::Notify>) {
        loop {
            match queue::JobListener::start(self.service.database()).await {
                Ok(Some(mut listener)) => {
                    while listener.next().await.is_ok() {
                        wake.notify_waiters();
                    }
                }
                Ok(None) => return std::future::pending().await,
                Err(error) => tracing::warn!("listening for jobs: {error}"),
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
    }

    /// Queues each periodic job unless it is already waiting or running (so any number
    /// of workers can call this at start).
    pub async fn schedule_periodic_jobs(&self) -> Result<(), String> {
        for (kind, _) in PERIODIC_JOBS {
            let settings = self.service.settings();
            if (kind == WATCH_PATHS_JOB && settings.watch_paths.is_empty())
                || (kind == UPDATE_CONDA_CHANNELS_JOB && settings.conda_indexed_channels.is_empty())
            {
                continue;
            }
            queue::enqueue(self.service.database(), periodic_job(kind, Duration::ZERO))
                .await
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Runs due jobs one after the other until none is left. For tests and one-shot use.
    pub async fn run_until_idle(&self) -> Result<usize, String> {
        let mut count = 0;
        while self
            .step(&self.options.name, std::future::pending())
            .await?
        {
            count += 1;
        }
        Ok(count)
    }

    /// Recovers expired jobs, then claims and runs one job, handing it back if
    /// `stopping` completes first. `false` when none was due.
    async fn step(&self, name: &str, stopping: impl Future<Output = ()>) -> Result<bool, String> {
        self.recover().await?;
        let database = self.service.database();
        let Some(claimed) = queue::claim(database, name, None, self.options.lease)
            .await
            .map_err(|error| error.to_string())?
        else {
            return Ok(false);
        };
        self.execute(name, claimed, stopping).await;
        Ok(true)
    }

    async fn recover(&self) -> Result<(), String> {
        let recovered = queue::recover_expired(self.service.database())
            .await
            .map_err(|error| error.to_string())?;
        for (lost, outcome) in recovered {
            self.rearm_if_periodic(&lost.kind).await;
            let reason = format!(
                "worker `{}` stopped while running this build (attempt {} of {})",
                lost.worker_name.clone().unwrap_or_default(),
                lost.attempts,
                lost.max_attempts
            );
            tracing::warn!("job {} ({}): {reason}", lost.id, lost.kind);
            if lost.kind == BUILD_JOB
                && let Some(build_id) = build_id(&lost)
            {
                let message = match outcome {
                    FailureOutcome::Failed => format!("{reason}; giving up"),
                    _ => format!("{reason}; retrying"),
                };
                if let Ok(context) = self.service.build_context(build_id).await {
                    let _ = self.service.append_log(&context, &message).await;
                }
                if outcome == FailureOutcome::Failed {
                    self.service
                        .mark_build_finished(build_id, BuildStatus::Failed, Some(reason))
                        .await
                        .map_err(|error| error.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Runs a claimed job while a heartbeat keeps its lease; drops the work when the
    /// heartbeat learns the job is gone (canceled) or when `stopping` completes (the
    /// worker shuts down), and then hands the job back.
    async fn execute(&self, name: &str, claimed: job::Model, stopping: impl Future<Output = ()>) {
        let database = self.service.database().clone();
        let lease = self.options.lease;
        let heartbeat_name = name.to_owned();
        let job_id = claimed.id;
        let heartbeat = async move {
            loop {
                tokio::time::sleep(heartbeat_interval(lease)).await;
                match queue::heartbeat(&database, job_id, &heartbeat_name, lease).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => tracing::warn!("heartbeat of job {job_id}: {error}"),
                }
            }
        };
        let work = self.run_job(&claimed);
        let result = tokio::select! {
            result = work => Outcome::Finished(result),
            () = heartbeat => Outcome::TakenAway,
            () = stopping => Outcome::Stopped,
        };
        let database = self.service.database();
        match result {
            Outcome::TakenAway => self.job_taken_away(&claimed).await,
            Outcome::Stopped => return self.hand_back(name, &claimed).await,
            Outcome::Finished(Ok(())) => {
                let _ = queue::complete(database, claimed.id, name).await;
            }
            Outcome::Finished(Err(error)) => {
                let error = conda_store_core::redaction::redact_credentials(&error.to_string());
                tracing::warn!("job {} ({}) failed: {error}", claimed.id, claimed.kind);
                let _ =
                    queue::fail(database, claimed.id, name, &error, self.options.retry_delay).await;
            }
        }
        self.rearm_if_periodic(&claimed.kind).await;
    }

    /// Returns a job whose work was stopped by shutdown to the queue; a build becomes
    /// QUEUED again first, so the worker that claims it next sets BUILDING after us.
    async fn hand_back(&self, name: &str, claimed: &job::Model) {
        if claimed.kind == BUILD_JOB
            && let Some(build_id) = build_id(claimed)
            && let Err(error) = self.service.mark_build_interrupted(build_id, name).await
        {
            tracing::warn!("build {build_id}: recording the interruption: {error}");
        }
        match queue::release(self.service.database(), claimed.id, name).await {
            Ok(_) => tracing::info!(
                "job {} ({}) handed back to the queue: shutting down",
                claimed.id,
                claimed.kind
            ),
            Err(error) => tracing::warn!(
                "job {} ({}): cannot hand it back ({error}); it is retried when its lease expires",
                claimed.id,
                claimed.kind
            ),
        }
    }

    /// Arms a finished periodic job's row again for its next run.
    async fn rearm_if_periodic(&self, kind: &str) {
        if let Some((kind, period)) = PERIODIC_JOBS.iter().find(|(periodic, _)| *periodic == kind) {
            let next = periodic_job(kind, *period);
            if let Err(error) = queue::enqueue(self.service.database(), next).await {
                tracing::error!("scheduling the next {kind}: {error}");
            }
        }
    }

    async fn run_job(&self, claimed: &job::Model) -> Result<(), String> {
        match claimed.kind.as_str() {
            BUILD_JOB => {
                let build_id = build_id(claimed).ok_or("build job without build_id")?;
                build::run(&self.service, &self.engine, build_id).await;
                Ok(())
            }
            STORAGE_METRICS_JOB => self
                .service
                .update_storage_metrics()
                .await
                .map_err(|error| error.to_string()),
            WATCH_PATHS_JOB => self
                .service
                .register_watched_specifications()
                .await
                .map(|_| ())
                .map_err(|error| error.to_string()),
            UPDATE_CONDA_CHANNELS_JOB => self.update_conda_channels_job().await,
            DELETE_ENVIRONMENT_JOB => {
                let id = payload_id(claimed, "environment_id")?;
                self.service
                    .purge_deleted_environment(id)
                    .await
                    .map_err(|error| error.to_string())
            }
            DELETE_NAMESPACE_JOB => {
                let id = payload_id(claimed, "namespace_id")?;
                self.service
                    .purge_deleted_namespace(id)
                    .await
                    .map_err(|error| error.to_string())
            }
            DELETE_BUILD_JOB => {
                let build_id = build_id(claimed).ok_or("delete job without build_id")?;
                self.service
                    .purge_deleted_build(build_id)
                    .await
                    .map_err(|error| error.to_string())
            }
            other => Err(format!("unknown job kind `{other}`")),
        }
    }

    /// The job was canceled or recovered by another worker after we stalled: the work
    /// has been dropped. For a canceled build, its log gets its last line now, after
    /// everything the dropped work wrote.
    async fn job_taken_away(&self, claimed: &job::Model) {
        let state = job::Entity::find_by_id(claimed.id)
            .one(self.service.database())
            .await
            .ok()
            .flatten()
            .map(|found| found.state);
        tracing::info!(
            "job {} ({}) is {} now; its work was stopped",
            claimed.id,
            claimed.kind,
            state.as_deref().unwrap_or("gone")
        );
        if state.as_deref() == Some(JobState::Canceled.as_str())
            && let Some(build_id) = build_id(claimed)
            && let Ok(context) = self.service.build_context(build_id).await
        {
            let _ = self.service.append_canceled_line(&context).await;
        }
    }
}

/// How the run of a claimed job ended.
enum Outcome {
    /// The job body returned.
    Finished(Result<(), String>),
    /// The job was canceled, or recovered by another worker.
    TakenAway,
    /// The worker is shutting down.
    Stopped,
}

/// Aborts a background task when dropped, so it never outlives its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Refreshes `conda_store_configuration` (disk figures of the store).
pub const STORAGE_METRICS_JOB: &str = "update_storage_metrics";

/// Registers the specifications found in `watch_paths`.
pub const WATCH_PATHS_JOB: &str = "watch_paths";

/// Indexes the repodata of `conda_indexed_channels` × `conda_platforms` into the
/// package tables.
pub const UPDATE_CONDA_CHANNELS_JOB: &str = "update_conda_channels";

/// Periodic jobs and their period (the Python conda-store's beat schedule).
const PERIODIC_JOBS: [(&str, Duration); 3] = [
    (STORAGE_METRICS_JOB, Duration::from_secs(60)),
    (WATCH_PATHS_JOB, Duration::from_secs(60)),
    (UPDATE_CONDA_CHANNELS_JOB, Duration::from_secs(15 * 60)),
];

/// A periodic job of `kind`, due after `delay`. One attempt: the next run comes anyway.
fn periodic_job(kind: &str, delay: Duration) -> queue::NewJob {
    queue::NewJob {
        kind: kind.to_owned(),
        payload: serde_json::json!({}),
        unique_key: Some(format!("periodic:{kind}")),
        max_attempts: 1,
        delay,
    }
}

/// How often a running job renews its lease: a third of the lease, at most 2 s, so a
/// canceled build stops within seconds.
fn heartbeat_interval(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(2))
}

fn payload_id(claimed: &job::Model, key: &str) -> Result<i32, String> {
    claimed.payload[key]
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| format!("{} job without {key}", claimed.kind))
}

fn build_id(claimed: &job::Model) -> Option<i32> {
    claimed.payload["build_id"]
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
}
