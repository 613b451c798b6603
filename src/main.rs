//! The `mediastore` binary: parse the command line, set up logs, run; a failure is one line
//! on stderr and a non-zero exit.

use clap::error::ErrorKind;
use clap::Parser;
use mediastore::cli::{self, Cli};

#[tokio::main]
async fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            // clap's usage block is left to `--help`: a failure is one line.
            let rendered = error.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{}", line.trim());
            std::process::exit(
                if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    0
                } else {
                    2
                },
            );
        }
    };
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
