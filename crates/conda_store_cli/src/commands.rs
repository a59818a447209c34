//! What each subcommand does.

use crate::config::{Arguments, Command, DatabaseCommand, DiagramFormat, load_settings};
use anyhow::{Context, bail};
use conda_store_build::Engine;
use conda_store_core::settings::{Settings, user_data_directory};
use conda_store_db::diagram::{self, DiagramFormat as TextFormat};
use conda_store_db::migration::{self, DatabaseState, DowngradeTarget};
use conda_store_db::{DatabaseConnection, DatabaseUrl, PoolSize, connect, introspect};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_worker::{Worker, WorkerOptions};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// Runs the selected subcommand.
pub async fn run(arguments: Arguments) -> anyhow::Result<()> {
    let (settings, ignored) = load_settings(&arguments)?;
    init_logging(&settings);
    if !ignored.is_empty() {
        tracing::debug!(
            "environment variables that name no setting: {}",
            ignored.join(", ")
        );
    }
    match arguments.command {
        Command::Standalone => run_server(&settings, true).await,
        Command::Serve => run_server(&settings, false).await,
        Command::Worker { concurrency } => run_worker(&settings, concurrency).await,
        Command::Db(command) => database(&settings, command).await,
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},sqlx=warn,sea_orm=warn,sea_orm_migration=warn",
            settings.log_level.to_ascii_lowercase()
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn database_url(settings: &Settings) -> anyhow::Result<DatabaseUrl> {
    Ok(DatabaseUrl::parse(
        &settings.database_url(&user_data_directory()),
    )?)
}

/// Connects for a command that only reads: a SQLite file that does not exist is an
/// error rather than a new empty database.
async fn connect_existing(url: &DatabaseUrl) -> anyhow::Result<DatabaseConnection> {
    if let Some(file) = url.sqlite_file()
        && !file.exists()
    {
        bail!("database file {} does not exist", file.display());
    }
    Ok(connect(url, PoolSize::Single).await?)
}

async fn database(settings: &Settings, command: DatabaseCommand) -> anyhow::Result<()> {
    let url = database_url(settings)?;
    match command {
        DatabaseCommand::Upgrade { revision } => {
            let connection = connect(&url, PoolSize::Single).await?;
            let applied = migration::upgrade(&connection, revision.as_deref()).await?;
            let current = migration::state(&connection).await?.current();
            if applied.is_empty() {
                println!("already at {current}");
            } else {
                println!("upgraded to {current} (applied {})", applied.join(", "));
            }
        }
        DatabaseCommand::Downgrade { revision } => {
            let connection = connect_existing(&url).await?;
            let target = DowngradeTarget::parse(&revision);
            let reverted = migration::downgrade(&connection, &target).await?;
            let current = migration::state(&connection).await?.current();
            if reverted.is_empty() {
                println!("already at {current}");
            } else {
                println!("downgraded to {current} (reverted {})", reverted.join(", "));
            }
        }
        DatabaseCommand::Current => {
            let connection = connect_existing(&url).await?;
            println!("{}", migration::state(&connection).await?.current());
        }
        DatabaseCommand::History => {
            let connection = connect_existing(&url).await?;
            print_history(&migration::state(&connection).await?);
        }
        DatabaseCommand::Diagram {
            format,
            exclude,
            output,
        } => {
            let connection = connect_existing(&url).await?;
            migration::state(&connection).await?;
            let schema = introspect::schema(&connection).await?;
            let text_format = match format {
                DiagramFormat::Mermaid => TextFormat::Mermaid,
                _ => TextFormat::Dot,
            };
            let text = diagram::render(&schema, text_format, &exclude);
            let bytes = match format {
                DiagramFormat::Svg => render_with_graphviz(&text, "svg")?,
                DiagramFormat::Png => render_with_graphviz(&text, "png")?,
                _ => text.into_bytes(),
            };
            write_output(output.as_deref(), &bytes)?;
        }
    }
    Ok(())
}

fn print_history(state: &DatabaseState) {
    let applied = match state {
        DatabaseState::Empty => 0,
        DatabaseState::Python => 1,
        DatabaseState::Managed(applied) => applied.len(),
    };
    for (position, revision) in migration::revisions().iter().enumerate() {
        let mark = match (position + 1).cmp(&applied) {
            std::cmp::Ordering::Less => "applied",
            std::cmp::Ordering::Equal => "current",
            std::cmp::Ordering::Greater => "pending",
        };
        println!("{:<28} {mark:<8} {}", revision.name, revision.summary);
    }
}

fn render_with_graphviz(dot: &str, format: &str) -> anyhow::Result<Vec<u8>> {
    let mut child = std::process::Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("graphviz `dot` is needed for svg and png (install graphviz), or use --format mermaid|dot")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).context("writing to dot")?;
    }
    let output = child.wait_with_output().context("running dot")?;
    if !output.status.success() {
        bail!(
            "dot failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => std::io::stdout()
            .write_all(bytes)
            .context("writing to standard output"),
    }
}

/// Opens the database for a long-running command: migrates it (or checks it is
/// current when `upgrade_db` is off), then returns a pool.
async fn open_database(settings: &Settings) -> anyhow::Result<(DatabaseUrl, DatabaseConnection)> {
    let url = database_url(settings)?;
    let connection = connect(&url, PoolSize::Single).await?;
    if settings.upgrade_db {
        migration::upgrade(&connection, None).await?;
    } else {
        migration::ensure_current(&connection).await?;
    }
    connection.close().await?;
    let database = connect(&url, PoolSize::Up(8)).await?;
    Ok((url, database))
}

/// The service over the database, local storage and the store directory, and the build
/// engine with its caches under the data directory.
fn application(settings: &Settings, database: DatabaseConnection) -> (Service, Arc<Engine>) {
    let user_data = user_data_directory();
    let data = settings.data_directory(&user_data);
    // Absolute, as the Python conda-store makes it: prefixes and symlinks name it.
    let store = settings.store_directory(&user_data);
    let store = std::path::absolute(&store).unwrap_or(store);
    let service = Service::new(
        database,
        Arc::new(settings.clone()),
        Arc::new(LocalStorage::new(data.join("storage"))),
        store,
    );
    let filter = conda_store_build::AddressFilter::from_policy(
        &conda_store_core::url_policy::UrlPolicy::from_settings(settings),
    );
    (
        service,
        Arc::new(Engine::with_address_filter(&data.join("cache"), filter)),
    )
}

fn concurrency(settings: &Settings, flag: Option<usize>) -> usize {
    flag.or(settings.concurrency).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// Stops on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// `worker`: run jobs until Ctrl-C or SIGTERM.
async fn run_worker(settings: &Settings, flag: Option<usize>) -> anyhow::Result<()> {
    let (url, database) = open_database(settings).await?;
    let count = concurrency(settings, flag);
    announce(&format!(
        "conda-store-server worker running {count} jobs at a time (database {})",
        url.redacted()
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (service, engine) = application(settings, database);
    let worker = Worker::new(service, engine, WorkerOptions::default());
    let running = tokio::spawn(async move { worker.run(count, stopped).await });
    shutdown_signal().await;
    let _ = stop.send(true);
    finish_within_grace(running, None).await;
    Ok(())
}

/// How long a stopping process waits for its workers to hand back their jobs and for
/// open HTTP connections (a followed build log, say) to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Waits up to [`SHUTDOWN_GRACE`] for the workers (which stop their jobs and hand them
/// back to the queue) and the HTTP server, then aborts what is left. A job not handed
/// back in time keeps its lease until it expires, then the next worker retries it.
async fn finish_within_grace(
    workers: tokio::task::JoinHandle<()>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
) {
    let workers_abort = workers.abort_handle();
    let server_abort = server.as_ref().map(tokio::task::JoinHandle::abort_handle);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let _ = workers.await;
        if let Some(server) = server {
            let _ = server.await;
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            "stopping after {} s with work still running",
            SHUTDOWN_GRACE.as_secs()
        );
        workers_abort.abort();
        if let Some(server) = server_abort {
            server.abort();
        }
    }
}

/// `serve` and `standalone`: serve HTTP until Ctrl-C or SIGTERM; `standalone` runs the
/// workers in the same process.
async fn run_server(settings: &Settings, with_workers: bool) -> anyhow::Result<()> {
    let (url, database) = open_database(settings).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (service, engine) = application(settings, database);
    let authentication = conda_store_server::auth::Authentication::from_settings(&service)
        .await
        .context("reading the authentication settings")?;
    let workers = with_workers.then(|| {
        let worker = Worker::new(service.clone(), engine.clone(), WorkerOptions::default());
        let count = concurrency(settings, None);
        let stopped = stopped.clone();
        tokio::spawn(async move { worker.run(count, stopped).await })
    });
    let app = conda_store_server::router(conda_store_server::AppState {
        service,
        authentication,
        engine,
        version: conda_store_core::VERSION,
    });
    let address = format!("{}:{}", settings.address, settings.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let prefix = settings.url_prefix.trim_end_matches('/');
    announce(&format!(
        "conda-store-server listening on http://{local}{prefix}/ (database {})",
        url.redacted()
    ));
    if settings.enable_ui {
        announce(&format!(
            "Open http://{local}{prefix}/ui/ in a browser. {}",
            login_hint(settings)
        ));
    }
    let mut stopping = stopped;
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    tokio::select! {
        served = &mut server => {
            let _ = stop.send(true);
            served.context("serving HTTP")?.context("serving HTTP")?;
        }
        () = shutdown_signal() => {
            let _ = stop.send(true);
        }
    }
    let workers = workers.unwrap_or_else(|| tokio::spawn(async {}));
    finish_within_grace(workers, (!server.is_finished()).then_some(server)).await;
    Ok(())
}

/// Prints a start-up line. A long-running server must not die because whoever started it
/// stopped reading its output (a closed pipe), so write errors are ignored.
fn announce(line: &str) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// How to log in, for the start-up message; never prints a configured password.
fn login_hint(settings: &Settings) -> String {
    match settings.authentication_class.as_str() {
        "DummyAuthentication" if settings.password == "password" => {
            "Log in with any user name and the password `password` (set `password` to change it)."
                .to_owned()
        }
        "DummyAuthentication" => {
            "Log in with any user name and the password of the `password` setting.".to_owned()
        }
        _ => "Log in through the configured OAuth provider.".to_owned(),
    }
}
