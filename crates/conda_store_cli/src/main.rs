//! `conda-store-server`: the one binary of conda-store in Rust.
//!
//! `standalone` runs everything in one process on the embedded defaults; `serve` runs
//! the HTTP server; `db ...` manages the database schema.

mod commands;
mod config;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let arguments = config::Arguments::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(arguments)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes, joined.
            let message = format!("{error:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
