//! The sampler: reads the reception's management `/status`
//! ([`ReceptionStatus`](usher_wire::status::ReceptionStatus)) while a crowd runs, one
//! [`Sample`] per tick.

use std::time::{Duration, Instant};

use url::Url;
use usher_wire::status::ReceptionStatus;

use crate::{Sample, ShopSample};

/// How often the sampler reads the reception's status.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Reads the reception's status every [`SAMPLE_EVERY`] until told to stop, handing each sample
/// to `each` as it comes.
pub(crate) async fn sample(
    status: Url,
    start: Instant,
    each: impl Fn(&Sample),
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Sample> {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {
                // One last look, so the high-water marks are as of the end.
                if let Some(s) = read_status(&http, &status, start).await {
                    samples.push(s);
                }
                return samples;
            }
        }
        if let Some(s) = read_status(&http, &status, start).await {
            each(&s);
            samples.push(s);
        }
    }
}

async fn read_status(http: &reqwest::Client, status: &Url, start: Instant) -> Option<Sample> {
    let sent = start.elapsed();
    let body: ReceptionStatus = http
        .get(status.clone())
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    // Halfway through the round trip: the moment the status most likely describes.
    let at = sent + start.elapsed().saturating_sub(sent) / 2;
    let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
    Some(Sample::from_status(&body, at_ms))
}

/// Waits until the reception behind `status` has a report from `shops` shops (a system just
/// started), polling every 20 ms; `false` if that took longer than `within`.
pub async fn wait_for_shops(status: &Url, shops: usize, within: Duration) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(sample) = read_status(&http, status, Instant::now()).await
            && sample.shops.values().filter(|s| s.capacity > 0).count() >= shops
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

impl Sample {
    /// The sample a reception's status makes at `at_ms` into the run (a shop with no report
    /// yet counts with nothing in use and no capacity).
    pub fn from_status(status: &ReceptionStatus, at_ms: u64) -> Sample {
        let shops = status
            .shops
            .iter()
            .map(|shop| {
                let sample = shop
                    .report
                    .as_ref()
                    .map_or(ShopSample::default(), |r| ShopSample {
                        in_use: r.in_use(),
                        capacity: r.capacity,
                        high_water: r.high_water,
                    });
                (shop.id.clone(), sample)
            })
            .collect();
        Sample {
            at_ms,
            queue_len: status.queue.waiting,
            shops,
            opens_in_ms: status.queue.opens_in_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use usher_wire::status::{QueueStatus, Report, ShopView};

    use super::*;

    fn shop(id: &str, report: Option<Report>) -> ShopView {
        ShopView {
            id: id.to_owned(),
            url: "http://127.0.0.1:1".to_owned(),
            live: report.is_some(),
            rtt_us: 0,
            report,
            handed_out_since_report: 0,
            lease_places_left: 0,
        }
    }

    #[test]
    fn a_status_body_becomes_a_sample() {
        let status = ReceptionStatus {
            issuer: "0000000000000001".to_owned(),
            queue: QueueStatus {
                epoch: 1,
                issued: 12,
                head: 0,
                open_from: 0,
                waiting: 12,
                rate_per_s: None,
                no_show_share: 0.0,
                heap_bytes: 0,
                in_flight: 0,
                front: 0,
                held: 0,
                expected_claims: 0.0,
                opens_in_ms: None,
            },
            refused_connections: 0,
            shops: vec![
                shop(
                    "shop-a",
                    Some(Report {
                        sessions: 3,
                        reserved: 1,
                        leased: 2,
                        capacity: 10,
                        high_water: 9,
                        ..Report::default()
                    }),
                ),
                shop("shop-b", None),
            ],
        };
        let s = Sample::from_status(&status, 5);
        assert_eq!(s.at_ms, 5);
        assert_eq!(s.queue_len, 12);
        assert_eq!(
            s.shops["shop-a"],
            ShopSample {
                in_use: 6,
                capacity: 10,
                high_water: 9
            }
        );
        assert_eq!(s.shops["shop-b"].capacity, 0);
    }
}
