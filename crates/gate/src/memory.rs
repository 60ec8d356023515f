//! The memory a shop process uses, for its load reports (Sa31, patent 0027: the memory in use).

/// Resident set size of this process, from procfs (0 where there is none). Read with
/// `tokio::fs`, so a report tick never blocks a runtime thread.
pub async fn resident_memory() -> u64 {
    let Ok(statm) = tokio::fs::read_to_string("/proc/self/statm").await else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
