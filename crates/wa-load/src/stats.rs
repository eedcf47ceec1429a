//! Latency percentiles and process memory readings.

use std::time::Duration;

/// A set of latency samples.
#[derive(Default)]
pub(crate) struct Samples(Vec<Duration>);

impl Samples {
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub(crate) fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); zero when empty.
    fn pct(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    /// `p50 .. p90 .. p99 .. max` as one line, in milliseconds.
    pub(crate) fn summary(&self) -> String {
        let mut v = self.0.clone();
        v.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            v.len(),
            ms(Self::pct(&v, 50.0)),
            ms(Self::pct(&v, 90.0)),
            ms(Self::pct(&v, 99.0)),
            ms(v.last().copied().unwrap_or_default()),
        )
    }
}

/// One `kB` field of `/proc/<pid>/status` (e.g. `VmRSS`), in bytes.
pub(crate) fn proc_status_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Resident set size of a process (this one when `pid` is `None`), in bytes.
pub(crate) fn rss(pid: Option<u32>) -> u64 {
    proc_status_kb(pid, "VmRSS").unwrap_or(0)
}

/// Number of threads of this process.
pub(crate) fn threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes in KiB with one decimal.
pub(crate) fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push(Duration::from_millis(i));
        }
        let line = s.summary();
        assert!(
            line.contains("n=100 p50=50.00ms p90=90.00ms p99=99.00ms max=100.00ms"),
            "{line}"
        );
        assert!(Samples::default().summary().contains("n=0 p50=0.00ms"));
    }

    #[test]
    fn reads_own_rss() {
        assert!(rss(None) > 0);
        assert!(threads() >= 1);
        assert_eq!(proc_status_kb(None, "NoSuchField"), None);
    }
}
