//! The test harness: a real server on 127.0.0.1:0 over a fresh database (SQLite file, or a
//! new PostgreSQL database when `TEST_DATABASE_URL` is set) and a fresh data directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use mediastore::app::App;
use mediastore::config::Config;
use mediastore::media::SizeLimits;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, Response};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `TEST_DATABASE_URL` is set; otherwise says loudly that it is skipped.
    pub fn postgres(test: &str) -> Option<Backend> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                // Written past the test harness's capture, so it shows in every run.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test} on PostgreSQL: TEST_DATABASE_URL is not set"
                );
                None
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub admin_token: String,
    pub client: Client,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn config(data_dir: &Path, database_url: Option<String>) -> Config {
    let limits = SizeLimits::default();
    Config {
        bind: "127.0.0.1:0".parse().expect("address"),
        database_url,
        data_dir: data_dir.to_path_buf(),
        public_url: None,
        // Many test servers share one PostgreSQL (100 connections): keep each one small.
        db_pool_size: 4,
        max_image_bytes: limits.image,
        max_document_bytes: limits.document,
        max_audio_bytes: limits.audio,
        max_video_bytes: limits.video,
        max_image_pixels: limits.image_pixels,
        max_image_memory: mediastore::media::thumbnails::Limits::default().max_alloc,
    }
}

/// A new, empty PostgreSQL database next to the one `base` names; its URL.
pub async fn fresh_postgres_database(base: &str) -> String {
    let name = format!("ms_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(base)
        .await
        .expect("TEST_DATABASE_URL must reach PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let (server, _) = base.rsplit_once('/').expect("a URL with a database name");
    format!("{server}/{name}")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        // Server logs (5xx causes above all) go with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(base) => Some(fresh_postgres_database(&base).await),
        };
        let mut config = config(data_dir.path(), database_url.clone());
        adjust(&mut config);
        let app = App::build(&config).await.expect("the app builds");
        let admin_token = app
            .admin_token
            .clone()
            .expect("a first start creates the admin");
        let address = format!("http://{}", app.local_addr());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            admin_token,
            client: Client::new(),
            data_dir,
            database_url: config.database_url,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stop the server, then start a new one over the same database and data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let config = config(self.data_dir.path(), self.database_url.clone());
        let app = App::build(&config).await.expect("the app builds again");
        self.address = format!("http://{}", app.local_addr());
        let (shutdown, stopped) = oneshot::channel::<()>();
        self.server = Some(tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        })));
        self.shutdown = Some(shutdown);
    }

    /// Stop the server and wait for it to finish (its data stays).
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn upload(&self, file_name: &str, bytes: Vec<u8>) -> Response {
        self.upload_as(&self.admin_token, file_name, bytes).await
    }

    pub async fn upload_as(&self, token: &str, file_name: &str, bytes: Vec<u8>) -> Response {
        let form = Form::new().part("f", Part::bytes(bytes).file_name(file_name.to_string()));
        self.upload_form(token, form).await
    }

    pub async fn upload_form(&self, token: &str, form: Form) -> Response {
        self.client
            .post(self.url("/api/media/files"))
            .header("Authorization", format!("Token {token}"))
            .multipart(form)
            .send()
            .await
            .expect("upload request")
    }

    /// Upload and return the 201 body.
    pub async fn uploaded(&self, file_name: &str, bytes: Vec<u8>) -> serde_json::Value {
        let response = self.upload(file_name, bytes).await;
        assert_eq!(response.status(), 201, "upload of {file_name} failed");
        response.json().await.expect("json body")
    }

    pub async fn get_file(&self, id: &str) -> Response {
        self.client
            .get(self.url(&format!("/api/media/files/{id}")))
            .header("Authorization", format!("Token {}", self.admin_token))
            .send()
            .await
            .expect("detail request")
    }

    pub async fn delete_file(&self, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/media/files/{id}")))
            .header("Authorization", format!("Token {}", self.admin_token))
            .send()
            .await
            .expect("delete request")
    }

    /// Run the `mediastore` binary against this app's database and data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("run mediastore")
    }

    /// A new token from `mediastore token create --username <user> [extra args]`.
    pub fn token(&self, username: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--username", username];
        args.extend_from_slice(extra);
        let output = self.cli(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    }

    /// The `mediastore` command with this app's database and data directory, not yet run.
    pub fn cli_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mediastore"));
        command
            .args(args)
            .env("MEDIASTORE_DATA_DIR", self.data_dir.path())
            .env("RUST_LOG", "warn");
        match &self.database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        command
    }

    /// Every file under `<data>/blobs`.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir.path().join("blobs"), &mut out);
        out
    }
}

/// Requests to the endpoints, one helper each.
impl TestApp {
    pub async fn cms(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {}", self.admin_token))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn cms_upload(&self, token: &str, form: Form) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/media"))
            .header("Authorization", format!("Bearer {token}"))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl TestApp {
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .header("Authorization", format!("Token {}", self.admin_token))
            .header("X-Request-Id", "req-history-1")
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl TestApp {
    pub async fn list(&self, query: &str) -> Value {
        let response = self.list_response(query).await;
        assert_eq!(response.status(), 200, "GET ?{query}");
        response.json().await.expect("json")
    }

    pub async fn list_response(&self, query: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/media/files?{query}")))
            .header("Authorization", format!("Token {}", self.admin_token))
            .send()
            .await
            .expect("list request")
    }
}

impl TestApp {
    pub async fn raw(&self, path: &str) -> Vec<u8> {
        let response = self
            .client
            .get(self.url(path))
            .header("Authorization", format!("Token {}", self.admin_token))
            .send()
            .await
            .expect("get");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await.expect("body").to_vec()
    }
}

impl TestApp {
    pub async fn send_update(&self, method: Method, id: &str, body: Value) -> reqwest::Response {
        self.client
            .request(method, self.url(&format!("/api/media/files/{id}")))
            .header("Authorization", format!("Token {}", self.admin_token))
            .json(&body)
            .send()
            .await
            .expect("update request")
    }

    pub async fn patch_file(&self, id: &str, body: Value) -> reqwest::Response {
        self.send_update(Method::PATCH, id, body).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Run a test on SQLite, and on PostgreSQL when it is configured.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres(stringify!($name)) {
                    super::$name(backend).await
                }
            }
        }
    )*};
}

/// The real `mediastore` binary serving on a free port, for what only a process shows
/// (a SIGKILL, exported traces).
pub struct BinaryServer {
    pub child: std::process::Child,
    pub address: String,
}

impl BinaryServer {
    /// Start the binary; on a first start, also read the admin token it prints.
    pub fn start(
        data_dir: &std::path::Path,
        database_url: &Option<String>,
        first: bool,
        env: &[(&str, &str)],
    ) -> (BinaryServer, Option<String>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        use std::io::BufRead as _;
        use std::process::Stdio;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mediastore"));
        command
            .arg("serve")
            .env("MEDIASTORE_BIND", format!("127.0.0.1:{port}"))
            .env("MEDIASTORE_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .envs(env.iter().copied());
        match database_url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        let mut child = command.spawn().expect("start mediastore");
        let address = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The first start prints the admin token before it listens.
        let stdout = child.stdout.take().expect("stdout");
        let token = first
            .then(|| std::io::BufReader::new(stdout).lines().next())
            .flatten()
            .and_then(|line| line.ok())
            .and_then(|line| line.strip_prefix("admin token: ").map(str::to_string));
        (
            BinaryServer {
                child,
                address: format!("http://{address}"),
            },
            token,
        )
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        // Already gone after a test's own kill; a failing test must not leave it running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
