//! SIGKILL in the middle of a burst of uploads: after a restart every upload that was
//! answered 201 is listed, nothing twice, and blobs and files match one to one (issue 6).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{fresh_postgres_database, Backend, BinaryServer};
use crate::on_both_backends;

on_both_backends!(a_killed_server_restarts_with_every_answered_upload_and_no_orphans);

async fn a_killed_server_restarts_with_every_answered_upload_and_no_orphans(backend: Backend) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(base) => Some(fresh_postgres_database(&base).await),
    };
    let (mut server, token) = BinaryServer::start(data_dir.path(), &database_url, true, &[]);
    let token = token.expect("the first start prints the admin token");
    let client = reqwest::Client::new();

    let answered: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let uploads = (0..60).map(|i| {
        let (client, url, token, answered) = (
            client.clone(),
            format!("{}/api/media/files", server.address),
            token.clone(),
            answered.clone(),
        );
        tokio::spawn(async move {
            let name = format!("burst-{i}.txt");
            let bytes = format!("burst upload number {i}\n")
                .repeat(2000)
                .into_bytes();
            let form = reqwest::multipart::Form::new().part(
                "f",
                reqwest::multipart::Part::bytes(bytes).file_name(name.clone()),
            );
            let sent = client
                .post(url)
                .header("Authorization", format!("Token {token}"))
                .multipart(form)
                .send()
                .await;
            if let Ok(response) = sent {
                if response.status() == 201 {
                    if let Ok(body) = response.json::<Value>().await {
                        answered
                            .lock()
                            .expect("lock")
                            .push((body["id"].as_i64().unwrap_or(0), name));
                    }
                }
            }
        })
    });
    let tasks: Vec<_> = uploads.collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.lock().expect("lock").len() < 10 {
        assert!(Instant::now() < deadline, "uploads did not get going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    for task in tasks {
        let _ = task.await;
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(
        answered.len() < 60,
        "the kill came too late to test anything"
    );

    let (mut server, _) = BinaryServer::start(data_dir.path(), &database_url, false, &[]);
    let list: Value = client
        .get(format!("{}/api/media/files?limit=1000", server.address))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let results = list["results"].as_array().expect("results");
    let listed: BTreeSet<i64> = results
        .iter()
        .map(|f| f["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(listed.len(), results.len(), "a file is listed twice");
    for (id, name) in &answered {
        assert!(
            listed.contains(id),
            "{name} (id {id}) was answered 201 but is not listed"
        );
    }
    let listed_blobs: BTreeSet<String> = results
        .iter()
        .map(|f| {
            f["f"]
                .as_str()
                .expect("f")
                .split('/')
                .rev()
                .nth(1)
                .expect("hash")
                .to_string()
        })
        .collect();
    let blobs_on_disk = || -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for a in std::fs::read_dir(data_dir.path().join("blobs"))
            .expect("blobs")
            .flatten()
        {
            for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
                for blob in std::fs::read_dir(b.path()).into_iter().flatten().flatten() {
                    found.insert(blob.file_name().to_string_lossy().into_owned());
                }
            }
        }
        found
    };
    // Every listed file has its blob at once; orphans go with the startup sweep.
    assert!(
        listed_blobs.is_subset(&blobs_on_disk()),
        "a listed file lost its blob"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while blobs_on_disk() != listed_blobs {
        assert!(
            Instant::now() < deadline,
            "blobs without a file were left on disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}
