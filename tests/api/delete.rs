//! `DELETE /api/media/files/{id}` and blob removal (SPEC §5).

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_delete_is_204_with_an_empty_body_then_404,
    a_shared_blob_stays_until_its_last_file_is_deleted,
    of_ten_concurrent_deletes_one_wins,
);

async fn a_delete_is_204_with_an_empty_body_then_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("doc.pdf", fixtures::pdf()).await["id"].to_string();
    let response = app.delete_file(&id).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(app.get_file(&id).await.status(), 404);
    assert_eq!(app.delete_file(&id).await.status(), 404);
}

async fn a_shared_blob_stays_until_its_last_file_is_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.uploaded("a.pdf", fixtures::pdf()).await;
    let second = app.uploaded("b.pdf", fixtures::pdf()).await;
    let url = second["f"].as_str().expect("f").to_string();

    assert_eq!(
        app.delete_file(&first["id"].to_string()).await.status(),
        204
    );
    assert_eq!(app.blob_files().len(), 1);
    assert_eq!(
        app.client.get(&url).send().await.expect("get").status(),
        200
    );

    assert_eq!(
        app.delete_file(&second["id"].to_string()).await.status(),
        204
    );
    assert!(app.blob_files().is_empty());
    assert_eq!(
        app.client.get(&url).send().await.expect("get").status(),
        404
    );
}

async fn of_ten_concurrent_deletes_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("doc.pdf", fixtures::pdf()).await["id"].to_string();
    let deletes = (0..10).map(|_| app.delete_file(&id));
    let mut statuses: Vec<u16> = futures_util::future::join_all(deletes)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 404, 404, 404, 404, 404, 404, 404, 404, 404]);
}
