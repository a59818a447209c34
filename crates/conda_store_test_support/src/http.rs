//! A channel (or a PyPI simple index) served over HTTP on 127.0.0.1, answering
//! `repodata.json` requests after a delay: a slow mirror, so tests can catch a build
//! while it runs (to cancel it or kill its worker). A folder path answers with the
//! folder's `index.html`.
//!
//! Answers carry an `ETag` (a hash of the content) and `Last-Modified` (the file's
//! modification time); a request whose `If-None-Match` (or, without it,
//! `If-Modified-Since`) still matches gets `304 Not Modified`, as on a real channel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A running slow HTTP server for a channel directory; stops when dropped.
pub struct SlowChannelServer {
    /// The channel's `http://127.0.0.1:PORT` URL.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    served: Served,
    not_modified: Served,
}

/// How many times each path was answered with its content (200), or with 304.
type Served = Arc<Mutex<HashMap<String, usize>>>;

impl SlowChannelServer {
    /// Serves `directory`, delaying every `repodata.json` answer by `delay`. Other
    /// repodata variants (`.zst`, shards, jlap) answer 404, as on a plain mirror.
    pub async fn start(directory: PathBuf, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let served = Served::default();
        let not_modified = Served::default();
        let counts = (served.clone(), not_modified.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let directory = directory.clone();
                let counts = counts.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, &directory, delay, &counts).await;
                });
            }
        });
        Self {
            url: format!("http://{address}"),
            task,
            served,
            not_modified,
        }
    }

    /// How many times a conditional request for `path` was answered `304 Not Modified`.
    pub fn not_modified(&self, path: &str) -> usize {
        count(&self.not_modified, path)
    }

    /// How many times `path` (for example `/linux-64/hello-1.0.0-h0_0.conda`) was
    /// downloaded.
    pub fn downloads(&self, path: &str) -> usize {
        count(&self.served, path)
    }
}

fn count(counts: &Served, path: &str) -> usize {
    counts
        .lock()
        .map(|counts| counts.get(path).copied().unwrap_or(0))
        .unwrap_or(0)
}

/// Adds one to the count of `path`.
fn tally(counts: &Served, path: &str) {
    if let Ok(mut counts) = counts.lock() {
        *counts.entry(path.to_owned()).or_default() += 1;
    }
}

impl Drop for SlowChannelServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    stream: tokio::net::TcpStream,
    directory: &std::path::Path,
    delay: Duration,
    (served, not_modified): &(Served, Served),
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).await? == 0 {
            return Ok(());
        }
        let mut conditions = Conditions::default();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
                break;
            }
            conditions.read(&header);
        }
        let mut words = request.split_whitespace();
        let head_only = words.next() == Some("HEAD");
        let path = words.next().unwrap_or("/").to_owned();
        let relative = path.trim_start_matches('/');
        // A folder answers with its index.html, as a PyPI simple index does.
        let file = match relative {
            "" => directory.join("index.html"),
            folder if folder.ends_with('/') => directory.join(folder).join("index.html"),
            file => directory.join(file),
        };
        let safe = !relative.split('/').any(|part| part == "..");
        if relative.ends_with("repodata.json") {
            tokio::time::sleep(delay).await;
        }
        let body = if safe {
            tokio::fs::read(&file).await.ok()
        } else {
            None
        };
        let validators = match &body {
            Some(bytes) => Some(Validators::of(&file, bytes).await),
            None => None,
        };
        let unchanged = validators
            .as_ref()
            .is_some_and(|validators| conditions.satisfied_by(validators));
        let head = match (&body, &validators) {
            (Some(_), Some(validators)) if unchanged => format!(
                "HTTP/1.1 304 Not Modified\r\netag: {}\r\nlast-modified: {}\r\ncontent-length: 0\r\n\r\n",
                validators.etag, validators.last_modified
            ),
            (Some(bytes), Some(validators)) => format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: {}\r\netag: {}\r\nlast-modified: {}\r\n\r\n",
                bytes.len(),
                content_type(&file),
                validators.etag,
                validators.last_modified
            ),
            _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned(),
        };
        writer.write_all(head.as_bytes()).await?;
        if unchanged {
            tally(not_modified, &path);
        } else if let Some(bytes) = body.filter(|_| !head_only) {
            tally(served, &path);
            writer.write_all(&bytes).await?;
        }
        writer.flush().await?;
    }
}

/// The content type of a served file, by its extension.
fn content_type(file: &std::path::Path) -> &'static str {
    match file.extension().and_then(|extension| extension.to_str()) {
        Some("html") => "text/html",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The validators of a served file.
struct Validators {
    /// `"{sha256 of the content}"`.
    etag: String,
    /// The modification time as an HTTP date.
    last_modified: String,
}

impl Validators {
    async fn of(file: &std::path::Path, bytes: &[u8]) -> Self {
        let digest = rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(bytes);
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        let modified = tokio::fs::metadata(file)
            .await
            .and_then(|metadata| metadata.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        Self {
            etag: format!("\"{hex}\""),
            last_modified: chrono::DateTime::<chrono::Utc>::from(modified)
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        }
    }
}

/// The conditional headers of a request.
#[derive(Default)]
struct Conditions {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

impl Conditions {
    /// Takes note of one header line.
    fn read(&mut self, header: &str) {
        let Some((name, value)) = header.split_once(':') else {
            return;
        };
        let value = Some(value.trim().to_owned());
        match name.trim().to_ascii_lowercase().as_str() {
            "if-none-match" => self.if_none_match = value,
            "if-modified-since" => self.if_modified_since = value,
            _ => {}
        }
    }

    /// Whether the client's copy is current (RFC 9110: `If-None-Match` wins over
    /// `If-Modified-Since`).
    fn satisfied_by(&self, validators: &Validators) -> bool {
        match (&self.if_none_match, &self.if_modified_since) {
            (Some(tags), _) => tags.split(',').any(|tag| {
                tag.trim().trim_start_matches("W/") == validators.etag || tag.trim() == "*"
            }),
            (None, Some(since)) => *since == validators.last_modified,
            (None, None) => false,
        }
    }
}
