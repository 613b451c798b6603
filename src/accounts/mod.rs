//! Users, their permissions, and API tokens (SPEC §2, §8).
//!
//! Tokens are random, shown once, and stored only as BLAKE3 hashes: a lookup by hash finds
//! the token, and comparing hashes (`blake3::Hash` compares in constant time) confirms it.

mod permissions;
mod store;

pub use permissions::Permission;
pub use store::{Accounts, AccountsError, NewUser, Principal, User};

/// Generate a new token: 160 random bits as 40 hex digits, like Django REST Framework's.
pub fn new_token() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}
