//! The steps of a purchase, named once for errors and reports.

use serde::{Deserialize, Serialize};

/// One step of the buyer's journey, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Ask the reception for the item, waiting in the queue as told (Sc31, Sc55, Sc56).
    Order,
    /// Open the ticket URL at the shop and land on the clean item page with a session.
    Claim,
    /// Place the order.
    Buy,
    /// Fetch the order's receipt.
    Receipt,
    /// Fetch what was bought.
    Download,
}

impl Step {
    /// The name used in reports and messages, the same string serde writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Order => "order",
            Step::Claim => "claim",
            Step::Buy => "buy",
            Step::Receipt => "receipt",
            Step::Download => "download",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
