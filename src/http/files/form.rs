//! Text fields of multipart bodies, shared by upload and update.

use axum::extract::multipart::Field;

use super::upload::multipart_error;
use crate::http::error::{ApiError, Result};

/// Text fields are read into memory, so they are capped (in bytes, before the character
/// limits of SPEC §5 apply).
const TEXT_FIELD_MAX_BYTES: usize = 64 * 1024;

pub async fn read_text(mut field: Field<'_>, which: &'static str) -> Result<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > TEXT_FIELD_MAX_BYTES {
            return Err(ApiError::Field {
                field: which,
                message: "This field is too long.".into(),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Field {
        field: which,
        message: "Not valid UTF-8 text.".into(),
    })
}
