//! A small SQL builder over `sqlx::Any` that numbers its placeholders `$1, $2, ...`:
//! sqlx's own `QueryBuilder<Any>` writes `?`, which PostgreSQL does not accept. Values are
//! only ever bound, never spliced into the text.

use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Encode, Type};

use crate::error::ReadModelError;

pub(crate) struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
    error: Option<sqlx::error::BoxDynError>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: AnyArguments::default(),
            count: 0,
            error: None,
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
        let _ = write!(self.text, "${}", self.count);
        if let Err(error) = self.args.add(value) {
            self.error.get_or_insert(error);
        }
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
        Ok(sqlx::query_with(&text, args).fetch_all(pool).await?)
    }

    pub async fn fetch_i64(self, pool: &AnyPool) -> Result<i64, ReadModelError> {
        let (text, args) = self.finish()?;
        Ok(sqlx::query_scalar_with(&text, args).fetch_one(pool).await?)
    }
}
