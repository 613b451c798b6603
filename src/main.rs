//! The `mediastore` binary: parse the command line, set up logs, run; a failure is one line
//! on stderr and a non-zero exit.

use clap::Parser;
use mediastore::cli::{self, Cli};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logs();
    if let Err(error) = cli::run(cli).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// Logs go to stderr (stdout carries command output); JSON when `MEDIASTORE_LOG_FORMAT=json`.
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("MEDIASTORE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
