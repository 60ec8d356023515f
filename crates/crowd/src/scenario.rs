//! What a crowd does: how many buyers, when they arrive ([`Arrival`]), how they misbehave, and
//! when the run stops ([`Scenario`]). Pure: times are offsets from the start of the run.

use std::time::Duration;

use serde::Serialize;

/// How buyers arrive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// All at once: a flash crowd.
    Flash,
    /// At a steady rate.
    Steady {
        /// Buyers per second.
        per_second: f64,
    },
    /// A rate that grows (or falls) linearly.
    Ramp {
        /// Buyers per second at the start.
        from: f64,
        /// Buyers per second at the end of `over`.
        to: f64,
        /// How long the ramp lasts (then the rate stays at `to`).
        over_ms: u64,
    },
}

impl Arrival {
    /// When buyer `n` (0-based) arrives, from the start of the run.
    pub fn at(&self, n: u64) -> Duration {
        let n = n as f64;
        match *self {
            Arrival::Flash => Duration::ZERO,
            Arrival::Steady { per_second } => secs(n / per_second.max(1e-3)),
            Arrival::Ramp { from, to, over_ms } => {
                let (from, to) = (from.max(1e-3), to.max(1e-3));
                let over = over_ms as f64 / 1000.0;
                // Buyers arrived by time t during the ramp: from·t + (to − from)·t²/(2·over).
                let during = (from + to) / 2.0 * over;
                if n >= during || over <= 0.0 {
                    return secs(over.max(0.0) + (n - during.min(n)) / to);
                }
                let a = (to - from) / (2.0 * over);
                if a.abs() < 1e-12 {
                    return secs(n / from);
                }
                secs((-from + (from * from + 4.0 * a * n).sqrt()) / (2.0 * a))
            }
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// A crowd to run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// How many buyers.
    pub clients: u64,
    /// When they arrive.
    pub arrival: Arrival,
    /// What they buy.
    pub item: String,
    /// Share of buyers who walk away after their first wait answer.
    pub abandon_waiting: f64,
    /// Share of admitted buyers who never open their ticket.
    pub abandon_admitted: f64,
    /// How long an admitted buyer stays at the shop before buying.
    pub hold_ms: u64,
    /// Give every buyer its own source address in 127.0.0.0/8 (client binding and per-network
    /// limits see distinct clients, as with a real crowd).
    pub spread_sources: bool,
    /// The whole run stops after this long, finished or not: buyers still at it are cut short,
    /// buyers due later never arrive, and neither counts as an error.
    pub deadline_ms: u64,
}

impl Scenario {
    /// Whether buyer `n` walks away while waiting (spread evenly, so runs are repeatable).
    pub(crate) fn abandons_waiting(&self, n: u64) -> bool {
        picks(n, self.abandon_waiting, 0)
    }

    pub(crate) fn abandons_admitted(&self, n: u64) -> bool {
        picks(n, self.abandon_admitted, 7)
    }

    /// Whether buyer `n` obeys every return time (neither walks away from the line nor from
    /// its ticket).
    pub(crate) fn obeys(&self, n: u64) -> bool {
        !self.abandons_waiting(n) && !self.abandons_admitted(n)
    }

    /// When the run stops, from its start.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// When the last buyer is due, from the start: how long the arrivals span.
    pub fn arrivals_span(&self) -> Duration {
        self.arrival.at(self.clients.saturating_sub(1))
    }

    /// Whether buyer `n` is due before the deadline (one due at it or later never arrives).
    pub fn arrives(&self, n: u64) -> bool {
        self.arrival.at(n) < self.deadline()
    }

    /// How many buyers are due before the deadline, so a runner can say before the run how
    /// many of the crowd it will miss. Later buyers are never due sooner, so the first one
    /// due too late ends the count (found by bisection: a crowd may be a million).
    pub fn arriving(&self) -> u64 {
        let (mut low, mut high) = (0, self.clients);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.arrives(middle) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }
}

/// Whether `n` is among the `share` picked, evenly spread (`offset` decorrelates two shares).
fn picks(n: u64, share: f64, offset: u64) -> bool {
    let share = share.clamp(0.0, 1.0);
    let at = |k: u64| (k as f64 * share).floor();
    let k = n + offset;
    at(k + 1) > at(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_and_ramp_arrivals_are_spread_as_asked() {
        let steady = Arrival::Steady { per_second: 100.0 };
        assert_eq!(steady.at(0), Duration::ZERO);
        assert_eq!(steady.at(50), Duration::from_millis(500));
        let ramp = Arrival::Ramp {
            from: 10.0,
            to: 30.0,
            over_ms: 10_000,
        };
        // 200 arrive during the ramp (average 20/s over 10 s), then 30/s.
        let end = ramp.at(200).as_secs_f64();
        assert!((end - 10.0).abs() < 1e-6, "{end}");
        assert!((ramp.at(230).as_secs_f64() - 11.0).abs() < 1e-6);
        let times: Vec<_> = (0..300).map(|n| ramp.at(n)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(Arrival::Flash.at(999), Duration::ZERO);
    }

    #[test]
    fn shares_pick_evenly() {
        let picked = (0..1000).filter(|&n| picks(n, 0.2, 0)).count();
        assert_eq!(picked, 200);
        assert_eq!((0..100).filter(|&n| picks(n, 0.0, 0)).count(), 0);
        assert_eq!((0..100).filter(|&n| picks(n, 1.0, 0)).count(), 100);
    }

    fn steady(clients: u64, per_second: f64, deadline_ms: u64) -> Scenario {
        Scenario {
            clients,
            arrival: Arrival::Steady { per_second },
            item: "app".to_owned(),
            abandon_waiting: 0.0,
            abandon_admitted: 0.0,
            hold_ms: 0,
            spread_sources: false,
            deadline_ms,
        }
    }

    /// The reported run: 60,000 buyers at 100/s span ten minutes, and a five-minute deadline
    /// lets the first half arrive.
    #[test]
    fn buyers_due_at_the_deadline_or_later_do_not_arrive() {
        let scenario = steady(60_000, 100.0, 300_000);
        let span = scenario.arrivals_span().as_secs_f64();
        assert!((span - 599.99).abs() < 1e-6, "{span}");
        assert_eq!(scenario.arriving(), 30_000);
        assert!(scenario.arrives(29_999) && !scenario.arrives(30_000));
        assert_eq!(steady(10, 1.0, 60_000).arriving(), 10);
        assert_eq!(steady(10, 1.0, 0).arriving(), 0);
        let flash = Scenario {
            arrival: Arrival::Flash,
            ..steady(1000, 1.0, 1)
        };
        assert_eq!(
            (flash.arriving(), flash.arrivals_span()),
            (1000, Duration::ZERO)
        );
    }
}
