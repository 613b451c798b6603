//! `POST /api/media/files`: detection, names, limits, dedup, refusals (SPEC §3, §4).

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    an_upload_answers_201_with_the_media_file_object,
    each_of_the_nine_types_is_detected_from_content,
    the_content_decides_the_type_not_the_name,
    the_same_bytes_twice_make_two_files_and_one_blob,
    refused_uploads_get_a_clear_400_and_leave_nothing,
    an_upload_over_its_type_limit_is_413_without_leftovers,
    exactly_the_limit_is_accepted,
    an_endless_upload_is_cut_off_at_its_limit_not_buffered,
    a_client_that_disconnects_mid_upload_leaves_nothing,
    name_defaults_and_validation_follow_the_spec,
    fifty_concurrent_uploads_all_succeed_with_distinct_ids,
);

async fn an_upload_answers_201_with_the_media_file_object(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let form = Form::new()
        .part(
            "f",
            Part::bytes(fixtures::text())
                .file_name("askari.txt")
                .mime_str("text/plain")
                .expect("mime"),
        )
        .text("name", "textfile")
        .text("description", "some words");
    let response = app.upload_form(&app.admin_token, form).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "user",
            "f",
            "name",
            "description",
            "size",
            "human_readable_size",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(body["type"], "text");
    assert_eq!(body["name"], "textfile");
    assert_eq!(body["description"], "some words");
    assert_eq!(body["size"], fixtures::text().len());
    assert_eq!(
        body["human_readable_size"],
        format!("{} B", fixtures::text().len())
    );
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["full_name"], Value::Null);
    assert!(body["id"].as_i64().expect("integer id") > 0);
    let f = body["f"].as_str().expect("f");
    assert!(f.starts_with(&format!("{}/media/", app.address)), "{f}");
    assert!(f.ends_with("/askari.txt"), "{f}");
    let created = body["created_at"].as_str().expect("time");
    assert_eq!(
        created.len(),
        "2025-12-22T17:29:34.807896Z".len(),
        "{created}"
    );
    assert!(created.ends_with('Z'));
    assert_eq!(body["created_at"], body["updated_at"]);
}

async fn each_of_the_nine_types_is_detected_from_content(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let samples: Vec<(&str, Vec<u8>, &str)> = vec![
        ("doc.pdf", fixtures::pdf(), "pdf"),
        ("notes.txt", fixtures::text(), "text"),
        ("pixel.png", fixtures::png(), "image"),
        ("report.docx", fixtures::docx(), "document"),
        ("archive.zip", fixtures::plain_zip(), "compressed"),
        ("sheet.xlsx", fixtures::xlsx(), "spreadsheet"),
        ("slides.pptx", fixtures::pptx(), "presentation"),
        ("clip.mp4", fixtures::mp4(), "video"),
        ("sound.wav", fixtures::wav(), "audio"),
    ];
    for (name, bytes, expected) in samples {
        let body = app.uploaded(name, bytes).await;
        assert_eq!(body["type"], expected, "{name}");
    }
}

async fn the_content_decides_the_type_not_the_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.uploaded("photo.png", fixtures::pdf()).await["type"],
        "pdf"
    );
    assert_eq!(
        app.uploaded("photo.jpg", fixtures::png()).await["type"],
        "image"
    );
    assert_eq!(
        app.uploaded("data.zip", fixtures::docx()).await["type"],
        "document"
    );
    assert_eq!(
        app.uploaded("x.bin", fixtures::gzip()).await["type"],
        "compressed"
    );
}

async fn the_same_bytes_twice_make_two_files_and_one_blob(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.uploaded("a.pdf", fixtures::pdf()).await;
    let second = app.uploaded("b.pdf", fixtures::pdf()).await;
    assert_ne!(first["id"], second["id"]);
    let blobs = app.blob_files();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let hash = blake3::hash(&fixtures::pdf()).to_hex().to_string();
    let expected = app
        .data_dir
        .path()
        .join("blobs")
        .join(&hash[..2])
        .join(&hash[2..4])
        .join(&hash);
    assert_eq!(blobs[0], expected);
    assert_eq!(std::fs::read(&expected).expect("blob"), fixtures::pdf());
}

async fn refused_uploads_get_a_clear_400_and_leave_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: Vec<(Form, &str)> = vec![
        (
            Form::new().part("f", Part::bytes(fixtures::elf()).file_name("cat.jpg")),
            "Invalid file type",
        ),
        (
            Form::new().part("f", Part::bytes(Vec::new()).file_name("empty.txt")),
            "The submitted file is empty.",
        ),
        (Form::new().text("name", "no file"), "No file uploaded"),
        (
            Form::new().part("f", Part::bytes(fixtures::text())),
            "No file uploaded",
        ),
        (
            Form::new().part(
                "f",
                Part::bytes(b"<!DOCTYPE html><html></html>".to_vec()).file_name("page.txt"),
            ),
            "Invalid file type",
        ),
        (
            Form::new().part(
                "f",
                Part::bytes(b"#!/bin/sh\necho hi\n".to_vec()).file_name("run.txt"),
            ),
            "Invalid file type",
        ),
        (
            Form::new().part(
                "f",
                Part::bytes(vec![0u8, 159, 146, 150, 0, 1]).file_name("x.txt"),
            ),
            "Invalid file type",
        ),
    ];
    for (form, error) in cases {
        let response = app.upload_form(&app.admin_token, form).await;
        assert_eq!(response.status(), 400, "{error}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], error);
    }
    let two = Form::new()
        .part("f", Part::bytes(fixtures::text()).file_name("a.txt"))
        .part("f", Part::bytes(fixtures::text()).file_name("b.txt"));
    assert_eq!(app.upload_form(&app.admin_token, two).await.status(), 400);
    // A file name that cannot be read (not UTF-8; RFC 5987's `filename*`) is named as the
    // problem, not taken for a missing file; one holding NUL never gets past the headers.
    for (disposition, error) in [
        (&b"filename=\"\xff\xfe.txt\""[..], "file's name"),
        (&b"filename*=UTF-8''a%C3%A9.txt"[..], "file's name"),
        (&b"filename=\"a\0b.txt\""[..], "Malformed multipart body"),
    ] {
        let mut body = b"--zzz\r\nContent-Disposition: form-data; name=\"f\"; ".to_vec();
        body.extend_from_slice(disposition);
        body.extend_from_slice(b"\r\n\r\nhello\r\n--zzz--\r\n");
        let response = app
            .client
            .post(app.url("/api/media/files"))
            .header("Authorization", format!("Token {}", app.admin_token))
            .header("Content-Type", "multipart/form-data; boundary=zzz")
            .body(body)
            .send()
            .await
            .expect("upload request");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().expect("error").contains(error),
            "{body}"
        );
    }

    assert!(app.blob_files().is_empty(), "{:?}", app.blob_files());
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir.path().join("tmp"))
        .expect("tmp dir")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn an_upload_over_its_type_limit_is_413_without_leftovers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_image_bytes = 64 * 1024).await;
    let mut big = fixtures::png();
    big.resize(64 * 1024 + 1, 0);
    let response = app.upload("big.png", big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .starts_with("File too large: "),
        "{body}"
    );
    assert!(app.blob_files().is_empty());
    // The limit is per type: the same size as a PDF is fine.
    let mut pdf = fixtures::pdf();
    pdf.resize(64 * 1024 + 1, b' ');
    assert_eq!(app.upload("big.pdf", pdf).await.status(), 201);
}

async fn exactly_the_limit_is_accepted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_document_bytes = 10_000).await;
    let mut pdf = fixtures::pdf();
    pdf.resize(10_000, b' ');
    assert_eq!(app.upload("limit.pdf", pdf.clone()).await.status(), 201);
    pdf.push(b' ');
    assert_eq!(app.upload("over.pdf", pdf).await.status(), 413);
}

async fn name_defaults_and_validation_follow_the_spec(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app.uploaded("dir/sub/notes.txt", fixtures::text()).await;
    assert_eq!(body["name"], "notes.txt");
    assert_eq!(body["description"], "");

    let empty_name = Form::new()
        .part("f", Part::bytes(fixtures::text()).file_name("given.txt"))
        .text("name", "");
    let response = app.upload_form(&app.admin_token, empty_name).await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["name"], "given.txt");

    let long_name = Form::new()
        .part("f", Part::bytes(fixtures::text()).file_name("x.txt"))
        .text("name", "n".repeat(256));
    let response = app.upload_form(&app.admin_token, long_name).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(body["fields"]["name"].is_array(), "{body}");

    let long_description = Form::new()
        .part("f", Part::bytes(fixtures::text()).file_name("x.txt"))
        .text("description", "d".repeat(10_001));
    assert_eq!(
        app.upload_form(&app.admin_token, long_description)
            .await
            .status(),
        400
    );
    // PostgreSQL's text cannot hold NUL: refused as DRF's CharField does, on both backends.
    for (field, value) in [("name", "a\0b"), ("description", "a\0b")] {
        let form = Form::new()
            .part("f", Part::bytes(fixtures::text()).file_name("x.txt"))
            .text(field, value);
        let response = app.upload_form(&app.admin_token, form).await;
        assert_eq!(response.status(), 400, "{field}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["fields"][field],
            json!(["Null characters are not allowed."]),
            "{body}"
        );
    }
    assert_eq!(
        app.blob_files().len(),
        1,
        "only the accepted text is stored"
    );
}

async fn fifty_concurrent_uploads_all_succeed_with_distinct_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let uploads = (0..50).map(|i| {
        let bytes = format!("file number {i}\n").into_bytes();
        let app = &app;
        async move {
            let response = app.upload(&format!("f{i}.txt"), bytes).await;
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id")
        }
    });
    let mut ids = futures_util::future::join_all(uploads).await;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    assert_eq!(app.blob_files().len(), 50);
}

/// The server answers 413 as soon as the limit is passed: a body of up to 1 GiB is offered,
/// and the answer comes after a little over the 10 MiB image limit has been read.
async fn an_endless_upload_is_cut_off_at_its_limit_not_buffered(backend: Backend) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(backend).await;
    // A raw socket, so that what is measured is the server's answer, not a client library's
    // choice of whether to read a response while it is still sending.
    let (stream, head, part_head) =
        raw_upload(&app, "Transfer-Encoding: chunked", "endless.png").await;
    let (mut reader, mut writer) = stream.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut first = part_head.into_bytes();
            first.extend(fixtures::png());
            let zeros = vec![0u8; 64 * 1024];
            writer.write_all(head.as_bytes()).await?;
            // Up to 1 GiB in HTTP chunks; stopped once the server has answered.
            for i in 0..16_384u32 {
                let data = if i == 0 { &first } else { &zeros };
                writer
                    .write_all(format!("{:x}\r\n", data.len()).as_bytes())
                    .await?;
                writer.write_all(data).await?;
                writer.write_all(b"\r\n").await?;
                sent.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            Ok::<_, std::io::Error>(())
        })
    };
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    let read_head = async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = reader.read(&mut buffer).await.expect("read the answer");
            assert!(n > 0, "the server closed without answering");
            response.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read_head)
        .await
        .expect("answered before the body ended");
    let sent_when_answered = sent.load(Ordering::Relaxed);
    let status_line = String::from_utf8_lossy(&response);
    assert!(
        status_line.starts_with("HTTP/1.1 413 "),
        "{}",
        status_line.lines().next().unwrap_or_default()
    );
    assert!(
        sent_when_answered < 200 * 1024 * 1024,
        "the server read {sent_when_answered} bytes before answering"
    );
    // The rest of the body is not wanted; the sender may be waiting on a full socket.
    sender.abort();
    until_no_temporary_files(&app).await;
    assert!(app.blob_files().is_empty());
}

/// A client that goes away in the middle of its upload leaves no temporary file or blob.
async fn a_client_that_disconnects_mid_upload_leaves_nothing(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn(backend).await;
    let (mut stream, head, part_head) =
        raw_upload(&app, "Content-Length: 10000000", "cut.pdf").await;
    stream
        .write_all((head + &part_head).as_bytes())
        .await
        .expect("write head");
    stream
        .write_all(&fixtures::pdf())
        .await
        .expect("write some");
    stream
        .write_all(&vec![b' '; 300_000])
        .await
        .expect("write more");
    stream.flush().await.expect("flush");
    let tmp = app.data_dir.path().join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&tmp).expect("tmp dir").count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(stream);
    until_no_temporary_files(&app).await;
    assert!(app.blob_files().is_empty());
    // The server is still up.
    assert_eq!(
        app.uploaded("after.pdf", fixtures::pdf()).await["type"],
        "pdf"
    );
}

/// A connection for a multipart upload written by hand, with the request's head (framed by
/// `framing`: a `Content-Length` or `Transfer-Encoding` header) and the head of its one file
/// part, `file_name`; the file's bytes come next.
async fn raw_upload(
    app: &TestApp,
    framing: &str,
    file_name: &str,
) -> (tokio::net::TcpStream, String, String) {
    let address = app.address.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let boundary = "XBOUNDARYX";
    let head = format!(
        "POST /api/media/files HTTP/1.1\r\nHost: {address}\r\nAuthorization: Token {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n\r\n",
        app.admin_token
    );
    let part_head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{file_name}\"\r\n\r\n"
    );
    (stream, head, part_head)
}

/// Wait (up to 10 s) until the server has removed every upload's temporary file.
async fn until_no_temporary_files(app: &TestApp) {
    let tmp = app.data_dir.path().join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let leftovers = std::fs::read_dir(&tmp).expect("tmp dir").count();
        if leftovers == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{leftovers} temporary files left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
