//! The live build log: `GET /api/v1/build/{id}/logs/stream/` sends the LOGS artifact as
//! Server-Sent Events, the text written so far and then what the worker appends while
//! the build runs, and ends once the build is finished and every byte is sent.
//!
//! Events: `log` carries complete lines of text (its `id` is the byte offset reached, so
//! a reconnecting `EventSource` resumes through `Last-Event-ID`); `end` carries the
//! final status (`COMPLETED`, `FAILED`, `CANCELED`, or `DELETED` when the build is gone).
//! The storage object is polled every [`POLL_INTERVAL`].

use axum::response::sse::{Event, KeepAlive, Sse};
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_service::{Service, ServiceError};
use conda_store_storage::StorageError;
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// How often a running build's log is checked for new text.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The status sent when the build no longer exists.
const GONE: &str = "DELETED";

/// Follows one build's log from a byte offset.
struct LogFollower {
    service: Service,
    build_id: i32,
    key: Option<String>,
    offset: u64,
    /// Bytes read after the last complete line, sent once the line ends.
    pending: Vec<u8>,
    /// Events ready to send.
    ready: VecDeque<Event>,
    /// Whether the `end` event is queued.
    ended: bool,
    /// Whether the next poll waits first.
    wait: bool,
    /// When the build was first seen CANCELED: its worker writes the closing line
    /// at its next heartbeat, so the stream waits a little for it.
    canceled_since: Option<std::time::Instant>,
    /// Whether the cancel line has been sent.
    cancel_line_sent: bool,
}

/// How long a canceled build's stream waits for the worker's closing line.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The end of the line the worker closes a canceled build's log with.
const CANCEL_LINE_END: &[u8] = b"due to being canceled from the REST API";

/// The SSE answer following the log of `build_id` from byte `offset`.
pub fn stream(
    service: Service,
    build_id: i32,
    key: Option<String>,
    offset: u64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follower = LogFollower {
        service,
        build_id,
        key,
        offset,
        pending: Vec::new(),
        ready: VecDeque::new(),
        ended: false,
        wait: false,
        canceled_since: None,
        cancel_line_sent: false,
    };
    let events = futures_util::stream::unfold(follower, |mut follower| async move {
        let event = follower.next_event().await?;
        Some((Ok(event), follower))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The storage key of the log of `build_id`: its LOGS artifact, else the key its
/// worker will write (a queued build has no artifact row yet).
pub async fn log_key(service: &Service, build_id: i32) -> Result<Option<String>, ServiceError> {
    if let Some(key) = service
        .artifact_key(build_id, BuildArtifactType::Logs)
        .await?
    {
        return Ok(Some(key));
    }
    Ok(service
        .build_context(build_id)
        .await
        .ok()
        .and_then(|context| context.artifact_key(BuildArtifactType::Logs)))
}

/// Whether a build with `status` will write no more log.
fn is_finished(status: Option<&str>) -> bool {
    status.is_none_or(|status| {
        [
            BuildStatus::Completed,
            BuildStatus::Failed,
            BuildStatus::Canceled,
        ]
        .iter()
        .any(|finished| finished.as_str() == status)
    })
}

impl LogFollower {
    /// The next event to send; none once the `end` event went out.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            if std::mem::replace(&mut self.wait, true) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            if let Err(error) = self.poll().await {
                tracing::warn!("following the log of build {}: {error}", self.build_id);
                self.finish("ERROR");
            }
        }
    }

    /// Reads what was appended; when nothing was, checks whether the build finished,
    /// and if so sends the rest and ends.
    async fn poll(&mut self) -> Result<(), ServiceError> {
        if self.read().await? {
            self.wait = false;
            return Ok(());
        }
        let status = self.service.build_status(self.build_id).await?;
        if !is_finished(status.as_deref()) || self.awaits_cancel_line(status.as_deref()) {
            return Ok(());
        }
        // Lines written between the last read and the status change.
        self.read().await?;
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.ready.push_back(self.log_event(&rest));
        }
        self.finish(status.as_deref().unwrap_or(GONE));
        Ok(())
    }

    /// Whether a canceled build's closing line may still come.
    fn awaits_cancel_line(&mut self, status: Option<&str>) -> bool {
        if status != Some("CANCELED") || self.cancel_line_sent {
            return false;
        }
        let since = *self
            .canceled_since
            .get_or_insert_with(std::time::Instant::now);
        since.elapsed() < CANCEL_GRACE
    }

    /// Queues the `end` event.
    fn finish(&mut self, status: &str) {
        self.ready
            .push_back(Event::default().event("end").data(status));
        self.ended = true;
    }

    /// Reads new bytes and queues their complete lines; whether any bytes came.
    async fn read(&mut self) -> Result<bool, ServiceError> {
        if self.key.is_none() {
            self.key = self
                .service
                .artifact_key(self.build_id, BuildArtifactType::Logs)
                .await?;
        }
        let Some(key) = &self.key else {
            return Ok(false);
        };
        let bytes = match self.service.storage().read_from(key, self.offset).await {
            Ok(bytes) => bytes,
            Err(StorageError::NotFound(_)) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        if bytes.is_empty() {
            return Ok(false);
        }
        self.offset += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.pending.extend_from_slice(&bytes);
        if let Some(end) = self.pending.iter().rposition(|byte| *byte == b'\n') {
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            self.cancel_line_sent |= lines
                .windows(CANCEL_LINE_END.len())
                .any(|window| window == CANCEL_LINE_END);
            self.ready.push_back(self.log_event(&lines));
        }
        Ok(true)
    }

    /// A `log` event carrying `bytes` as text, identified by the offset after the
    /// complete lines sent so far.
    fn log_event(&self, bytes: &[u8]) -> Event {
        let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
        let sent = self.offset - u64::try_from(self.pending.len()).unwrap_or(0);
        Event::default()
            .event("log")
            .id(sent.to_string())
            .data(text.replace('\r', "\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_final_statuses_end_the_stream() {
        assert!(!is_finished(Some("QUEUED")));
        assert!(!is_finished(Some("BUILDING")));
        for status in ["COMPLETED", "FAILED", "CANCELED"] {
            assert!(is_finished(Some(status)), "{status}");
        }
        assert!(is_finished(None));
    }
}
