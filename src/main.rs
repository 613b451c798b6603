//! The `mediastore` binary: parse the command line, set up logs, run; a failure is one line
//! on stderr and a non-zero exit.

use clap::error::ErrorKind;
use clap::Parser;
use mediastore::cli::{self, Cli};
use mediastore::telemetry::Tracing;

fn main() {
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
    let result = Tracing::init().and_then(|tracing| {
        let runtime = tokio::runtime::Runtime::new()?;
        let result = runtime.block_on(cli::run(cli));
        // The runtime first (its tasks may still log), then the last spans are sent.
        drop(runtime);
        drop(tracing);
        result
    });
    if let Err(error) = result {
        eprintln!("error: {}", one_line(&error));
        std::process::exit(1);
    }
}

/// The error and its causes, each said once: some errors (sqlx's) already end with their
/// cause's text, which `{:#}` would repeat.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
