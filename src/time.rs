//! Time as a value. The glue reads the clock once per request (`Date.now()` on wasm32, where
//! `SystemTime::now()` panics) and passes it down; the core never reads a clock itself.

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Milliseconds from `earlier` to `self`, zero when `earlier` is later (clocks can step back).
    pub fn since(self, earlier: UnixMillis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This instant plus `ms` milliseconds, saturating.
    pub fn plus_millis(self, ms: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_saturates_when_clock_steps_back() {
        assert_eq!(UnixMillis(10).since(UnixMillis(20)), 0);
        assert_eq!(UnixMillis(25).since(UnixMillis(20)), 5);
    }
}
