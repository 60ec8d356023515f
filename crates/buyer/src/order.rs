//! Ordering: ask the reception, wait as told, ask again, until admitted (Sc31, Sc55, Sc56).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde::Serialize;
use url::Url;
use usher_wire::Admission;

use crate::client::{
    JSON_ACCEPT, JSON_LIMIT, PAGE_ACCEPT, PAGE_LIMIT, location, parse_http_url, read_capped,
    refusal, refusal_from, retry_after,
};
use crate::{Buyer, BuyerError, Step};

/// Wait used when a `503` names no time.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// Longest single wait: a longer one is cut into check-ins so the buyer keeps its place fresh.
pub const MAX_CHECK_IN: Duration = Duration::from_secs(30);

/// The reception let the buyer in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The ticket URL, `{shop}/t/{ticket}/items/{item}`. It is a secret: do not log it.
    pub url: Url,
    /// The chosen shop's id (the API names it; the browser path does not).
    pub server: Option<String>,
    /// How many times the reception was asked, this last time included.
    pub attempts: u32,
    /// Time spent waiting between asks.
    pub waited: Duration,
    /// The first wait the reception estimated, when it put the buyer in line (API path).
    pub first_estimate: Option<Duration>,
    /// That estimate's range, about its p10 and p90.
    pub first_range: Option<(Duration, Duration)>,
    /// When that estimate arrived, counted from the first ask: the wait it predicts starts
    /// there.
    pub first_estimate_after: Duration,
    /// The place in line the reception gave it (1 = first to join the sale), if it waited.
    pub place: Option<u64>,
    /// How long each ask of the reception took, in order.
    pub asks: Vec<Duration>,
}

/// Counters kept across the asks of one order, so a failure still reports them.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) attempts: u32,
    pub(crate) waited: Duration,
    pub(crate) first_estimate: Option<Duration>,
    pub(crate) first_range: Option<(Duration, Duration)>,
    pub(crate) first_estimate_after: Duration,
    pub(crate) place: Option<u64>,
    pub(crate) asks: Vec<Duration>,
}

/// One ask's answer, reduced to what the loop acts on.
enum Answer {
    Admitted {
        url: Url,
        server: Option<String>,
    },
    Wait {
        after: Duration,
        queue_token: Option<String>,
        estimate: Option<Duration>,
        range: Option<(Duration, Duration)>,
        place: Option<u64>,
    },
    SoldOut,
}

#[derive(Serialize)]
struct AdmissionRequest<'a> {
    item: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_token: Option<&'a str>,
}

impl Buyer {
    /// Orders `item`, waiting in the queue for as long as the reception says (each wait capped at
    /// [`MAX_CHECK_IN`]) and asking again by itself, with the latest queue token, until admitted.
    ///
    /// The reception is always asked at least once. Fails with [`BuyerError::SoldOut`] on `410`,
    /// with [`BuyerError::GaveUp`] when the next wait would pass `max_wait` or `max_attempts` asks
    /// were made, and with [`BuyerError::Refused`] when the reception refuses with an error body.
    pub async fn order(&self, item: &str) -> Result<Admitted, BuyerError> {
        self.order_tracked(item, &mut Progress::default()).await
    }

    pub(crate) async fn order_tracked(
        &self,
        item: &str,
        progress: &mut Progress,
    ) -> Result<Admitted, BuyerError> {
        let mut queue_token = None;
        let started = Instant::now();
        loop {
            progress.attempts += 1;
            let asked = Instant::now();
            let answer = if self.config.api {
                self.ask_api(item, queue_token.as_deref()).await?
            } else {
                self.ask_browser(item).await?
            };
            progress.asks.push(asked.elapsed());
            match answer {
                Answer::Admitted { url, server } => {
                    tracing::debug!(item, attempts = progress.attempts, ?server, "admitted");
                    return Ok(Admitted {
                        url,
                        server,
                        attempts: progress.attempts,
                        waited: progress.waited,
                        first_estimate: progress.first_estimate,
                        first_range: progress.first_range,
                        first_estimate_after: progress.first_estimate_after,
                        place: progress.place,
                        asks: std::mem::take(&mut progress.asks),
                    });
                }
                Answer::SoldOut => return Err(BuyerError::SoldOut),
                Answer::Wait {
                    after,
                    queue_token: token,
                    estimate,
                    range,
                    place,
                } => {
                    progress.place = progress.place.or(place);
                    if token.is_some() {
                        queue_token = token;
                    }
                    if progress.first_estimate.is_none() && estimate.is_some() {
                        progress.first_estimate = estimate;
                        progress.first_range = range;
                        progress.first_estimate_after = started.elapsed();
                    }
                    let pause = after.min(MAX_CHECK_IN);
                    if progress.attempts >= self.config.max_attempts
                        || progress.waited + pause > self.config.max_wait
                    {
                        return Err(BuyerError::GaveUp {
                            attempts: progress.attempts,
                            waited: progress.waited,
                        });
                    }
                    tracing::debug!(
                        item,
                        attempts = progress.attempts,
                        wait_ms = pause.as_millis() as u64,
                        "waiting"
                    );
                    let slept = Instant::now();
                    tokio::time::sleep(pause).await;
                    progress.waited += slept.elapsed();
                }
            }
        }
    }

    /// `GET /order/{item}` as a browser would: a `303` is the ticket, a `503` says how long to wait
    /// in `Retry-After`. A queue cookie, if the reception sets one, rides in the jar.
    async fn ask_browser(&self, item: &str) -> Result<Answer, BuyerError> {
        let url = self.reception_url(&["order", item])?;
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, PAGE_ACCEPT)
            .send()
            .await?;
        match response.status() {
            StatusCode::SEE_OTHER => Ok(Answer::Admitted {
                url: location(&response, &url)?,
                server: None,
            }),
            StatusCode::SERVICE_UNAVAILABLE => {
                let after = retry_after(response.headers()).unwrap_or(DEFAULT_RETRY);
                // Read the waiting page so the connection can be reused; its content is not needed.
                read_capped(&mut response, PAGE_LIMIT).await?;
                Ok(Answer::Wait {
                    after,
                    queue_token: None,
                    estimate: None,
                    range: None,
                    place: None,
                })
            }
            StatusCode::GONE => Ok(Answer::SoldOut),
            _ => Err(refusal(Step::Order, response).await),
        }
    }

    /// `POST /api/v1/admissions`, sending back the queue token of the last wait.
    async fn ask_api(&self, item: &str, queue_token: Option<&str>) -> Result<Answer, BuyerError> {
        let url = self.reception_url(&["api", "v1", "admissions"])?;
        let mut response = self
            .client
            .post(url)
            .header(ACCEPT, JSON_ACCEPT)
            .json(&AdmissionRequest { item, queue_token })
            .send()
            .await?;
        let status = response.status();
        let header_wait = retry_after(response.headers());
        let body = read_capped(&mut response, JSON_LIMIT).await?;
        let admission = serde_json::from_slice::<Admission>(&body);
        match (status, admission) {
            (StatusCode::OK, Ok(Admission::Admitted { url, server, .. })) => Ok(Answer::Admitted {
                url: parse_http_url(&url)?,
                server: Some(server),
            }),
            (StatusCode::OK, Ok(other)) => Err(BuyerError::BadResponse(format!(
                "200 with a {} admission",
                other.status()
            ))),
            (StatusCode::OK, Err(e)) => {
                Err(BuyerError::BadResponse(format!("admission body: {e}")))
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Ok(Admission::Waiting {
                    queue_token,
                    retry_after_ms,
                    estimated_wait_ms,
                    estimate_low_ms,
                    estimate_high_ms,
                    place,
                    ..
                }),
            ) => Ok(Answer::Wait {
                after: Duration::from_millis(retry_after_ms),
                queue_token,
                estimate: Some(Duration::from_millis(estimated_wait_ms)),
                range: Some((
                    Duration::from_millis(estimate_low_ms),
                    Duration::from_millis(estimate_high_ms),
                )),
                place,
            }),
            // Unavailable, or a 503 from something in front of the reception: try again later.
            (StatusCode::SERVICE_UNAVAILABLE, Ok(Admission::Unavailable(_)) | Err(_)) => {
                Ok(Answer::Wait {
                    after: header_wait.unwrap_or(DEFAULT_RETRY),
                    queue_token: None,
                    estimate: None,
                    range: None,
                    place: None,
                })
            }
            (StatusCode::SERVICE_UNAVAILABLE, Ok(other)) => Err(BuyerError::BadResponse(format!(
                "503 with a {} admission",
                other.status()
            ))),
            (StatusCode::GONE, _) => Ok(Answer::SoldOut),
            (status, _) => Err(refusal_from(Step::Order, status, &body)),
        }
    }
}
