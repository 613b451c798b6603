//! `PATCH` and `PUT /api/media/files/{id}`: metadata updates from JSON or form bodies
//! (seed 003, SPEC §5). Read-only fields are ignored; `f` may only repeat its current value.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::Json;
use serde_json::Value;

use super::parse_id;
use crate::accounts::Permission;
use crate::domain::{Description, FileName};
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::files::form::read_text;
use crate::http::representation::{content_url, MediaFileJson};
use crate::http::AppState;

/// One field of the body as sent.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Absent,
    Null,
    Text(String),
    /// A JSON value that is not a string.
    NotText,
}

struct UpdateBody {
    name: Sent,
    description: Sent,
    f: Sent,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Patch,
    Put,
}

pub async fn patch(
    user: AuthUser,
    state: State<AppState>,
    base: BaseUrl,
    id: Path<String>,
    request: Request,
) -> Result<Json<MediaFileJson>> {
    update(user, state, base, id, request, Mode::Patch).await
}

pub async fn put(
    user: AuthUser,
    state: State<AppState>,
    base: BaseUrl,
    id: Path<String>,
    request: Request,
) -> Result<Json<MediaFileJson>> {
    update(user, state, base, id, request, Mode::Put).await
}

async fn update(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    request: Request,
    mode: Mode,
) -> Result<Json<MediaFileJson>> {
    user.require(Permission::Update)?;
    let id = parse_id(&id).ok_or_else(ApiError::media_not_found)?;
    let file = state.media.get(id).await?;
    let body = read_body(request, &state).await?;

    let name = match (body.name, mode) {
        (Sent::Absent, Mode::Patch) => None,
        (Sent::Absent, Mode::Put) => return Err(field("name", "This field is required.")),
        (Sent::Text(text), _) => Some(FileName::parse(text).map_err(|e| field("name", &e.0))?),
        (Sent::Null, _) => return Err(field("name", "This field may not be null.")),
        (Sent::NotText, _) => return Err(field("name", "Not a valid string.")),
    };
    let description = match (body.description, mode) {
        (Sent::Absent, Mode::Patch) => None,
        (Sent::Absent, Mode::Put) => Some(Description::default()),
        (Sent::Text(text), _) => {
            Some(Description::parse(text).map_err(|e| field("description", &e.0))?)
        }
        (Sent::Null, _) => return Err(field("description", "This field may not be null.")),
        (Sent::NotText, _) => return Err(field("description", "Not a valid string.")),
    };
    match body.f {
        Sent::Absent => {}
        Sent::Text(f)
            if is_current_content(&f, &base, &file.blob_hash, &file.original_filename) => {}
        _ => {
            return Err(field(
                "f",
                "The content cannot be changed; delete the file and upload it again.",
            ))
        }
    }

    let updated = state
        .media
        .update(&user.actor(), &file, name, description)
        .await?;
    Ok(Json(MediaFileJson::new(&updated, &base)))
}

fn field(name: &'static str, message: &str) -> ApiError {
    ApiError::Field {
        field: name,
        message: message.to_string(),
    }
}

/// `f` may be the whole current URL or its path (any host, since proxies rewrite it).
fn is_current_content(sent: &str, base: &str, hash: &str, file_name: &str) -> bool {
    let current = content_url(base, hash, file_name);
    let current_path = &current[base.len()..];
    let sent_path = match sent.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => sent,
    };
    let decoded = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    sent == current || decoded(sent_path) == decoded(current_path)
}

async fn read_body(request: Request, state: &AppState) -> Result<UpdateBody> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|_| ApiError::BadRequest("Malformed multipart body".into()))?;
        let mut body = UpdateBody {
            name: Sent::Absent,
            description: Sent::Absent,
            f: Sent::Absent,
        };
        while let Some(part) = multipart.next_field().await.map_err(|e| {
            ApiError::BadRequest(format!("Malformed multipart body: {}", e.body_text()))
        })? {
            let which: &'static str = match part.name() {
                Some("name") => "name",
                Some("description") => "description",
                Some("f") => "f",
                _ => continue,
            };
            let text = Sent::Text(read_text(part, which).await?);
            match which {
                "name" => body.name = text,
                "description" => body.description = text,
                _ => body.f = text,
            }
        }
        return Ok(body);
    }
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|_| ApiError::BadRequest("The request body could not be read".into()))?;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut body = UpdateBody {
            name: Sent::Absent,
            description: Sent::Absent,
            f: Sent::Absent,
        };
        for (key, value) in form_urlencoded::parse(&bytes) {
            let value = Sent::Text(value.into_owned());
            match key.as_ref() {
                "name" => body.name = value,
                "description" => body.description = value,
                "f" => body.f = value,
                _ => {}
            }
        }
        return Ok(body);
    }
    // JSON, also when the client sent no or another content type.
    let json: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?
    };
    let Value::Object(object) = json else {
        return Err(ApiError::BadRequest(
            "The body must be a JSON object".into(),
        ));
    };
    let sent = |key: &str| match object.get(key) {
        None => Sent::Absent,
        Some(Value::Null) => Sent::Null,
        Some(Value::String(text)) => Sent::Text(text.clone()),
        Some(_) => Sent::NotText,
    };
    Ok(UpdateBody {
        name: sent("name"),
        description: sent("description"),
        f: sent("f"),
    })
}
