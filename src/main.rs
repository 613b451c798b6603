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
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
