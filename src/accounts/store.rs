//! The accounts tables, over the shared `Any` pool (the SQL is the same on both backends).

use serde::Serialize;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::{hash_token, new_token, Permission};

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("{0}")]
    InvalidUser(String),
    #[error("a user named {0:?} already exists")]
    UsernameTaken(String),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("no such token")]
    UnknownToken,
    #[error("accounts database error: {0}")]
    Database(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, AccountsError>;

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
}

/// Django's `auth.User` limits, which the seeds' user objects come from.
const MAX_NAME_CHARS: usize = 150;

impl NewUser {
    /// As Django's `auth.User` says: a username of 1 to 150 letters, digits and `@.+-_`; a
    /// first and last name of at most 150 characters each.
    fn check(&self) -> Result<()> {
        let invalid = |message: String| Err(AccountsError::InvalidUser(message));
        let username = &self.username;
        if username.is_empty() {
            return invalid("the username may not be empty".into());
        }
        if username.chars().count() > MAX_NAME_CHARS {
            return invalid(format!(
                "the username may have at most {MAX_NAME_CHARS} characters"
            ));
        }
        if let Some(c) = username
            .chars()
            .find(|&c| !(c.is_alphanumeric() || "@.+-_".contains(c)))
        {
            return invalid(format!(
                "the username may hold only letters, digits and @.+-_, not {c:?}"
            ));
        }
        for (field, value) in [
            ("first name", &self.first_name),
            ("last name", &self.last_name),
        ] {
            if value.chars().count() > MAX_NAME_CHARS {
                return invalid(format!(
                    "the {field} may have at most {MAX_NAME_CHARS} characters"
                ));
            }
        }
        Ok(())
    }
}

/// A user as `mediastore user create` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub uuid: Uuid,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub is_staff: bool,
    pub is_admin: bool,
    pub permissions: Vec<i64>,
}

/// Who is making a request, and what they may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub user_uuid: Uuid,
    pub is_admin: bool,
    pub is_staff: bool,
    pub permissions: Vec<Permission>,
    /// The token's scopes; `None` means the token carries all of the user's rights.
    pub scopes: Option<Vec<Permission>>,
    /// Microseconds since the epoch, when a token of this user was last used.
    pub last_login: Option<i64>,
}

impl Principal {
    /// The user's rights (admin, or staff with the permission) intersected with the token's.
    pub fn may(&self, permission: Permission) -> bool {
        let user_may = self.is_admin || (self.is_staff && self.permissions.contains(&permission));
        let token_may = self
            .scopes
            .as_ref()
            .is_none_or(|scopes| scopes.contains(&permission));
        user_may && token_may
    }
}

#[derive(Debug, Clone)]
pub struct Accounts {
    pool: AnyPool,
}

impl Accounts {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    pub async fn create_user(&self, new: &NewUser, now: i64) -> Result<User> {
        new.check()?;
        let mut tx = self.pool.begin().await?;
        let uuid = Uuid::new_v4();
        let inserted = sqlx::query(
            "INSERT INTO users (uuid, username, first_name, last_name, is_staff, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(uuid.to_string())
        .bind(&new.username)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(i64::from(new.is_staff))
        .bind(i64::from(new.is_admin))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            return Err(AccountsError::UsernameTaken(new.username.clone()));
        };
        let id: i64 = row.try_get("id")?;
        let mut codes: Vec<i64> = new.permissions.iter().map(|p| p.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        for code in &codes {
            sqlx::query("INSERT INTO user_permissions (user_id, code) VALUES ($1, $2)")
                .bind(id)
                .bind(*code)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(User {
            id,
            uuid,
            username: new.username.clone(),
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            is_staff: new.is_staff,
            is_admin: new.is_admin,
            permissions: codes,
        })
    }

    /// Make every token of the user stop working.
    pub async fn deactivate(&self, username: &str) -> Result<()> {
        let changed = sqlx::query("UPDATE users SET is_active = 0 WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(AccountsError::UnknownUser(username.to_string()));
        }
        Ok(())
    }

    /// A new token for the user, limited to `scopes` if any are given. Returned once; only
    /// its hash is stored.
    pub async fn create_token(
        &self,
        username: &str,
        scopes: &[Permission],
        now: i64,
    ) -> Result<String> {
        let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        let user_id = user_id.ok_or_else(|| AccountsError::UnknownUser(username.to_string()))?;
        let token = new_token();
        let scopes = (!scopes.is_empty()).then(|| {
            scopes
                .iter()
                .map(|s| s.scope())
                .collect::<Vec<_>>()
                .join(" ")
        });
        sqlx::query(
            "INSERT INTO api_tokens (user_id, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(hash_token(&token))
        .bind(scopes)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, token: &str, now: i64) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(hash_token(token))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(AccountsError::UnknownToken);
        }
        Ok(())
    }

    /// The principal behind a live token of an active user, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        let presented = blake3::hash(token.as_bytes());
        let row = sqlx::query(
            "SELECT t.token_hash, t.scopes, u.id, u.uuid, u.is_staff, u.is_admin, u.last_login \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_active = 1",
        )
        .bind(presented.to_hex().to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("token_hash")?;
        if blake3::Hash::from_hex(&stored).ok() != Some(presented) {
            return Ok(None);
        }
        let user_id: i64 = row.try_get("id")?;
        let codes: Vec<i64> =
            sqlx::query_scalar("SELECT code FROM user_permissions WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        let scopes: Option<String> = row.try_get("scopes")?;
        let uuid: String = row.try_get("uuid")?;
        Ok(Some(Principal {
            user_id,
            user_uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
            is_staff: row.try_get::<i64, _>("is_staff")? != 0,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            permissions: codes
                .into_iter()
                .filter_map(Permission::from_code)
                .collect(),
            scopes: scopes.map(|s| s.split_whitespace().filter_map(Permission::parse).collect()),
            last_login: row.try_get("last_login")?,
        }))
    }

    /// Record that the user was seen; callers do it at most once a minute per user.
    pub async fn touch_last_login(&self, user_id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }
}
