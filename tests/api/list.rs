//! `GET /api/media/files`: paging, search, ordering and every filter (seed 000, SPEC §6).

use std::collections::HashMap;

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_seed_examples_work_verbatim,
    paging_with_next_visits_every_file_once,
    every_ordering_field_sorts_both_ways_with_ties_by_newest_id,
    search_matches_every_term_in_name_or_id,
    filters_narrow_the_list_inclusively,
    malformed_parameters_are_400_naming_them,
    numbers_beyond_64_bits_are_clamped_like_any_large_number,
    count_is_exact_as_files_come_and_go,
    orderings_by_user_fields_page_like_the_whole_list,
);

fn ids(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|f| f["id"].as_i64().expect("id"))
        .collect()
}

/// Seven files of several types, sizes and names.
async fn seven_files(app: &TestApp) -> Vec<Value> {
    let mut files = Vec::new();
    for (name, bytes) in [
        ("Äpfel und Birnen.txt", fixtures::text()),
        ("report.pdf", fixtures::pdf()),
        ("pixel.png", fixtures::png()),
        ("50% off_sale.txt", b"sale\n".to_vec()),
        ("slides.pptx", fixtures::pptx()),
        ("profile picture.png", fixtures::png()),
        ("zebra.txt", b"zebra stripes\n".to_vec()),
    ] {
        files.push(app.uploaded(name, bytes).await);
    }
    files
}

async fn the_seed_examples_work_verbatim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seven_files(&app).await;
    let all = app.list("").await;
    assert_eq!(all["count"], 7);
    assert_eq!(all["results"].as_array().expect("results").len(), 7);
    let profile = app
        .list("search=profile&type=image&size_min=1024&ordering=-created_at&limit=20")
        .await;
    assert_eq!(profile["count"], 0, "the png is smaller than 1024 bytes");
    let profile = app
        .list("search=profile&type=image&ordering=-created_at&limit=20")
        .await;
    assert_eq!(profile["count"], 1);
    let by_user = app
        .list("user_id=123&width_min=800&height_min=600&created_from=2023-01-01")
        .await;
    assert_eq!(by_user["count"], 0);
    assert_eq!(by_user["next"], Value::Null);
    assert_eq!(by_user["previous"], Value::Null);
}

async fn paging_with_next_visits_every_file_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = seven_files(&app).await;
    let mut expected: Vec<i64> = files
        .iter()
        .map(|f| f["id"].as_i64().expect("id"))
        .collect();
    expected.reverse();

    let first = app.list("limit=3&type=").await;
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(
        first["next"],
        format!("{}/api/media/files?limit=3&offset=3&type=", app.address)
    );
    let mut seen = ids(&first);
    let mut next = first["next"].as_str().map(str::to_string);
    let mut pages = 1;
    while let Some(url) = next {
        let page: Value = app
            .client
            .get(&url)
            .header("Authorization", format!("Token {}", app.admin_token))
            .send()
            .await
            .expect("next page")
            .json()
            .await
            .expect("json");
        assert!(page["previous"].is_string());
        seen.extend(ids(&page));
        next = page["next"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    let second = app.list("limit=3&offset=3").await;
    assert_eq!(
        second["previous"],
        format!("{}/api/media/files?limit=3", app.address)
    );
    let clamped = app.list("limit=5000").await;
    assert_eq!(clamped["results"].as_array().expect("results").len(), 7);
}

/// The key a file sorts by, as comparable JSON (null for missing values).
fn sort_key(file: &Value, field: &str, users: &HashMap<String, (String, String)>) -> Value {
    let username = file["user"]["username"]
        .as_str()
        .expect("username")
        .to_string();
    let blank_is_null = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::from(s)
        }
    };
    match field {
        "user__id" => file["user"]["id"].clone(),
        "user__username" => Value::from(username),
        "user__first_name" => blank_is_null(&users[&username].0),
        "user__last_name" => blank_is_null(&users[&username].1),
        other => file.get(other).cloned().unwrap_or(Value::Null),
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

async fn every_ordering_field_sorts_both_ways_with_ties_by_newest_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut users = HashMap::from([("admin".to_string(), (String::new(), String::new()))]);
    for (username, first, last) in [("bob", "Bob", ""), ("ann", "", "Zed")] {
        let output = app.cli(&[
            "user",
            "create",
            "--username",
            username,
            "--first-name",
            first,
            "--last-name",
            last,
            "--admin",
        ]);
        assert!(output.status.success());
        users.insert(username.to_string(), (first.to_string(), last.to_string()));
        let token = app.token(username, &[]);
        for (name, bytes) in [
            ("b.txt", b"same size 1\n".to_vec()),
            ("a.pdf", fixtures::pdf()),
        ] {
            assert_eq!(app.upload_as(&token, name, bytes).await.status(), 201);
        }
    }
    seven_files(&app).await;

    for field in [
        "id",
        "type",
        "name",
        "size",
        "width",
        "height",
        "mode",
        "created_at",
        "updated_at",
        "user__id",
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__last_login",
    ] {
        for descending in [false, true] {
            let ordering = if descending {
                format!("-{field}")
            } else {
                field.to_string()
            };
            let page = app.list(&format!("ordering={ordering}&limit=100")).await;
            let results = page["results"].as_array().expect("results");
            assert_eq!(results.len(), 11, "{ordering}");
            if field == "user__last_login" {
                continue; // not in the object; that it answers is what can be checked
            }
            for pair in results.windows(2) {
                let (a, b) = (
                    sort_key(&pair[0], field, &users),
                    sort_key(&pair[1], field, &users),
                );
                use std::cmp::Ordering::{Equal, Greater, Less};
                // Missing values: last ascending, first descending.
                let order = match (a.is_null(), b.is_null()) {
                    (true, true) => Equal,
                    (true, false) => {
                        if descending {
                            Less
                        } else {
                            Greater
                        }
                    }
                    (false, true) => {
                        if descending {
                            Greater
                        } else {
                            Less
                        }
                    }
                    _ if descending => compare(&a, &b).reverse(),
                    _ => compare(&a, &b),
                };
                assert_ne!(
                    order,
                    std::cmp::Ordering::Greater,
                    "{ordering}: {a} before {b}"
                );
                if order == std::cmp::Ordering::Equal && field != "id" {
                    assert!(
                        pair[0]["id"].as_i64() > pair[1]["id"].as_i64(),
                        "{ordering}: ties by -id"
                    );
                }
            }
        }
    }
    let several = app.list("ordering=type,-size&limit=100").await;
    assert_eq!(several["count"], 11);
    let spaced = app.list("ordering=%20type%20,%20-name%20").await;
    assert_eq!(spaced["count"], 11);
}

async fn search_matches_every_term_in_name_or_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = seven_files(&app).await;
    let names = |page: &Value| -> Vec<String> {
        page["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|f| f["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(
        names(&app.list("search=%C3%84PFEL").await),
        ["Äpfel und Birnen.txt"]
    );
    assert_eq!(
        names(&app.list("search=%C3%A4pfel").await),
        ["Äpfel und Birnen.txt"]
    );
    assert_eq!(names(&app.list("search=50%25").await), ["50% off_sale.txt"]);
    assert_eq!(names(&app.list("search=f_s").await), ["50% off_sale.txt"]);
    assert_eq!(
        app.list("search=5_%25").await["count"],
        0,
        "% and _ are literal"
    );
    assert_eq!(
        names(&app.list("search=PNG+profile").await),
        ["profile picture.png"]
    );
    assert_eq!(
        names(&app.list("search=png,profile").await),
        ["profile picture.png"]
    );
    assert_eq!(app.list("search=png+nothing").await["count"], 0);
    let id = files[1]["id"].to_string();
    let by_id = app.list(&format!("search={id}")).await;
    assert!(ids(&by_id).contains(&files[1]["id"].as_i64().expect("id")));
}

async fn filters_narrow_the_list_inclusively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = seven_files(&app).await;
    let id = |i: usize| files[i]["id"].as_i64().expect("id");
    let count = |page: Value| page["count"].as_i64().expect("count");

    assert_eq!(
        ids(&app
            .list(&format!("id_min={}&id_max={}", id(2), id(4)))
            .await),
        [id(4), id(3), id(2)]
    );
    assert_eq!(count(app.list("type=image").await), 2);
    assert_eq!(count(app.list("type=text").await), 3);
    assert_eq!(count(app.list("type=presentation").await), 1);
    let admin_id = files[0]["user"]["id"].as_i64().expect("user id");
    assert_eq!(count(app.list(&format!("user_id={admin_id}")).await), 7);
    assert_eq!(
        count(app.list(&format!("user_id={}", admin_id + 1)).await),
        0
    );

    let png_size = fixtures::png().len();
    assert_eq!(
        count(
            app.list(&format!("size_min={png_size}&size_max={png_size}"))
                .await
        ),
        2
    );
    assert_eq!(count(app.list("size_max=5").await), 1, "sale\\n is 5 bytes");

    let created = files[3]["created_at"]
        .as_str()
        .expect("time")
        .replace('+', "%2B");
    assert_eq!(
        ids(&app
            .list(&format!("created_from={created}&created_to={created}"))
            .await),
        [id(3)]
    );
    let today = &files[0]["created_at"].as_str().expect("time")[..10];
    assert_eq!(count(app.list(&format!("created_date={today}")).await), 7);
    assert_eq!(count(app.list(&format!("created_to={today}")).await), 7);
    assert_eq!(count(app.list(&format!("updated_date={today}")).await), 7);
    assert_eq!(count(app.list("created_to=2000-01-01").await), 0);
    assert_eq!(
        count(app.list("updated_from=2000-01-01T00:00:00Z").await),
        7
    );
    assert_eq!(
        count(app.list("created_from=2999-01-01T00:00:00%2B01:00").await),
        0
    );
}

async fn malformed_parameters_are_400_naming_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("id_min=1.5", "id_min"),
        ("width_max=wide", "width_max"),
        ("type=movie", "type"),
        ("ordering=-secret", "ordering"),
        ("created_to=31/12/2023", "created_to"),
        ("updated_date=2023-13-01", "updated_date"),
        ("search=a%00b", "search"),
    ] {
        let response = app.list_response(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().expect("error").contains(param),
            "{query}: {body}"
        );
    }
}

/// A client may write any integer: one too large for 64 bits is still a page past the end,
/// a bound above every size, a limit to clamp; never an error or a dropped connection.
async fn numbers_beyond_64_bits_are_clamped_like_any_large_number(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = seven_files(&app).await;
    let max = i64::MAX;
    let past_the_end = app.list(&format!("offset={max}")).await;
    assert_eq!(past_the_end["count"], 7);
    assert_eq!(past_the_end["results"], Value::Array(Vec::new()));
    assert_eq!(past_the_end["next"], Value::Null);
    assert_eq!(
        past_the_end["previous"],
        format!(
            "{}/api/media/files?limit=10&offset={}",
            app.address,
            max - 10
        )
    );
    let beyond = "99999999999999999999";
    let count = |page: Value| page["count"].as_i64().expect("count");
    assert_eq!(
        app.list(&format!("offset={beyond}")).await["results"],
        Value::Array(Vec::new())
    );
    let clamped = app.list(&format!("limit={beyond}")).await;
    assert_eq!(clamped["results"].as_array().expect("results").len(), 7);
    assert_eq!(count(app.list(&format!("size_max={beyond}")).await), 7);
    assert_eq!(count(app.list(&format!("size_min={beyond}")).await), 0);
    assert_eq!(count(app.list(&format!("id_min=-{beyond}")).await), 7);
    let response = app.list_response(&format!("limit=-{beyond}")).await;
    assert_eq!(response.status(), 400);

    let id = &files[0]["id"];
    let (status, history) = app
        .get_json(&format!("/api/media/files/{id}/history?offset={max}"))
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["results"], Value::Array(Vec::new()));
    assert_eq!(history["next"], Value::Null);
}

async fn count_is_exact_as_files_come_and_go(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let files = seven_files(&app).await;
    assert_eq!(app.list("type=image").await["count"], 2);
    assert_eq!(
        app.delete_file(&files[2]["id"].to_string()).await.status(),
        204
    );
    assert_eq!(app.list("type=image").await["count"], 1);
    assert_eq!(app.list("").await["count"], 6);
    assert_eq!(app.list("search=png").await["count"], 1);
    assert!(!ids(&app.list("limit=100").await).contains(&files[2]["id"].as_i64().expect("id")));
}

/// Orderings that start with a user's field are answered per user on PostgreSQL (each user's
/// first files, then sorted): paging through them must give exactly the whole list, with the
/// rest of the ordering kept within each user.
async fn orderings_by_user_fields_page_like_the_whole_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (username, first) in [("carl", "Carl"), ("bea", ""), ("dora", "Dora")] {
        let output = app.cli(&[
            "user",
            "create",
            "--username",
            username,
            "--first-name",
            first,
            "--admin",
        ]);
        assert!(output.status.success());
        let token = app.token(username, &[]);
        for size in [3, 1, 4, 1, 5] {
            let body = format!("{username} {}\n", "x".repeat(size));
            let response = app.upload_as(&token, "notes.txt", body.into_bytes()).await;
            assert_eq!(response.status(), 201);
        }
    }
    seven_files(&app).await;

    for ordering in [
        "user__username,-size",
        "-user__username,size",
        "user__first_name,name",
        "-user__last_login",
        "user__last_name,-type",
    ] {
        for filter in ["", "&type=text", "&search=notes"] {
            let whole = app
                .list(&format!("ordering={ordering}{filter}&limit=100"))
                .await;
            let count = whole["count"].as_i64().expect("count");
            assert!(count > 0, "{ordering}{filter}");
            let mut paged = Vec::new();
            for offset in (0..count).step_by(2) {
                let page = app
                    .list(&format!(
                        "ordering={ordering}{filter}&limit=2&offset={offset}"
                    ))
                    .await;
                paged.extend(ids(&page));
            }
            assert_eq!(paged, ids(&whole), "{ordering}{filter}");
        }
    }

    let whole = app.list("ordering=user__username,-size&limit=100").await;
    let keys: Vec<(String, i64)> = whole["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|f| {
            let username = f["user"]["username"].as_str().expect("username");
            (username.to_string(), f["size"].as_i64().expect("size"))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(keys, sorted);
}
