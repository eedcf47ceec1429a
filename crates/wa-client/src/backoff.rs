//! Capped exponential reconnect backoff with jitter.

use std::time::Duration;

use rand_core::RngCore;

/// Delay before reconnect attempt `n` is `min(max, initial * 2^n)`, then "equal jitter": a
/// uniformly random value in `[d/2, d]`, so that many sessions dropped at once do not reconnect
/// in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The capped delay without jitter for the current attempt.
    pub(crate) fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay (jittered), advancing the attempt counter.
    pub(crate) fn next_delay(&mut self, rng: &mut impl RngCore) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if span == 0 {
            0
        } else {
            rng.next_u64() % (span + 1)
        };
        half + Duration::from_millis(jitter)
    }

    /// Forget past failures (after a successful login).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_caps_and_jitters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut seen = Vec::new();
        for n in 0..10u32 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(n)).min(Duration::from_secs(2));
            let d = b.next_delay(&mut rng);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "attempt {n}: {d:?} vs {ceiling:?}"
            );
            seen.push(d);
        }
        assert_eq!(b.attempt, 10);
        assert!(seen[9] <= Duration::from_secs(2));
        assert!(seen[9] >= Duration::from_secs(1));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_varies() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let delays: std::collections::HashSet<_> = (0..20)
            .map(|_| {
                Backoff::new(Duration::from_secs(8), Duration::from_secs(8)).next_delay(&mut rng)
            })
            .collect();
        assert!(delays.len() > 5);
    }

    #[test]
    fn never_overflows() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(b.next_delay(&mut rng) <= Duration::from_secs(60));
        }
    }
}
