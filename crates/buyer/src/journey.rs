//! A whole purchase, step by step, with what each step took: the unit of a crowd report.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::order::Progress;
use crate::{Buyer, BuyerError, ErrorKind, RefusalCode, Step};

/// What happened to one buyer going through order, claim, buy, receipt and download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// The item asked for.
    pub item: String,
    /// The steps attempted, in order; the last one failed if [`Journey::error`] is set.
    pub steps: Vec<StepRecord>,
    /// How many times the reception was asked.
    pub attempts: u32,
    /// Time spent waiting in the queue between asks.
    #[serde(rename = "waited_ms", with = "millis")]
    pub waited: Duration,
    /// Time for the whole journey.
    #[serde(rename = "total_ms", with = "millis")]
    pub total: Duration,
    /// The shop the reception chose, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The order made, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Bytes downloaded, when the item had a download and it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_bytes: Option<u64>,
    /// Why the journey stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// One step's outcome and duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Which step.
    pub step: Step,
    /// How long it took (for [`Step::Order`], waiting included).
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Where and why a journey failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The step that failed.
    pub step: Step,
    /// The class of error.
    pub kind: ErrorKind,
    /// The server's refusal code, for refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<RefusalCode>,
    /// The HTTP status behind the error, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error for a person (never a ticket URL).
    pub message: String,
}

impl Failure {
    fn new(step: Step, error: &BuyerError) -> Self {
        Self {
            step,
            kind: error.kind(),
            code: error.refusal_code().cloned(),
            status: error.status(),
            message: error.to_string(),
        }
    }
}

impl Journey {
    /// Every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// How long `step` took, if it was attempted.
    pub fn duration_of(&self, step: Step) -> Option<Duration> {
        self.steps
            .iter()
            .find(|r| r.step == step)
            .map(|r| r.duration)
    }
}

impl Buyer {
    /// Runs the whole purchase of `item` and reports it; never fails, a failure is in
    /// [`Journey::error`]. The download step is skipped for items without one.
    pub async fn journey(&self, item: &str) -> Journey {
        let started = Instant::now();
        let mut journey = Journey {
            item: item.to_owned(),
            steps: Vec::new(),
            attempts: 0,
            waited: Duration::ZERO,
            total: Duration::ZERO,
            server: None,
            order_id: None,
            downloaded_bytes: None,
            error: None,
        };
        if let Err((step, error)) = self.walk(item, &mut journey).await {
            tracing::debug!(item, %step, %error, "journey failed");
            journey.error = Some(Failure::new(step, &error));
        }
        journey.total = started.elapsed();
        journey
    }

    async fn walk(&self, item: &str, journey: &mut Journey) -> Result<(), (Step, BuyerError)> {
        let mut progress = Progress::default();
        let admitted = timed(
            &mut journey.steps,
            Step::Order,
            self.order_tracked(item, &mut progress),
        )
        .await;
        journey.attempts = progress.attempts;
        journey.waited = progress.waited;
        let admitted = admitted?;
        journey.server.clone_from(&admitted.server);

        let page = timed(&mut journey.steps, Step::Claim, self.claim(&admitted)).await?;
        let order = timed(&mut journey.steps, Step::Buy, self.buy(&page)).await?;
        journey.order_id = Some(order.order_id.clone());
        timed(&mut journey.steps, Step::Receipt, self.receipt(&order)).await?;
        if order.download_url.is_some() {
            let bytes = timed(&mut journey.steps, Step::Download, self.download(&order)).await?;
            journey.downloaded_bytes = Some(bytes);
        }
        Ok(())
    }
}

/// Runs one step, recording its duration and outcome.
async fn timed<T>(
    steps: &mut Vec<StepRecord>,
    step: Step,
    work: impl Future<Output = Result<T, BuyerError>>,
) -> Result<T, (Step, BuyerError)> {
    let started = Instant::now();
    let result = work.await;
    steps.push(StepRecord {
        step,
        duration: started.elapsed(),
        ok: result.is_ok(),
    });
    result.map_err(|error| (step, error))
}

/// Durations as fractional milliseconds, the unit reports are read in.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use usher_wire::Code;

    use super::*;

    #[test]
    fn a_failed_journey_serialises_for_reports_and_reads_back() {
        let journey = Journey {
            item: "poster".into(),
            steps: vec![
                StepRecord {
                    step: Step::Order,
                    duration: Duration::from_micros(12_500),
                    ok: true,
                },
                StepRecord {
                    step: Step::Claim,
                    duration: Duration::from_millis(3),
                    ok: false,
                },
            ],
            attempts: 3,
            waited: Duration::from_millis(10),
            total: Duration::from_millis(16),
            server: Some("shop-a".into()),
            order_id: None,
            downloaded_bytes: None,
            error: Some(Failure::new(
                Step::Claim,
                &BuyerError::Refused {
                    status: 403,
                    code: RefusalCode::Known(Code::Used),
                    message: "used".into(),
                },
            )),
        };
        let value = serde_json::to_value(&journey).unwrap();
        assert_eq!(value["steps"][0]["step"], "order");
        assert_eq!(value["steps"][0]["duration_ms"], 12.5);
        assert_eq!(value["waited_ms"], 10.0);
        assert_eq!(value["error"]["step"], "claim");
        assert_eq!(value["error"]["kind"], "refused");
        assert_eq!(value["error"]["code"], "used");
        assert_eq!(value["error"]["status"], 403);
        assert!(value.get("order_id").is_none());
        let back: Journey = serde_json::from_value(value).unwrap();
        assert_eq!(back, journey);
        assert!(!back.succeeded());
        assert_eq!(
            back.duration_of(Step::Claim),
            Some(Duration::from_millis(3))
        );
        assert_eq!(back.duration_of(Step::Buy), None);
    }

    #[test]
    fn negative_durations_are_refused() {
        let json = r#"{"step":"order","duration_ms":-1,"ok":true}"#;
        assert!(serde_json::from_str::<StepRecord>(json).is_err());
    }
}
