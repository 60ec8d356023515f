//! The one error body.

use serde::{Deserialize, Serialize};

use crate::Code;

/// The body of every refusal, at every part:
/// `{"error":"<code>","message":"<human text>","retry":"<reception URL>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The machine-readable reason.
    pub error: Code,
    /// The same reason for a person.
    pub message: String,
    /// Where to start again (the reception's order URL), where that helps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
}

impl ErrorBody {
    /// A body with the code's default message and no retry link.
    pub fn new(error: Code) -> Self {
        Self {
            error,
            message: error.message().to_owned(),
            retry: None,
        }
    }

    /// Adds the link back to the reception.
    #[must_use]
    pub fn with_retry(mut self, url: impl Into<String>) -> Self {
        self.retry = Some(url.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_spec_shape() {
        let body = ErrorBody::new(Code::Expired).with_retry("https://r.example/order/x");
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["error"], "expired");
        assert_eq!(value["message"], Code::Expired.message());
        assert_eq!(value["retry"], "https://r.example/order/x");
    }

    #[test]
    fn retry_is_left_out_when_absent() {
        let json = serde_json::to_string(&ErrorBody::new(Code::Used)).unwrap();
        assert!(!json.contains("retry"), "{json}");
    }
}
