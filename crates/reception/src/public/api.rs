//! `POST /api/v1/admissions`: an API client's order (Sc31), answered in JSON; and
//! `GET /api/v1/opening`: the sale's scheduled opening and its draw.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use usher_wire::Code;

use super::answer::{admission, answer_json, error, no_store, refusal, unknown_item};
use super::client::client;
use crate::outcome::Outcome;
use crate::reception::Reception;

/// The body of `POST /api/v1/admissions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdmissionRequest {
    item: String,
    #[serde(default)]
    queue_token: Option<String>,
}

/// `POST /api/v1/admissions`.
pub(super) async fn admissions(
    State(reception): State<Arc<Reception>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::Json<AdmissionRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(axum::Json(r)) => r,
        Err(rejection) => {
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Code::PayloadTooLarge
            } else {
                Code::BadRequest
            };
            return error(
                code,
                StatusCode::from_u16(code.default_status()).unwrap_or(StatusCode::BAD_REQUEST),
                None,
            );
        }
    };
    let client = client(&reception, peer, &headers);
    let outcome = reception
        .order(&request.item, client, request.queue_token.as_deref())
        .await;
    let public_url = &reception.config().public_url;
    match outcome {
        Outcome::Refused(code) => refusal(public_url, code),
        outcome => match admission(outcome) {
            Some(answer) => no_store(answer_json(answer)),
            None => unknown_item(public_url),
        },
    }
}

/// `GET /api/v1/opening`: the scheduled opening, the seed's hash before the draw and the seed
/// after it, so anyone can recompute the pre-queue's order. `404 not_found` for a sale without
/// a scheduled opening.
pub(super) async fn opening(State(reception): State<Arc<Reception>>) -> Response {
    match reception.opening() {
        Some(opening) => no_store(axum::Json(opening).into_response()),
        None => error(Code::NotFound, StatusCode::NOT_FOUND, None),
    }
}
