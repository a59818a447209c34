//! A channel served over HTTP on 127.0.0.1, answering `repodata.json` requests after a
//! delay: a slow mirror, so tests can catch a build while it runs (to cancel it or
//! kill its worker).

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
}

/// How many times each path was answered with its content (200).
type Served = Arc<Mutex<HashMap<String, usize>>>;

impl SlowChannelServer {
    /// Serves `directory`, delaying every `repodata.json` answer by `delay`. Other
    /// repodata variants (`.zst`, shards, jlap) answer 404, as on a plain mirror.
    pub async fn start(directory: PathBuf, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let served = Served::default();
        let counts = served.clone();
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
        }
    }

    /// How many times `path` (for example `/linux-64/hello-1.0.0-h0_0.conda`) was
    /// downloaded.
    pub fn downloads(&self, path: &str) -> usize {
        self.served
            .lock()
            .map(|served| served.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
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
    served: &Served,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).await? == 0 {
            return Ok(());
        }
        // Skip the headers.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
                break;
            }
        }
        let mut words = request.split_whitespace();
        let head_only = words.next() == Some("HEAD");
        let path = words.next().unwrap_or("/").to_owned();
        let relative = path.trim_start_matches('/');
        let file = directory.join(relative);
        let safe = !relative.split('/').any(|part| part == "..");
        if relative.ends_with("repodata.json") {
            tokio::time::sleep(delay).await;
        }
        let body = if safe {
            tokio::fs::read(&file).await.ok()
        } else {
            None
        };
        let head = match &body {
            Some(bytes) => format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
                bytes.len()
            ),
            None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned(),
        };
        writer.write_all(head.as_bytes()).await?;
        if let Some(bytes) = body.filter(|_| !head_only) {
            if let Ok(mut served) = served.lock() {
                *served.entry(path.clone()).or_default() += 1;
            }
            writer.write_all(&bytes).await?;
        }
        writer.flush().await?;
    }
}
