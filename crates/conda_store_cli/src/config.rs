//! Command-line arguments and the configuration they select.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use conda_store_core::settings::{Layer, Settings};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// conda-store in Rust: manages conda environments for teams.
#[derive(Debug, Parser)]
#[command(name = "conda-store-server", version, about)]
pub struct Arguments {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// Settings given on the command line.
    #[command(flatten)]
    pub settings: SettingFlags,
}

/// Flags that set settings; they override the file and the environment.
#[derive(Debug, Args)]
pub struct SettingFlags {
    /// TOML configuration file (setting names as in the Python conda-store).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite:////abs/path.sqlite, postgresql://..., mysql://...).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Data directory for the embedded defaults (database, store).
    #[arg(long, global = true, value_name = "PATH")]
    pub data_directory: Option<PathBuf>,
    /// Directory where environments are built.
    #[arg(long, global = true, value_name = "PATH")]
    pub store_directory: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, global = true)]
    pub address: Option<String>,
    /// Port to listen on.
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// Path prefix of every route (starts with `/`).
    #[arg(long, global = true, value_name = "PREFIX")]
    pub url_prefix: Option<String>,
    /// Log level (ERROR, WARN, INFO, DEBUG, TRACE).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Server and workers in one process, on SQLite and local files by default.
    Standalone,
    /// The HTTP server.
    Serve,
    /// A worker: runs builds and other jobs from the database queue.
    Worker {
        /// Jobs run at once (default: the `concurrency` setting, else the CPU count).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Database schema management.
    #[command(subcommand)]
    Db(DatabaseCommand),
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatabaseCommand {
    /// Apply migrations up to REVISION (default: the newest); adopts a Python
    /// conda-store 2025.2.2 database first.
    Upgrade {
        /// Target revision (name, number, or `head`).
        revision: Option<String>,
    },
    /// Revert migrations down to REVISION, `-N` steps, or `base` (drops every table).
    /// `bf065abf375b` names the adoption point, which the Python conda-store can open.
    Downgrade {
        /// Target: a revision, `-N`, or `base`.
        #[arg(allow_hyphen_values = true)]
        revision: String,
    },
    /// Print the database's current revision.
    Current,
    /// List every revision, marking the applied ones.
    History,
    /// Draw the entity-relationship diagram of the live database.
    Diagram {
        /// Output format; svg and png need graphviz's `dot`.
        #[arg(long, value_enum, default_value_t = DiagramFormat::Mermaid)]
        format: DiagramFormat,
        /// Tables to leave out (repeatable).
        #[arg(long, value_name = "TABLE")]
        exclude: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Formats of `db diagram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagramFormat {
    /// Mermaid erDiagram text.
    Mermaid,
    /// Graphviz DOT text.
    Dot,
    /// SVG rendered by graphviz.
    Svg,
    /// PNG rendered by graphviz.
    Png,
}

impl SettingFlags {
    fn layer(&self) -> anyhow::Result<Layer> {
        let mut values = Map::new();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                values.insert(key.to_owned(), value);
            }
        };
        let path = |path: &Option<PathBuf>| {
            path.as_ref()
                .map(|path| Value::from(path.display().to_string()))
        };
        set("database_url", self.database_url.clone().map(Value::from));
        set("data_directory", path(&self.data_directory));
        set("store_directory", path(&self.store_directory));
        set("address", self.address.clone().map(Value::from));
        set("port", self.port.map(Value::from));
        set("url_prefix", self.url_prefix.clone().map(Value::from));
        set("log_level", self.log_level.clone().map(Value::from));
        Ok(Layer::from_flags(values)?)
    }
}

/// Loads the settings: command defaults, then the file, the environment, the flags.
/// Also returns the `CONDA_STORE_*` variables that name no setting, to warn about.
pub fn load_settings(arguments: &Arguments) -> anyhow::Result<(Settings, Vec<String>)> {
    let mut layers = Vec::new();
    if matches!(arguments.command, Command::Standalone) {
        let mut defaults = Map::new();
        defaults.insert("address".to_owned(), Value::from("127.0.0.1"));
        layers.push(Layer::command_defaults(defaults)?);
    }
    if let Some(path) = &arguments.settings.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        layers.push(Layer::from_toml(&text, path)?);
    }
    let (environment, ignored) = Layer::from_environment(std::env::vars())?;
    layers.push(environment);
    layers.push(arguments.settings.layer()?);
    Ok((Settings::from_layers(&layers)?, ignored))
}
