//! Versions and timestamps as Marathon shows them.

/// `ms` since the epoch as ISO-8601 UTC with milliseconds and `Z`.
pub fn iso(ms: u64) -> String {
    corral_api::marathon::time::iso8601(ms)
}
