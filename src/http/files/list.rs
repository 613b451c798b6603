//! `GET /api/media/files`: filters, search, ordering and limit/offset paging (seed 000, SPEC §6).

use std::collections::BTreeMap;
use std::num::IntErrorKind;

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, NaiveDate};
use mediastore_projections::{ListFilter, ListQuery, Sort, SortField};
use serde::Serialize;

use crate::accounts::Permission;
use crate::domain::MediaType;
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::representation::MediaFileJson;
use crate::http::AppState;

const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 1000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

#[derive(Debug, Serialize)]
pub struct PageJson<T> {
    pub count: i64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

pub async fn list(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageJson<MediaFileJson>>> {
    user.require(Permission::Read)?;
    let params = QueryParams::parse(raw.as_deref().unwrap_or(""));
    let query = list_query(&params)?;
    let page = state.media.list(&query).await?;
    let links = PageLinks {
        url: format!("{base}/api/media/files"),
        params: &params,
        limit: query.limit,
        offset: query.offset,
        count: page.count,
    };
    Ok(Json(PageJson {
        count: page.count,
        next: links.next(),
        previous: links.previous(),
        results: page
            .files
            .iter()
            .map(|f| MediaFileJson::new(f, &base))
            .collect(),
    }))
}

/// The query string as a client sent it: each key's values in order.
pub struct QueryParams(BTreeMap<String, Vec<String>>);

impl QueryParams {
    pub fn parse(raw: &str) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            map.entry(key.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        QueryParams(map)
    }

    /// The last value of a parameter, if it is present and not empty (an empty one is ignored).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|values| values.last())
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The query string with `key` set to `value` (or removed), encoded as Django REST
    /// Framework does: keys sorted, blank values kept, `quote_plus` escaping.
    fn with(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut map = self.0.clone();
        for (key, value) in changes {
            match value {
                Some(value) => {
                    map.insert(key.to_string(), vec![value.clone()]);
                }
                None => {
                    map.remove(*key);
                }
            }
        }
        map.iter()
            .flat_map(|(k, values)| {
                values
                    .iter()
                    .map(move |v| format!("{}={}", quote_plus(k), quote_plus(v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Python's `urllib.parse.quote_plus`.
fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub struct PageLinks<'a> {
    pub url: String,
    pub params: &'a QueryParams,
    pub limit: i64,
    pub offset: i64,
    pub count: i64,
}

impl PageLinks<'_> {
    pub fn next(&self) -> Option<String> {
        // Saturating: an offset can be as large as a client writes it.
        let offset = self.offset.saturating_add(self.limit);
        (offset < self.count).then(|| {
            self.link(&[
                ("limit", Some(self.limit.to_string())),
                ("offset", Some(offset.to_string())),
            ])
        })
    }

    /// As in DRF, a previous page at offset 0 carries no `offset`.
    pub fn previous(&self) -> Option<String> {
        (self.offset > 0).then(|| {
            let offset = self.offset - self.limit;
            let offset = (offset > 0).then(|| offset.to_string());
            self.link(&[("limit", Some(self.limit.to_string())), ("offset", offset)])
        })
    }

    fn link(&self, changes: &[(&str, Option<String>)]) -> String {
        let query = self.params.with(changes);
        if query.is_empty() {
            self.url.clone()
        } else {
            format!("{}?{query}", self.url)
        }
    }
}

pub fn invalid(param: &str, why: &str) -> ApiError {
    ApiError::BadRequest(format!("Invalid value for '{param}': {why}"))
}

pub fn integer(params: &QueryParams, name: &str) -> Result<Option<i64>> {
    params
        .get(name)
        .map(|v| saturating_integer(v.trim()).ok_or_else(|| invalid(name, "must be an integer")))
        .transpose()
}

/// A decimal integer; one beyond 64 bits stands for the largest (or smallest) one, which it
/// compares like for every bound, id and page (DRF, in Python, takes any size: `limit` is
/// then clamped, `offset` gives an empty page).
fn saturating_integer(text: &str) -> Option<i64> {
    match text.parse::<i64>() {
        Ok(n) => Some(n),
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow => Some(i64::MAX),
            IntErrorKind::NegOverflow => Some(i64::MIN),
            _ => None,
        },
    }
}

/// A date (`2023-01-01`, UTC) or an RFC 3339 time with any offset, as microseconds. A date
/// as an upper bound covers the whole day.
fn time_bound(params: &QueryParams, name: &str, upper: bool) -> Result<Option<i64>> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    let value = value.trim();
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let start = date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros());
        return start
            .map(|start| {
                Some(if upper {
                    start + MICROS_PER_DAY - 1
                } else {
                    start
                })
            })
            .ok_or_else(|| invalid(name, "not a date"));
    }
    // An unescaped `+` of an offset arrives as a space.
    DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
        .map(|t| Some(t.timestamp_micros()))
        .map_err(|_| invalid(name, "must be a date (YYYY-MM-DD) or an RFC 3339 time"))
}

fn day(params: &QueryParams, name: &str) -> Result<Option<(i64, i64)>> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(name, "must be a date (YYYY-MM-DD)"))?;
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or_else(|| invalid(name, "not a date"))?;
    Ok(Some((start, start + MICROS_PER_DAY - 1)))
}

/// The tighter of two optional bounds.
fn tighter(a: Option<i64>, b: Option<i64>, pick: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// `limit` (default 10, 1 to 1000, larger clamped) and `offset` (default 0).
pub fn paging(params: &QueryParams) -> Result<(i64, i64)> {
    let limit = match integer(params, "limit")? {
        None => DEFAULT_LIMIT,
        Some(n) if n < 1 => return Err(invalid("limit", "must be a positive integer")),
        Some(n) => n.min(MAX_LIMIT),
    };
    let offset = match integer(params, "offset")? {
        None => 0,
        Some(n) if n < 0 => return Err(invalid("offset", "must be zero or a positive integer")),
        Some(n) => n,
    };
    Ok((limit, offset))
}

pub fn list_query(params: &QueryParams) -> Result<ListQuery> {
    let (limit, offset) = paging(params)?;
    let media_type = match params.get("type") {
        None => None,
        Some(value) => Some(
            MediaType::parse(value.trim())
                .ok_or_else(|| {
                    let names: Vec<&str> = MediaType::ALL.iter().map(|t| t.as_str()).collect();
                    invalid("type", &format!("must be one of {}", names.join(", ")))
                })?
                .as_str()
                .to_string(),
        ),
    };
    let created_day = day(params, "created_date")?;
    let updated_day = day(params, "updated_date")?;
    let filter = ListFilter {
        id_min: integer(params, "id_min")?,
        id_max: integer(params, "id_max")?,
        created_from: tighter(
            time_bound(params, "created_from", false)?,
            created_day.map(|d| d.0),
            i64::max,
        ),
        created_to: tighter(
            time_bound(params, "created_to", true)?,
            created_day.map(|d| d.1),
            i64::min,
        ),
        updated_from: tighter(
            time_bound(params, "updated_from", false)?,
            updated_day.map(|d| d.0),
            i64::max,
        ),
        updated_to: tighter(
            time_bound(params, "updated_to", true)?,
            updated_day.map(|d| d.1),
            i64::min,
        ),
        media_types: media_type.into_iter().collect(),
        user_id: integer(params, "user_id")?,
        size_min: integer(params, "size_min")?,
        size_max: integer(params, "size_max")?,
        width_min: integer(params, "width_min")?,
        width_max: integer(params, "width_max")?,
        height_min: integer(params, "height_min")?,
        height_max: integer(params, "height_max")?,
        search: search_terms(params)?,
        search_names_only: false,
    };
    Ok(ListQuery {
        filter,
        ordering: ordering(params)?,
        limit,
        offset,
    })
}

/// The `search` parameter's terms: split on white space and commas (SPEC §6). A NUL
/// character is refused: no name a client sends may hold one, and PostgreSQL's text cannot.
pub fn search_terms(params: &QueryParams) -> Result<Vec<String>> {
    let Some(value) = params.get("search") else {
        return Ok(Vec::new());
    };
    if value.contains('\0') {
        return Err(invalid("search", "null characters are not allowed"));
    }
    Ok(value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect())
}

fn ordering(params: &QueryParams) -> Result<Vec<Sort>> {
    let Some(value) = params.get("ordering") else {
        return Ok(vec![Sort {
            field: SortField::CreatedAt,
            descending: true,
        }]);
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .map(|term| {
            let (descending, name) = match term.strip_prefix('-') {
                Some(name) => (true, name.trim()),
                None => (false, term),
            };
            let field = SortField::parse(name).ok_or_else(|| {
                let names: Vec<&str> = SortField::ALL.iter().map(|(n, _)| *n).collect();
                invalid(
                    "ordering",
                    &format!("unknown field {name:?}; allowed: {}", names.join(", ")),
                )
            })?;
            Ok(Sort { field, descending })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> Result<ListQuery> {
        list_query(&QueryParams::parse(raw))
    }

    #[test]
    fn defaults_are_limit_10_offset_0_newest_first() {
        let q = query("").expect("valid");
        assert_eq!((q.limit, q.offset), (10, 0));
        assert_eq!(
            q.ordering,
            vec![Sort {
                field: SortField::CreatedAt,
                descending: true
            }]
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (raw, param) in [
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("limit=x", "limit"),
            ("offset=-5", "offset"),
            ("size_min=big", "size_min"),
            ("type=exe", "type"),
            ("ordering=password", "ordering"),
            ("created_from=yesterday", "created_from"),
            ("created_date=2023-02-30", "created_date"),
        ] {
            let error = query(raw).expect_err(raw).to_string();
            assert!(error.contains(&format!("'{param}'")), "{raw}: {error}");
        }
    }

    #[test]
    fn a_large_limit_is_clamped_and_empty_values_are_ignored() {
        let q = query("limit=5000&type=&search=").expect("valid");
        assert_eq!(q.limit, 1000);
        assert_eq!(q.filter, ListFilter::default());
    }

    #[test]
    fn a_date_only_upper_bound_covers_the_whole_day() {
        let q =
            query("created_to=2023-01-01&created_from=2023-01-01T10:00:00%2B02:00").expect("valid");
        assert_eq!(q.filter.created_to, Some(1_672_617_599_999_999));
        assert_eq!(q.filter.created_from, Some(1_672_560_000_000_000));
        let unescaped = query("created_from=2023-01-01T10:00:00+02:00").expect("valid");
        assert_eq!(unescaped.filter.created_from, Some(1_672_560_000_000_000));
    }

    #[test]
    fn search_splits_on_spaces_and_commas() {
        let q = query("search=a%20b,,c").expect("valid");
        assert_eq!(q.filter.search, ["a", "b", "c"]);
    }

    #[test]
    fn links_follow_drf() {
        let params = QueryParams::parse("type=image&limit=3&search=a+b");
        let links = PageLinks {
            url: "http://h/api/media/files".into(),
            params: &params,
            limit: 3,
            offset: 3,
            count: 9,
        };
        assert_eq!(
            links.next().as_deref(),
            Some("http://h/api/media/files?limit=3&offset=6&search=a+b&type=image")
        );
        assert_eq!(
            links.previous().as_deref(),
            Some("http://h/api/media/files?limit=3&search=a+b&type=image")
        );
        let last = PageLinks { offset: 6, ..links };
        assert_eq!(last.next(), None);
        assert_eq!(
            last.previous().as_deref(),
            Some("http://h/api/media/files?limit=3&offset=3&search=a+b&type=image")
        );
    }
}
