//! The key-value space (the etcd/ZooKeeper role): entries, key rules and
//! size limits. Validation lives here so the API and the apply agree.

use serde::{Deserialize, Serialize};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value accepted, in bytes (etcd's default request limit is 1.5 MiB;
/// ours is smaller because every server keeps the whole space in memory).
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    pub value: String,
    /// Log index of the write that created the key.
    pub create_revision: u64,
    /// Log index of the last write to the key.
    pub mod_revision: u64,
    /// When the key expires (ms since the epoch, leader's clock), if it has a TTL.
    pub expires_at_ms: Option<u64>,
}

/// Why a key or value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is empty; keys look like /services/web/1")]
    Empty,
    #[error("key must start with '/', got {0:?}")]
    NoLeadingSlash(String),
    #[error("key is {0} bytes; the limit is {MAX_KEY_BYTES}")]
    TooLong(usize),
    #[error("key {0:?} has an empty segment ('//') or ends with '/'")]
    EmptySegment(String),
    #[error("key {0:?} contains a control character or whitespace")]
    BadCharacter(String),
    #[error("value is {0} bytes; the limit is {MAX_VALUE_BYTES}")]
    ValueTooLarge(usize),
}

/// Checks a key: absolute, `/`-separated, no empty segments, printable.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if !key.starts_with('/') {
        return Err(KeyError::NoLeadingSlash(key.to_string()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(key.len()));
    }
    if key.len() > 1 && (key.ends_with('/') || key.contains("//")) || key == "/" {
        return Err(KeyError::EmptySegment(key.to_string()));
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(KeyError::BadCharacter(key.to_string()));
    }
    Ok(())
}

/// Checks a value's size.
pub fn validate_value(value: &str) -> Result<(), KeyError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KeyError::ValueTooLarge(value.len()));
    }
    Ok(())
}

/// Checks a prefix for listing and watching: empty or `/` means everything;
/// otherwise it must start with `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), KeyError> {
    if prefix.is_empty() || prefix == "/" {
        return Ok(());
    }
    if !prefix.starts_with('/') {
        return Err(KeyError::NoLeadingSlash(prefix.to_string()));
    }
    if prefix.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(prefix.len()));
    }
    if prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(KeyError::BadCharacter(prefix.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let cases: &[(&str, Result<(), KeyError>)] = &[
            ("/a", Ok(())),
            ("/services/web/1", Ok(())),
            ("", Err(KeyError::Empty)),
            ("a", Err(KeyError::NoLeadingSlash("a".into()))),
            ("/", Err(KeyError::EmptySegment("/".into()))),
            ("/a/", Err(KeyError::EmptySegment("/a/".into()))),
            ("/a//b", Err(KeyError::EmptySegment("/a//b".into()))),
            ("/a b", Err(KeyError::BadCharacter("/a b".into()))),
            ("/a\nb", Err(KeyError::BadCharacter("/a\nb".into()))),
        ];
        for (key, want) in cases {
            assert_eq!(&validate_key(key), want, "key {key:?}");
        }
        let long = format!("/{}", "k".repeat(MAX_KEY_BYTES));
        assert_eq!(validate_key(&long), Err(KeyError::TooLong(long.len())));
    }

    #[test]
    fn values_and_prefixes() {
        assert_eq!(validate_value(&"v".repeat(MAX_VALUE_BYTES)), Ok(()));
        assert_eq!(
            validate_value(&"v".repeat(MAX_VALUE_BYTES + 1)),
            Err(KeyError::ValueTooLarge(MAX_VALUE_BYTES + 1))
        );
        assert_eq!(validate_prefix(""), Ok(()));
        assert_eq!(validate_prefix("/svc/"), Ok(()));
        assert_eq!(
            validate_prefix("svc"),
            Err(KeyError::NoLeadingSlash("svc".into()))
        );
    }
}
