//! Configuration from flags and environment variables; each field's doc is its `--help`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::media::SizeLimits;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "MEDIASTORE_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,

    /// `postgres://...` selects PostgreSQL; unset or `sqlite://PATH` selects SQLite
    /// (default `<data dir>/mediastore.db`).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where blobs (and the default SQLite database) live.
    #[arg(
        long,
        env = "MEDIASTORE_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Absolute base URL for `f`, `next` and `previous` (default: from the request's Host).
    #[arg(long, env = "MEDIASTORE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Connections per PostgreSQL pool (there are two: event store, and the rest).
    #[arg(long, env = "MEDIASTORE_DB_POOL_SIZE", default_value_t = crate::store::DEFAULT_POOL_SIZE, global = true)]
    pub db_pool_size: u32,

    /// Largest image upload, in bytes.
    #[arg(long, env = "MEDIASTORE_MAX_IMAGE_BYTES", default_value_t = SizeLimits::default().image, global = true)]
    pub max_image_bytes: u64,

    /// Largest pdf, text, document, spreadsheet, presentation or archive upload, in bytes.
    #[arg(long, env = "MEDIASTORE_MAX_DOCUMENT_BYTES", default_value_t = SizeLimits::default().document, global = true)]
    pub max_document_bytes: u64,

    /// Largest audio upload, in bytes.
    #[arg(long, env = "MEDIASTORE_MAX_AUDIO_BYTES", default_value_t = SizeLimits::default().audio, global = true)]
    pub max_audio_bytes: u64,

    /// Largest image accepted, in pixels (larger ones are refused as decompression bombs).
    #[arg(long, env = "MEDIASTORE_MAX_IMAGE_PIXELS", default_value_t = SizeLimits::default().image_pixels, global = true)]
    pub max_image_pixels: u64,

    /// Most memory one image's decoding may allocate, in bytes (decoded pixels, JPEG
    /// coefficients); an image needing more is refused.
    #[arg(long, env = "MEDIASTORE_MAX_IMAGE_MEMORY", default_value_t = crate::media::thumbnails::Limits::default().max_alloc, global = true)]
    pub max_image_memory: u64,

    /// Largest video upload, in bytes.
    #[arg(long, env = "MEDIASTORE_MAX_VIDEO_BYTES", default_value_t = SizeLimits::default().video, global = true)]
    pub max_video_bytes: u64,
}

impl Config {
    pub fn database(&self) -> Result<DatabaseUrl, String> {
        DatabaseUrl::parse(self.database_url.as_deref(), &self.data_dir)
    }

    pub fn limits(&self) -> SizeLimits {
        SizeLimits {
            image: self.max_image_bytes,
            document: self.max_document_bytes,
            audio: self.max_audio_bytes,
            video: self.max_video_bytes,
            image_pixels: self.max_image_pixels,
        }
    }

    /// The public base URL without a trailing slash, if configured.
    pub fn public_base(&self) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_string())
    }
}

/// Which database to use. `Debug` hides the password of a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(url: Option<&str>, data_dir: &std::path::Path) -> Result<DatabaseUrl, String> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(DatabaseUrl::Sqlite(data_dir.join("mediastore.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(DatabaseUrl::Postgres(url.to_string()))
            }
            Some(url) => match url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                Some(path) if !path.is_empty() => Ok(DatabaseUrl::Sqlite(PathBuf::from(
                    path.split('?').next().unwrap_or(path),
                ))),
                _ => Err(format!(
                    "DATABASE_URL must start with postgres:// or sqlite://, not {:?}",
                    redact(url)
                )),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => write!(f, "Postgres({})", redact(url)),
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
        }
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn no_url_means_sqlite_in_the_data_dir() {
        assert_eq!(
            DatabaseUrl::parse(None, Path::new("/d")),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/d/mediastore.db")))
        );
        assert_eq!(
            DatabaseUrl::parse(Some("sqlite:///tmp/x.db"), Path::new("/d")),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/tmp/x.db")))
        );
        assert!(DatabaseUrl::parse(Some("mysql://x"), Path::new("/d")).is_err());
    }

    #[test]
    fn the_debug_form_hides_the_password() {
        let url = DatabaseUrl::Postgres("postgres://u:secret@h/db".into());
        assert_eq!(format!("{url:?}"), "Postgres(postgres://u:***@h/db)");
    }
}
