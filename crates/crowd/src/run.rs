//! Running a crowd: buyers arrive on a schedule, each one the patent's client (Sc31 order,
//! Sc55-Sc56 wait as told and ask again, Sb31 claim, buy), while a sampler reads the system's
//! state from the reception's management side.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use url::Url;
use usher_buyer::{Buyer, BuyerConfig, BuyerError, ErrorKind, MAX_CHECK_IN};

use crate::sampler::sample;
use crate::{BuyerRecord, Sample, Unfinished};

pub use crate::sampler::wait_for_shops;
pub use crate::scenario::{Arrival, Scenario};

/// Where the crowd goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The reception's public base URL.
    pub reception: Url,
    /// The reception's management `/status` URL (queue length, each shop's places and
    /// high-water mark).
    pub status: Url,
    /// Shops' public base URLs to walk straight into, bypassing the reception: buyer `n` goes
    /// to shop `n mod len`, in turn, as DNS round robin would send it (the patent's prior art,
    /// fig. 6), or to one balancer in front of them. Empty: every buyer orders at the reception.
    pub direct: Vec<Url>,
}

/// How long a walk-in who found the shop busy waits before asking again (a person pressing
/// reload; the prior art tells it nothing better).
const WALK_IN_RETRY: Duration = Duration::from_secs(1);

/// Live counts for a progress display.
#[derive(Debug, Default)]
pub struct Live {
    /// Buyers who have asked at least once.
    pub arrived: AtomicU64,
    /// Buyers admitted.
    pub admitted: AtomicU64,
    /// Orders completed.
    pub bought: AtomicU64,
    /// Buyers whose run ended in an error.
    pub errors: AtomicU64,
    /// Clients waiting in line, as last sampled.
    pub waiting: AtomicU64,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Run {
    /// One per buyer, in arrival order.
    pub records: Vec<BuyerRecord>,
    /// The system's state over time.
    pub samples: Vec<Sample>,
    /// How long the run took.
    pub duration: Duration,
}

impl Run {
    /// The report of this run, labelled `label`.
    pub fn report(&self, label: &str, scenario: &Scenario) -> crate::Report {
        crate::Report::build(
            label,
            serde_json::to_value(scenario).unwrap_or_default(),
            &self.records,
            &self.samples,
            whole_ms(self.duration),
        )
    }

    /// Every buyer's record, one JSON object per line (the raw data behind the report).
    pub fn records_json_lines(&self) -> String {
        let mut out = String::with_capacity(self.records.len() * 256);
        for record in &self.records {
            // Plain numbers and strings: serialising cannot fail.
            out.push_str(&serde_json::to_string(record).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

/// Runs `scenario` against `target`, updating `live` as it goes. Ends at the scenario's
/// deadline at the latest: buyers still at it then are cut short, and buyers due then or later
/// are never started (a crowd whose arrivals outlast the deadline would otherwise keep the run
/// going until the last was due, only to count it out).
pub async fn run(target: &Target, scenario: &Scenario, live: Arc<Live>) -> Run {
    let start = Instant::now();
    // A deadline past what the clock can hold is no deadline: thirty years stand for it.
    let deadline = start
        .checked_add(scenario.deadline())
        .unwrap_or(start + Duration::from_secs(30 * 365 * 86_400));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sampled = Arc::clone(&live);
    let sampler = tokio::spawn(sample(
        target.status.clone(),
        start,
        move |s: &Sample| sampled.waiting.store(s.queue_len, Ordering::Relaxed),
        stop_rx,
    ));
    let mut records = Vec::with_capacity(usize::try_from(scenario.clients).unwrap_or(0));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..scenario.clients {
        let due = scenario.arrival.at(n);
        let mut record = BuyerRecord {
            arrival: n,
            obedient: scenario.obeys(n),
            ..BuyerRecord::default()
        };
        if !scenario.arrives(n) {
            record.arrived_ms = whole_ms(due);
            record.unfinished = Some(Unfinished::NotArrived);
            records.push(record);
            continue;
        }
        let (target, scenario, live) = (target.clone(), scenario.clone(), Arc::clone(&live));
        tasks.spawn(async move {
            tokio::time::sleep_until((start + due).into()).await;
            let work = one_buyer(&target, &scenario, n, start, &live, &mut record);
            if tokio::time::timeout_at(deadline.into(), work)
                .await
                .is_err()
            {
                record.unfinished = Some(Unfinished::CutShort);
            }
            record
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(record) = done {
            records.push(record);
        }
    }
    records.sort_by_key(|r| r.arrival);
    let duration = start.elapsed();
    let _ = stop_tx.send(true);
    let samples = sampler.await.unwrap_or_default();
    Run {
        records,
        samples,
        duration,
    }
}

/// Buyer `n`'s source address: 127.x.y.z, never .0 or .255 at the end.
fn source(n: u64) -> IpAddr {
    // The /16 and /24 change fastest, so a crowd spreads over as many networks as it can: the
    // reception's budgets per /24 and /16 judge each buyer, not the loopback range.
    let k = n % (127 * 256 * 254);
    let x = (k % 127 + 1) as u8;
    let y = ((k / 127) % 256) as u8;
    let z = ((k / (127 * 256)) % 254 + 1) as u8;
    IpAddr::V4(Ipv4Addr::new(127, x, y, z))
}

fn ms_since(start: Instant) -> u64 {
    whole_ms(start.elapsed())
}

/// Whole milliseconds, as records keep times.
fn whole_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn one_buyer(
    target: &Target,
    scenario: &Scenario,
    n: u64,
    start: Instant,
    live: &Live,
    record: &mut BuyerRecord,
) {
    let abandons = scenario.abandons_waiting(n);
    let walks_off = scenario.abandons_admitted(n);
    let mut config = BuyerConfig::new(target.reception.clone());
    config.api = true;
    // The run's deadline cuts every wait short (see `run`); the buyer's own limits must not end
    // one sooner, as a `gave_up` error. Its waits so far stay under the deadline and the next
    // is at most a check-in, so this bound is never reached; nor is the count of asks.
    config.max_wait = scenario.deadline() + MAX_CHECK_IN;
    config.max_attempts = if abandons { 1 } else { u32::MAX };
    if scenario.spread_sources {
        config.local_address = Some(source(n));
    }
    let buyer = match Buyer::new(config) {
        Ok(b) => b,
        Err(e) => return fail(record, live, &e),
    };
    record.arrived_ms = ms_since(start);
    live.arrived.fetch_add(1, Ordering::Relaxed);
    if !target.direct.is_empty() {
        let shop = &target.direct[(n % target.direct.len() as u64) as usize];
        let run = Shared {
            scenario,
            start,
            live,
        };
        return walk_in(&buyer, shop, run, abandons, walks_off, record).await;
    }
    let admitted = match buyer.order(&scenario.item).await {
        Ok(a) => a,
        Err(BuyerError::GaveUp { .. }) if abandons => return,
        Err(e) => return fail(record, live, &e),
    };
    record.admitted_ms = Some(ms_since(start));
    if let Some(first) = admitted.asks.first() {
        let answered = Duration::from_millis(record.arrived_ms) + *first;
        record.answered_ms = Some(whole_ms(answered));
    }
    record.first_estimate_ms = admitted.first_estimate.map(whole_ms);
    record.first_low_ms = admitted.first_range.map(|(low, _)| whole_ms(low));
    record.first_high_ms = admitted.first_range.map(|(_, high)| whole_ms(high));
    record.place = admitted.place;
    if record.first_estimate_ms.is_some() {
        let at = Duration::from_millis(record.arrived_ms) + admitted.first_estimate_after;
        record.estimated_ms = Some(whole_ms(at));
    }
    record.admission_latency_ms = admitted.asks.iter().map(|d| ms(*d)).collect();
    live.admitted.fetch_add(1, Ordering::Relaxed);
    if walks_off {
        return;
    }
    let asked = Instant::now();
    let page = match buyer.claim(&admitted).await {
        Ok(p) => p,
        Err(e) => return fail(record, live, &e),
    };
    record.claim_latency_ms = Some(ms(asked.elapsed()));
    hold_and_buy(&buyer, &page, scenario, start, live, record).await;
}

/// At the shop with a session: stays a while, then buys.
async fn hold_and_buy(
    buyer: &Buyer,
    page: &Url,
    scenario: &Scenario,
    start: Instant,
    live: &Live,
    record: &mut BuyerRecord,
) {
    tokio::time::sleep(Duration::from_millis(scenario.hold_ms)).await;
    let asked = Instant::now();
    match buyer.buy(page).await {
        Ok(_) => {
            record.order_latency_ms = Some(ms(asked.elapsed()));
            record.bought_ms = Some(ms_since(start));
            live.bought.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => fail(record, live, &e),
    }
}

/// What every buyer of a run shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    scenario: &'a Scenario,
    start: Instant,
    live: &'a Live,
}

/// The prior art's buyer: straight into `shop`'s item page with no ticket, again after
/// [`WALK_IN_RETRY`] while the shop (or a balancer in front of it) answers busy, then buys.
/// Being let in counts as admitted.
async fn walk_in(
    buyer: &Buyer,
    shop: &Url,
    run: Shared<'_>,
    abandons: bool,
    walks_off: bool,
    record: &mut BuyerRecord,
) {
    let Shared {
        scenario,
        start,
        live,
    } = run;
    let page = loop {
        let asked = Instant::now();
        let answer = buyer.walk_in(shop, &scenario.item).await;
        record.admission_latency_ms.push(ms(asked.elapsed()));
        if record.answered_ms.is_none() {
            record.answered_ms = Some(ms_since(start));
        }
        match answer {
            Ok(page) => break page,
            Err(e) if matches!(e.status(), Some(429 | 502 | 503 | 504)) && !abandons => {
                tokio::time::sleep(WALK_IN_RETRY).await;
            }
            Err(_) if abandons => return,
            Err(e) => return fail(record, live, &e),
        }
    };
    record.admitted_ms = Some(ms_since(start));
    live.admitted.fetch_add(1, Ordering::Relaxed);
    if walks_off {
        return;
    }
    hold_and_buy(buyer, &page, scenario, start, live, record).await;
}

fn fail(record: &mut BuyerRecord, live: &Live, error: &BuyerError) {
    let code = match error.refusal_code() {
        Some(code) => code.as_str().to_owned(),
        None => match error.kind() {
            ErrorKind::SoldOut => "sold_out".to_owned(),
            ErrorKind::GaveUp => "gave_up".to_owned(),
            ErrorKind::Timeout => "timeout".to_owned(),
            ErrorKind::Connect => "connect".to_owned(),
            ErrorKind::UnexpectedStatus => format!("status_{}", error.status().unwrap_or(0)),
            other => format!("{other:?}").to_lowercase(),
        },
    };
    tracing::debug!(arrival = record.arrival, %code, "buyer failed");
    record.error = Some(code);
    live.errors.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_distinct_loopback_addresses() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..100_000 {
            let ip = source(n);
            assert!(ip.is_loopback());
            let IpAddr::V4(v4) = ip else { unreachable!() };
            assert!(!matches!(v4.octets()[3], 0 | 255));
            assert!(seen.insert(ip), "{ip} twice");
        }
    }
}
