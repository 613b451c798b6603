//! The list query of seed 000: validated filters, search terms, ordering and paging, turned
//! into SQL from whitelisted column names and bound values only (no value is spliced in).

use crate::error::ReadModelError;
use crate::media_files::{file_row, fold, MediaReadModel, FILE_COLUMNS};
use crate::rows::FileRow;
use crate::sql::Sql;

/// The fields a list may be ordered by, with their names in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    Type,
    Name,
    Size,
    Width,
    Height,
    Mode,
    CreatedAt,
    UpdatedAt,
    UserId,
    UserUsername,
    UserFirstName,
    UserLastName,
    UserLastLogin,
}

impl SortField {
    pub const ALL: [(&'static str, SortField); 14] = [
        ("id", SortField::Id),
        ("type", SortField::Type),
        ("name", SortField::Name),
        ("size", SortField::Size),
        ("width", SortField::Width),
        ("height", SortField::Height),
        ("mode", SortField::Mode),
        ("created_at", SortField::CreatedAt),
        ("updated_at", SortField::UpdatedAt),
        ("user__id", SortField::UserId),
        ("user__username", SortField::UserUsername),
        ("user__first_name", SortField::UserFirstName),
        ("user__last_name", SortField::UserLastName),
        ("user__last_login", SortField::UserLastLogin),
    ];

    pub fn parse(name: &str) -> Option<SortField> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, field)| *field)
    }

    /// The SQL expression ordered by. Empty names count as missing, so they sort with the
    /// missing values (SPEC §6).
    /// Whether the field is a column of the users table rather than of the files.
    fn is_of_users_table(self) -> bool {
        matches!(
            self,
            SortField::UserUsername
                | SortField::UserFirstName
                | SortField::UserLastName
                | SortField::UserLastLogin
        )
    }

    fn expression(self) -> &'static str {
        match self {
            SortField::Id => "f.id",
            SortField::Type => "f.media_type",
            SortField::Name => "f.name",
            SortField::Size => "f.size",
            SortField::Width => "f.width",
            SortField::Height => "f.height",
            SortField::Mode => "f.mode",
            SortField::CreatedAt => "f.created_at",
            SortField::UpdatedAt => "f.updated_at",
            SortField::UserId => "f.user_id",
            SortField::UserUsername => "u.username",
            SortField::UserFirstName => "NULLIF(u.first_name, '')",
            SortField::UserLastName => "NULLIF(u.last_name, '')",
            SortField::UserLastLogin => "u.last_login",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// Every bound is inclusive; times are microseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub id_min: Option<i64>,
    pub id_max: Option<i64>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    /// Any of these types; empty for every type.
    pub media_types: Vec<String>,
    pub user_id: Option<i64>,
    pub size_min: Option<i64>,
    pub size_max: Option<i64>,
    pub width_min: Option<i64>,
    pub width_max: Option<i64>,
    pub height_min: Option<i64>,
    pub height_max: Option<i64>,
    /// Each term must be a substring of the name (case-insensitive) or, unless
    /// `search_names_only`, of the decimal id.
    pub search: Vec<String>,
    pub search_names_only: bool,
}

impl ListFilter {
    /// Whether the maintained counts answer `count` for this filter.
    fn counted_by_type_and_user(&self) -> bool {
        let only_type_and_user = ListFilter {
            media_types: self.media_types.clone(),
            user_id: self.user_id,
            ..ListFilter::default()
        };
        *self == only_type_and_user
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ListFilter,
    /// Ties are always broken by `-id`, appended here.
    pub ordering: Vec<Sort>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub count: i64,
    pub files: Vec<FileRow>,
}

/// The two statements a list runs, built once: `list` runs them, and the benchmark explains
/// exactly these.
pub struct ListStatements {
    pub count: Sql,
    pub page: Sql,
}

impl MediaReadModel {
    pub async fn list(&self, query: &ListQuery) -> Result<Page, ReadModelError> {
        let ListStatements { count, page } = self.list_statements(query);
        let count = count.fetch_i64(self.pool()).await?;
        let rows = page.fetch_all(self.pool()).await?;
        let mut files = rows.iter().map(file_row).collect::<Result<Vec<_>, _>>()?;

        let mut thumbnails: Vec<_> = files.iter().map(|f| (f.id, Vec::new())).collect();
        self.attach_thumbnails(&mut thumbnails).await?;
        for (file, (_, list)) in files.iter_mut().zip(thumbnails) {
            file.thumbnails = list;
        }
        Ok(Page { count, files })
    }

    pub fn list_statements(&self, query: &ListQuery) -> ListStatements {
        let by_users = query
            .ordering
            .iter()
            .take_while(|sort| sort.field.is_of_users_table())
            .count();
        let page = if self.is_postgres() && by_users > 0 {
            page_per_user(query, by_users)
        } else {
            page(query)
        };
        ListStatements {
            count: count(&query.filter),
            page,
        }
    }
}

fn count(filter: &ListFilter) -> Sql {
    if filter.counted_by_type_and_user() {
        let mut sql =
            Sql::new("SELECT CAST(COALESCE(SUM(live), 0) AS BIGINT) FROM media_counts WHERE 1 = 1");
        push_types(&mut sql, "media_type", &filter.media_types);
        if let Some(user_id) = filter.user_id {
            sql.push(" AND user_id = ").bind(user_id);
        }
        return sql;
    }
    // Every file has its user: no join needed to count.
    let mut sql = Sql::new("SELECT COUNT(*) FROM media_files f");
    push_filter(&mut sql, filter);
    sql
}

fn page(query: &ListQuery) -> Sql {
    let mut sql = Sql::new(format!(
        "SELECT {FILE_COLUMNS} FROM media_files f JOIN users u ON u.id = f.user_id"
    ));
    push_filter(&mut sql, &query.filter);
    push_order(&mut sql, &query.ordering);
    sql.push(" LIMIT ").bind(query.limit);
    sql.push(" OFFSET ").bind(query.offset);
    sql
}

/// A page ordered first by fields of the users table (`user__username`, ...): no index on
/// `media_files` gives that order, so rather than sorting every matching file, take each
/// user's first `limit + offset` files in the rest of the order (from the per-user indexes)
/// and sort only those. PostgreSQL only (LATERAL); the first `by_users` sorts are the users'.
fn page_per_user(query: &ListQuery, by_users: usize) -> Sql {
    let mut sql = Sql::new(format!(
        "SELECT {FILE_COLUMNS} FROM users u CROSS JOIN LATERAL (SELECT * FROM media_files f"
    ));
    push_filter(&mut sql, &query.filter);
    sql.push(" AND f.user_id = u.id");
    push_order(&mut sql, &query.ordering[by_users..]);
    sql.push(" LIMIT ")
        .bind(query.limit.saturating_add(query.offset));
    sql.push(") f");
    push_order(&mut sql, &query.ordering);
    sql.push(" LIMIT ").bind(query.limit);
    sql.push(" OFFSET ").bind(query.offset);
    sql
}

/// `ORDER BY` the sorts, ties broken by `-id`.
fn push_order(sql: &mut Sql, ordering: &[Sort]) {
    sql.push(" ORDER BY ");
    for sort in ordering {
        sql.push(sort.field.expression());
        // The same place for missing values on both backends: last ascending, first
        // descending (PostgreSQL's default, which its index scans follow).
        sql.push(if sort.descending {
            " DESC NULLS FIRST, "
        } else {
            " ASC NULLS LAST, "
        });
    }
    sql.push("f.id DESC");
}

fn push_filter(sql: &mut Sql, filter: &ListFilter) {
    sql.push(" WHERE f.deleted_at IS NULL");
    let mut bound = |column: &str, op: &str, value: Option<i64>| {
        if let Some(value) = value {
            sql.push(&format!(" AND {column} {op} ")).bind(value);
        }
    };
    bound("f.id", ">=", filter.id_min);
    bound("f.id", "<=", filter.id_max);
    bound("f.created_at", ">=", filter.created_from);
    bound("f.created_at", "<=", filter.created_to);
    bound("f.updated_at", ">=", filter.updated_from);
    bound("f.updated_at", "<=", filter.updated_to);
    bound("f.user_id", "=", filter.user_id);
    bound("f.size", ">=", filter.size_min);
    bound("f.size", "<=", filter.size_max);
    bound("f.width", ">=", filter.width_min);
    bound("f.width", "<=", filter.width_max);
    bound("f.height", ">=", filter.height_min);
    bound("f.height", "<=", filter.height_max);
    push_types(sql, "f.media_type", &filter.media_types);
    for term in &filter.search {
        let pattern = format!("%{}%", escape_like(&fold(term)));
        sql.push(" AND (f.name_folded LIKE ")
            .bind(pattern.clone())
            .push(" ESCAPE '\\'");
        // Only digits can be part of an id; asking the database anyway would cost a scan.
        let may_match_id = term.bytes().all(|b| b.is_ascii_digit());
        if !filter.search_names_only && may_match_id {
            sql.push(" OR CAST(f.id AS TEXT) LIKE ")
                .bind(pattern)
                .push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
}

fn push_types(sql: &mut Sql, column: &str, types: &[String]) {
    if types.is_empty() {
        return;
    }
    sql.push(&format!(" AND {column} IN ("));
    for (i, media_type) in types.iter().enumerate() {
        sql.push(if i == 0 { "" } else { ", " })
            .bind(media_type.clone());
    }
    sql.push(")");
}

/// `%`, `_` and `\` are plain characters in a search term.
fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn every_api_field_parses() {
        for (name, field) in SortField::ALL {
            assert_eq!(SortField::parse(name), Some(field));
        }
        assert_eq!(SortField::parse("password"), None);
    }
}
