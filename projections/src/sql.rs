//! A small SQL builder over `sqlx::Any` that numbers its placeholders `$1, $2, ...`:
//! sqlx's own `QueryBuilder<Any>` writes `?`, which PostgreSQL does not accept. Values are
//! only ever bound, never spliced into the text.

use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Encode, Type};

use crate::error::ReadModelError;

/// A statement being built: its text and the values bound to it.
pub struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
    /// `?N` rather than `$N`: to SQLite, `$1` is a *named* parameter, and finding each new
    /// name among the previous ones makes a statement with thousands of them slow to prepare.
    question_marks: bool,
    /// Rows appended by `row`.
    rows: usize,
    error: Option<sqlx::error::BoxDynError>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: AnyArguments::default(),
            count: 0,
            question_marks: false,
            rows: 0,
            error: None,
        }
    }

    /// A statement for `backend`'s own numbered placeholders (`$N` PostgreSQL, `?N` SQLite).
    pub fn for_backend(text: impl Into<String>, postgres: bool) -> Self {
        Self {
            question_marks: !postgres,
            ..Self::new(text)
        }
    }

    /// Append SQL text: only ever constants and whitelisted column names.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Append a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + Send + 'static,
    {
        self.count += 1;
        let mark = if self.question_marks { '?' } else { '$' };
        let _ = write!(self.text, "{mark}{}", self.count);
        if let Err(error) = self.args.add(value) {
            self.error.get_or_insert(error);
        }
        self
    }

    /// Append one `(v1, v2, ...)` row of a multi-row `VALUES`, after a comma unless it is
    /// the first; `values` binds the row's values in order.
    pub fn row(&mut self, values: impl FnOnce(&mut Row<'_>)) -> &mut Self {
        self.push(if self.rows == 0 { "(" } else { ", (" });
        self.rows += 1;
        values(&mut Row {
            sql: self,
            first: true,
        });
        self.push(")")
    }

    /// The statement's text, placeholders included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The same statement after `prefix`, e.g. `EXPLAIN ANALYZE `.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.text.insert_str(0, prefix);
        self
    }

    fn finish(self) -> Result<(String, AnyArguments<'static>), ReadModelError> {
        match self.error {
            Some(error) => Err(ReadModelError::Database(sqlx::Error::Encode(error))),
            None => Ok((self.text, self.args)),
        }
    }

    pub async fn fetch_all(self, pool: &AnyPool) -> Result<Vec<AnyRow>, ReadModelError> {
        let (text, args) = self.finish()?;
        // Not prepared for reuse: PostgreSQL would switch a reused statement to a generic
        // plan, which cannot know how selective this search term or range is.
        Ok(sqlx::query_with(&text, args)
            .persistent(false)
            .fetch_all(pool)
            .await?)
    }

    pub async fn execute<'c, E>(self, executor: E) -> Result<u64, ReadModelError>
    where
        E: sqlx::Executor<'c, Database = Any>,
    {
        let (text, args) = self.finish()?;
        Ok(sqlx::query_with(&text, args)
            .persistent(false)
            .execute(executor)
            .await?
            .rows_affected())
    }

    pub async fn fetch_i64(self, pool: &AnyPool) -> Result<i64, ReadModelError> {
        let (text, args) = self.finish()?;
        Ok(sqlx::query_scalar_with(&text, args)
            .persistent(false)
            .fetch_one(pool)
            .await?)
    }
}

/// The values of one row being appended by [`Sql::row`].
pub struct Row<'a> {
    sql: &'a mut Sql,
    first: bool,
}

impl Row<'_> {
    pub fn value<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + Send + 'static,
    {
        if !std::mem::take(&mut self.first) {
            self.sql.push(", ");
        }
        self.sql.bind(value);
        self
    }
}
