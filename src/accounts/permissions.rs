//! The four operations a user or token may be allowed, by code (3801..3804) or scope name.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::Create,
        Permission::Read,
        Permission::Update,
        Permission::Delete,
    ];

    pub fn code(self) -> i64 {
        match self {
            Permission::Create => 3801,
            Permission::Read => 3802,
            Permission::Update => 3803,
            Permission::Delete => 3804,
        }
    }

    pub fn scope(self) -> &'static str {
        match self {
            Permission::Create => "media:create",
            Permission::Read => "media:read",
            Permission::Update => "media:update",
            Permission::Delete => "media:delete",
        }
    }

    pub fn from_code(code: i64) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.code() == code)
    }

    /// A permission given on the command line: its code (`3801`) or its scope (`media:create`).
    pub fn parse(value: &str) -> Option<Permission> {
        let value = value.trim();
        Permission::ALL
            .into_iter()
            .find(|p| p.scope() == value || p.code().to_string() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_from_codes_and_scopes() {
        assert_eq!(Permission::parse("3801"), Some(Permission::Create));
        assert_eq!(Permission::parse("media:delete"), Some(Permission::Delete));
        assert_eq!(Permission::parse("3805"), None);
        assert_eq!(Permission::parse("media:admin"), None);
        assert_eq!(Permission::from_code(3802), Some(Permission::Read));
    }
}
