//! Every way a shop request can fail, and the one place failures become responses.

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use usher_gate::BackLinks;
use usher_wire::{Code, ErrorBody};

use crate::accept::Preference;
use crate::pages;
use crate::store::{BuyError, StoreError};

/// Why the shop refused or failed a request.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The path needs a session and the gate attached none.
    NoSession,
    /// The session is for another item.
    WrongScope,
    /// No such item is on sale (or the id is malformed).
    UnknownItem,
    /// The item's stock is zero.
    SoldOut,
    /// No such receipt, page or download. Deliberately says no more: a wrong secret and a missing
    /// order look the same.
    NotFound,
    /// The path or query is longer than the shop reads.
    TooLong,
    /// The request is otherwise not valid.
    BadRequest,
    /// The address does not answer this method (axum adds `Allow`).
    MethodNotAllowed,
    /// The shop itself failed; logged, and the client learns nothing more.
    Internal,
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NoSession | Failure::WrongScope => StatusCode::FORBIDDEN,
            Failure::UnknownItem | Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::SoldOut => StatusCode::GONE,
            Failure::TooLong => StatusCode::URI_TOO_LONG,
            Failure::BadRequest => StatusCode::BAD_REQUEST,
            Failure::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The wire body.
    fn body(&self) -> Option<ErrorBody> {
        let body = match self {
            Failure::NoSession => ErrorBody::new(Code::NoSession),
            Failure::WrongScope => ErrorBody::new(Code::WrongScope),
            Failure::UnknownItem => ErrorBody::new(Code::UnknownItem),
            Failure::SoldOut => ErrorBody::new(Code::SoldOut),
            Failure::NotFound => ErrorBody {
                message: "Nothing here: the link is wrong or incomplete.".to_owned(),
                ..ErrorBody::new(Code::NotFound)
            },
            Failure::TooLong => ErrorBody {
                message: "The address is too long.".to_owned(),
                ..ErrorBody::new(Code::BadRequest)
            },
            Failure::BadRequest => ErrorBody::new(Code::BadRequest),
            Failure::MethodNotAllowed => ErrorBody::new(Code::MethodNotAllowed),
            Failure::Internal => return None,
        };
        Some(body)
    }

    /// The response for a client with this preference.
    pub(crate) fn refuse(self, preference: Preference) -> Refusal {
        Refusal {
            failure: self,
            html: preference.wants_html(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        tracing::error!(%error, "shop store failed");
        Failure::Internal
    }
}

impl From<BuyError> for Failure {
    fn from(error: BuyError) -> Failure {
        match error {
            BuyError::UnknownItem => Failure::UnknownItem,
            BuyError::SoldOut => Failure::SoldOut,
            BuyError::InvalidTicket => Failure::BadRequest,
            BuyError::Store(error) => error.into(),
        }
    }
}

/// A failure rendered for its client: the usher error body as JSON, or a small HTML page saying
/// the same to browsers. Handlers return `Result<_, Refusal>` and stay straight-line.
#[derive(Debug)]
pub(crate) struct Refusal {
    failure: Failure,
    html: bool,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.failure.status();
        let mut response = match (self.failure.body(), self.html) {
            (Some(body), false) => (status, Json(body)).into_response(),
            (Some(body), true) => {
                let page = pages::error(status, body.error, &body.message);
                let mut response = (status, Html(page)).into_response();
                // Behind a gate, [`with_a_way_back`] writes it again with a link to the sale.
                response.extensions_mut().insert(RefusalPage {
                    code: body.error,
                    message: body.message,
                });
                response
            }
            (None, false) => (status, "internal error\n").into_response(),
            (None, true) => {
                let page = pages::failure(status, "Something went wrong on our side.");
                (status, Html(page)).into_response()
            }
        };
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// What a refusal page says, kept on its response for [`with_a_way_back`].
#[derive(Debug, Clone)]
struct RefusalPage {
    code: Code,
    message: String,
}

/// Behind a gate, every refusal page a browser gets leads back to the sale: the one refusal
/// page of every part, with the reception's address the gate passes on with the request.
/// Without a gate (no address known) the page stays as the handler wrote it.
pub(crate) async fn with_a_way_back(request: Request, next: Next) -> Response {
    let back = request
        .extensions()
        .get::<Arc<BackLinks>>()
        .map(|links| links.retry_url(None));
    let mut response = next.run(request).await;
    if let (Some(page), Some(back)) = (response.extensions_mut().remove::<RefusalPage>(), back) {
        let html = usher_wire::html::refusal_page(&page.message, page.code, &back);
        *response.body_mut() = axum::body::Body::from(html);
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
}
