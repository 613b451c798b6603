//! The `mediastore` command line: `serve` (the default), `user ...`, `token ...`.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use mediastore_projections::MediaReadModel;

use crate::accounts::{Accounts, NewUser, Permission};
use crate::app::App;
use crate::config::Config;
use crate::projector::Projector;
use crate::service;
use crate::store::Database;

#[derive(Debug, Parser)]
#[command(
    name = "mediastore",
    version,
    about = "A self-hosted media-file service"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Inspect or rebuild the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild every read model from the event store (also while `serve` runs).
    Rebuild {
        /// Events per batch (one transaction each); fewer use less memory.
        #[arg(long, default_value_t = crate::projector::REBUILD_BATCH)]
        batch_size: i64,
    },
    /// For each read model: the last event applied and how far it is behind.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print it as JSON.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// Staff users get the rights their permissions name.
        #[arg(long)]
        staff: bool,
        /// Admins may do everything.
        #[arg(long)]
        admin: bool,
        /// A permission code (3801 create, 3802 read, 3803 update, 3804 delete) or scope; repeatable.
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
    },
    /// Make every token of a user stop working.
    Deactivate {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user and print it (only it) on stdout.
    Create {
        #[arg(long)]
        username: String,
        /// Limit the token to a scope (media:create, media:read, media:update, media:delete); repeatable.
        #[arg(long = "scope", value_parser = parse_permission)]
        scopes: Vec<Permission>,
    },
    /// Revoke a token.
    Revoke {
        #[arg(long)]
        token: String,
    },
}

fn parse_permission(value: &str) -> Result<Permission, String> {
    Permission::parse(value).ok_or_else(|| {
        format!("unknown permission or scope {value:?} (use 3801..3804 or media:create|read|update|delete)")
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config).await,
        Command::User(command) => {
            let accounts = accounts(&cli.config).await?;
            let now = service::now().timestamp_micros();
            match command {
                UserCommand::Create {
                    username,
                    first_name,
                    last_name,
                    staff,
                    admin,
                    permissions,
                } => {
                    let new = NewUser {
                        username,
                        first_name,
                        last_name,
                        is_staff: staff,
                        is_admin: admin,
                        permissions,
                    };
                    let user = accounts.create_user(&new, now).await?;
                    println!("{}", serde_json::to_string(&user)?);
                }
                UserCommand::Deactivate { username } => accounts.deactivate(&username).await?,
            }
            Ok(())
        }
        Command::Projections(command) => projections(&cli.config, command).await,
        Command::Token(command) => {
            let accounts = accounts(&cli.config).await?;
            let now = service::now().timestamp_micros();
            match command {
                TokenCommand::Create { username, scopes } => {
                    println!("{}", accounts.create_token(&username, &scopes, now).await?);
                }
                TokenCommand::Revoke { token } => accounts.revoke_token(&token, now).await?,
            }
            Ok(())
        }
    }
}

async fn projections(config: &Config, command: ProjectionsCommand) -> anyhow::Result<()> {
    let database = Database::connect(&config.database().map_err(anyhow::Error::msg)?).await?;
    let projector = Projector::new(
        database.event_log(),
        MediaReadModel::new(database.any.clone()),
    );
    match command {
        ProjectionsCommand::Rebuild { batch_size } => {
            let started = Instant::now();
            let mut last_report = Instant::now();
            let done = projector
                .rebuild(batch_size, |done, total| {
                    if last_report.elapsed() >= Duration::from_secs(1) || done == total {
                        last_report = Instant::now();
                        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                        eprintln!("media_files: {done}/{total} events, {rate:.0} events/s");
                    }
                })
                .await?;
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "media_files: rebuilt from {done} events in {:.1} s ({rate:.0} events/s)",
                started.elapsed().as_secs_f64()
            );
        }
        ProjectionsCommand::Status => {
            let (checkpoint, behind) = projector.status().await?;
            println!(
                "media_files: last applied event at position {}, {behind} events behind",
                checkpoint.seq
            );
        }
    }
    database.close().await;
    Ok(())
}

async fn accounts(config: &Config) -> anyhow::Result<Accounts> {
    let database = Database::connect(&config.database().map_err(anyhow::Error::msg)?).await?;
    Ok(Accounts::new(database.any.clone()))
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    if let Some(token) = &app.admin_token {
        println!("admin token: {token}");
    }
    tracing::info!(address = %app.local_addr(), "mediastore listening");
    app.run_until_stopped(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
