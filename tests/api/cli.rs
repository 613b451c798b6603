//! The `mediastore` command line (SPEC §8).

use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    user_create_prints_the_user_as_json,
    commands_fail_with_one_line_for_unknown_things,
);

async fn user_create_prints_the_user_as_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let output = app.cli(&[
        "user",
        "create",
        "--username",
        "zoe",
        "--first-name",
        "Zoe",
        "--staff",
        "--permission",
        "3801",
        "--permission",
        "media:read",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let user: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let keys: Vec<&str> = user
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "uuid",
            "username",
            "first_name",
            "last_name",
            "is_staff",
            "is_admin",
            "permissions"
        ]
    );
    assert_eq!(user["username"], "zoe");
    assert_eq!(user["permissions"], serde_json::json!([3801, 3802]));
    assert_eq!(user["is_staff"], true);
    assert_eq!(user["is_admin"], false);
}

async fn commands_fail_with_one_line_for_unknown_things(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = "n".repeat(151);
    for args in [
        vec!["user", "create", "--username", "x", "--permission", "9999"],
        vec!["token", "create", "--username", "nobody"],
        vec![
            "token",
            "create",
            "--username",
            "admin",
            "--scope",
            "media:everything",
        ],
        vec!["token", "revoke", "--token", "not-a-token"],
        vec!["user", "deactivate", "--username", "nobody"],
        vec!["user", "create", "--username", "admin"],
        // Django's auth.User rules.
        vec!["user", "create", "--username", ""],
        vec!["user", "create", "--username", "two words"],
        vec!["user", "create", "--username", &long],
        vec!["user", "create", "--username", "zoe", "--first-name", &long],
    ] {
        let output = app.cli(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// A PostgreSQL that is not there is named as such, once waited for, in one line (the pools
/// alone said "pool timed out while waiting for an open connection").
#[test]
fn an_unreachable_postgres_fails_with_the_reason() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let data = tempfile::tempdir().expect("data dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mediastore"))
        .args(["projections", "status"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/x"),
        )
        .env("MEDIASTORE_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mediastore");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    // Said once: sqlx's message already ends with its cause's.
    assert_eq!(stderr.matches("refused").count(), 1, "{stderr}");
}
