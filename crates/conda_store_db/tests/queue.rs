//! The job queue on every backend: deduplication, claims, leases, retries, recovery of
//! jobs whose worker died, cancellation, and many concurrent claimers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_db::migration;
use conda_store_db::queue::{self, FailureOutcome, JobState, NewJob};
use conda_store_db::{DatabaseUrl, PoolSize, connect};
use conda_store_test_support::{TestDatabase, backends};
use std::collections::BTreeMap;
use std::time::Duration;

fn job(key: &str) -> NewJob {
    NewJob {
        kind: "build".to_owned(),
        payload: serde_json::json!({ "key": key }),
        unique_key: Some(key.to_owned()),
        max_attempts: 2,
        delay: Duration::ZERO,
    }
}

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn jobs_are_claimed_renewed_completed_and_deduplicated() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, None)
            .await
            .expect("upgrade");

        let first = queue::enqueue(&connection, job("build:1"))
            .await
            .expect("enqueue");
        assert!(first.is_some());
        assert_eq!(
            queue::enqueue(&connection, job("build:1"))
                .await
                .expect("again"),
            None
        );
        let mut later = job("build:2");
        later.delay = Duration::from_secs(3600);
        queue::enqueue(&connection, later)
            .await
            .expect("enqueue later");

        let claimed = queue::claim(&connection, "worker-a", None, LEASE)
            .await
            .expect("claim")
            .expect("a due job");
        assert_eq!(Some(claimed.id), first);
        assert_eq!(claimed.attempts, 1);
        assert_eq!(claimed.state, "RUNNING");
        // The other job is not due yet; kinds filter works.
        assert!(
            queue::claim(&connection, "worker-b", None, LEASE)
                .await
                .expect("claim")
                .is_none()
        );
        assert!(
            queue::heartbeat(&connection, claimed.id, "worker-a", LEASE)
                .await
                .expect("beat")
        );
        assert!(
            !queue::heartbeat(&connection, claimed.id, "worker-b", LEASE)
                .await
                .expect("beat")
        );
        // Running: still deduplicated.
        assert_eq!(
            queue::enqueue(&connection, job("build:1"))
                .await
                .expect("again"),
            None
        );
        assert!(
            queue::complete(&connection, claimed.id, "worker-a")
                .await
                .expect("complete")
        );
        assert!(
            !queue::heartbeat(&connection, claimed.id, "worker-a", LEASE)
                .await
                .expect("beat")
        );
        // Finished: the same key is armed again, on the same row.
        assert_eq!(
            queue::enqueue(&connection, job("build:1"))
                .await
                .expect("rearm"),
            first
        );
        let again = queue::claim(&connection, "worker-b", Some(&["build"]), LEASE)
            .await
            .expect("claim")
            .expect("rearmed job");
        assert_eq!((again.id, again.attempts), (claimed.id, 1));
        assert!(
            queue::claim(&connection, "worker-b", Some(&["delete_build"]), LEASE)
                .await
                .expect("claim")
                .is_none()
        );
    }
}

#[tokio::test]
async fn failures_retry_until_attempts_are_spent() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, None)
            .await
            .expect("upgrade");
        queue::enqueue(&connection, job("build:7"))
            .await
            .expect("enqueue");

        let run = queue::claim(&connection, "w", None, LEASE)
            .await
            .expect("claim")
            .expect("job");
        let outcome = queue::fail(&connection, run.id, "w", "solver exploded", Duration::ZERO)
            .await
            .expect("fail");
        assert_eq!(outcome, FailureOutcome::Retrying);
        let run = queue::claim(&connection, "w", None, LEASE)
            .await
            .expect("claim")
            .expect("retry");
        assert_eq!(run.attempts, 2);
        assert_eq!(run.error.as_deref(), Some("solver exploded"));
        let outcome = queue::fail(&connection, run.id, "w", "again", Duration::ZERO)
            .await
            .expect("fail");
        assert_eq!(outcome, FailureOutcome::Failed);
        assert!(
            queue::claim(&connection, "w", None, LEASE)
                .await
                .expect("claim")
                .is_none()
        );
        let outcome = queue::fail(&connection, run.id, "w", "late", Duration::ZERO)
            .await
            .expect("fail");
        assert_eq!(outcome, FailureOutcome::NotOwned);
    }
}

#[tokio::test]
async fn expired_leases_go_back_to_the_queue_then_fail() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, None)
            .await
            .expect("upgrade");
        queue::enqueue(&connection, job("build:9"))
            .await
            .expect("enqueue");

        // A worker that claims with a zero lease and never renews it: it "died".
        let dead = queue::claim(&connection, "dead", None, Duration::ZERO)
            .await
            .expect("claim")
            .expect("job");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let recovered = queue::recover_expired(&connection).await.expect("recover");
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].1, FailureOutcome::Retrying);
        assert!(
            !queue::heartbeat(&connection, dead.id, "dead", LEASE)
                .await
                .expect("beat")
        );

        let second = queue::claim(&connection, "dead-too", None, Duration::ZERO)
            .await
            .expect("claim")
            .expect("job");
        assert_eq!(second.attempts, 2);
        assert!(
            second
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("worker `dead` stopped")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let recovered = queue::recover_expired(&connection).await.expect("recover");
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].1, FailureOutcome::Failed);
        assert!(
            queue::recover_expired(&connection)
                .await
                .expect("recover")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn cancel_stops_waiting_and_running_jobs() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, None)
            .await
            .expect("upgrade");
        queue::enqueue(&connection, job("build:1"))
            .await
            .expect("enqueue");
        queue::enqueue(&connection, job("build:2"))
            .await
            .expect("enqueue");
        let running = queue::claim(&connection, "w", None, LEASE)
            .await
            .expect("claim")
            .expect("job");
        let running_key = running.unique_key.clone().expect("key");
        let waiting_key = if running_key == "build:1" {
            "build:2"
        } else {
            "build:1"
        };

        assert_eq!(
            queue::cancel(&connection, waiting_key)
                .await
                .expect("cancel"),
            Some(JobState::Queued)
        );
        assert_eq!(
            queue::cancel(&connection, &running_key)
                .await
                .expect("cancel"),
            Some(JobState::Running)
        );
        assert_eq!(
            queue::cancel(&connection, &running_key)
                .await
                .expect("cancel"),
            None
        );
        assert!(
            !queue::heartbeat(&connection, running.id, "w", LEASE)
                .await
                .expect("beat")
        );
        assert!(
            !queue::complete(&connection, running.id, "w")
                .await
                .expect("complete")
        );
        assert!(
            queue::claim(&connection, "w", None, LEASE)
                .await
                .expect("claim")
                .is_none()
        );
    }
}

/// Eight claimers on their own connections drain 200 jobs: each job is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_a_job() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let setup = database.connect().await;
        migration::upgrade(&setup, None).await.expect("upgrade");
        for number in 0..200 {
            queue::enqueue(&setup, job(&format!("build:{number}")))
                .await
                .expect("enqueue");
        }
        let url = DatabaseUrl::parse(&database.url).expect("url");
        let pool = connect(&url, PoolSize::Up(8)).await.expect("pool");
        let mut claimers = Vec::new();
        for claimer in 0..8 {
            let pool = pool.clone();
            claimers.push(tokio::spawn(async move {
                let name = format!("worker-{claimer}");
                let mut claimed = Vec::new();
                while let Some(found) = queue::claim(&pool, &name, None, LEASE)
                    .await
                    .expect("claim")
                {
                    assert!(
                        queue::complete(&pool, found.id, &name)
                            .await
                            .expect("complete")
                    );
                    claimed.push(found.id);
                }
                claimed
            }));
        }
        let mut times_claimed: BTreeMap<i32, usize> = BTreeMap::new();
        for claimer in claimers {
            for id in claimer.await.expect("claimer") {
                *times_claimed.entry(id).or_default() += 1;
            }
        }
        assert_eq!(times_claimed.len(), 200, "every job claimed on {backend:?}");
        assert!(
            times_claimed.values().all(|times| *times == 1),
            "a job claimed twice on {backend:?}"
        );
    }
}
