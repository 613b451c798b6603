//! Wiring: `App::build` connects everything and binds the listener; `run_until_stopped`
//! serves until the shutdown future resolves, then drains in-flight requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mediastore_projections::MediaReadModel;
use tokio::net::TcpListener;

use crate::accounts::{Accounts, NewUser};
use crate::blobs::{BlobLocks, LocalBlobStore};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::projector::Projector;
use crate::service::{self, MediaService};
use crate::store::Database;
use crate::telemetry::Metrics;

/// How often the projector looks for events it has not applied (other processes' commands,
/// or a projection that failed after its command).
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub struct App {
    listener: TcpListener,
    state: AppState,
    database: Database,
    projector: Projector,
    /// The token of the admin user created on this first start, if it was one.
    pub admin_token: Option<String>,
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let database = Database::connect_with(
            &config.database().map_err(anyhow::Error::msg)?,
            config.db_pool_size,
        )
        .await
        .context("connecting to the database")?;
        let blobs = LocalBlobStore::open(&config.data_dir)
            .await
            .with_context(|| format!("opening the blob store in {}", config.data_dir.display()))?;
        let accounts = Accounts::new(database.any.clone());
        let admin_token = bootstrap_admin(&accounts).await?;

        let read_model = MediaReadModel::new(database.any.clone());
        let projector = Projector::new(database.event_log(), read_model.clone());
        // Heal before serving: events stored by a process that died before projecting them.
        let healed = projector
            .catch_up_all()
            .await
            .context("bringing the read models up to date")?;
        tracing::info!(
            events = healed,
            "read models caught up with the event store"
        );

        let metrics = Arc::new(Metrics::new().context("setting up metrics")?);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let media = MediaService {
            metrics: metrics.clone(),
            thumbnail_slots: tokio::sync::Semaphore::new(cores),
            thumbnail_limits: crate::media::thumbnails::Limits {
                max_pixels: config.max_image_pixels,
                max_alloc: config.max_image_memory,
            },
            commands: database.command_bus(),
            events: database.event_log(),
            projector: projector.clone(),
            read_model,
            blobs: Arc::new(blobs),
            locks: BlobLocks::default(),
            ids: database.ids(),
        };
        let state = AppState {
            media: Arc::new(media),
            metrics,
            accounts,
            limits: config.limits(),
            public_base: config.public_base(),
        };
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("listening on {}", config.bind))?;
        Ok(App {
            listener,
            state,
            database,
            projector,
            admin_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let follower = self.projector.spawn_follower(FOLLOW_EVERY);
        // After the catch-up in `build`, so files whose events were stored but not yet
        // projected count as users of their blobs.
        let media = self.state.media.clone();
        let sweeper = tokio::spawn(async move {
            match media.sweep_orphan_blobs().await {
                Ok(0) => tracing::info!("blob sweep: every stored blob belongs to a file"),
                Ok(removed) => {
                    tracing::warn!(removed, "blob sweep: removed blobs of interrupted uploads")
                }
                Err(error) => tracing::error!(%error, "blob sweep failed"),
            }
        });
        let gauges = self.state.metrics.otlp_interval().map(|every| {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    http::sample_gauges(&state).await;
                }
            })
        });
        let metrics = self.state.metrics.clone();
        let service =
            axum::ServiceExt::<axum::extract::Request>::into_make_service(http::app(self.state));
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        follower.abort();
        sweeper.abort();
        if let Some(gauges) = gauges {
            gauges.abort();
        }
        // The last OTLP push blocks on its HTTP request.
        let _ = tokio::task::spawn_blocking(move || metrics.shutdown()).await;
        self.database.close().await;
        Ok(())
    }
}

/// On a first start with no users, create the admin user and return its token (SPEC §8).
async fn bootstrap_admin(accounts: &Accounts) -> anyhow::Result<Option<String>> {
    if accounts.user_count().await? > 0 {
        return Ok(None);
    }
    let now = service::now().timestamp_micros();
    let admin = NewUser {
        username: "admin".into(),
        is_staff: true,
        is_admin: true,
        ..NewUser::default()
    };
    accounts.create_user(&admin, now).await?;
    Ok(Some(accounts.create_token("admin", &[], now).await?))
}
