//! A real Prometheus scrapes the running service (issue 7). `.ci/run` unpacks Debian's
//! `prometheus` and names its binary in `MEDIASTORE_PROMETHEUS_BIN`; without it the test says
//! so and checks nothing else.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(prometheus_scrapes_the_request_counter);

struct Prometheus(std::process::Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn prometheus_scrapes_the_request_counter(backend: Backend) {
    let Ok(binary) = std::env::var("MEDIASTORE_PROMETHEUS_BIN") else {
        eprintln!("skipped: MEDIASTORE_PROMETHEUS_BIN is not set (.ci/run sets it)");
        return;
    };
    let app = TestApp::spawn(backend).await;
    app.uploaded("a.pdf", fixtures::pdf()).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let target = app.address.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mediastore\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let _prometheus = Prometheus(
        Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=mediastore_http_requests_total%7Broute%3D%22%2Fapi%2Fmedia%2Ffiles%22%7D"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = loop {
        let answer: Option<Value> = match app.client.get(&query).send().await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let results = answer
            .as_ref()
            .and_then(|a| a["data"]["result"].as_array())
            .cloned()
            .unwrap_or_default();
        if !results.is_empty() {
            break results;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had the request counter: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let upload = series
        .iter()
        .find(|s| s["metric"]["method"] == "POST" && s["metric"]["status"] == "201")
        .unwrap_or_else(|| panic!("no POST 201 series in {series:?}"));
    assert_eq!(upload["metric"]["job"], "mediastore");
    assert_eq!(upload["value"][1], "1", "{upload}");
}
