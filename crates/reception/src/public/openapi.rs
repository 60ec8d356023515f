//! `GET /api/v1/openapi.json`: the public API described as OpenAPI 3.1, generated from the
//! wire types the answers are made of (`usher_wire`), so the description cannot drift from
//! them. `tests/api_answers.rs` checks real answers against it.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use http::header;
use usher_wire::{Admission, Code, ErrorBody, ItemState, Opening, Sale, SaleItem};
use utoipa::OpenApi;

use super::answer::no_store;
use super::api::AdmissionRequest;

/// The description, written once.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| Description::openapi().to_pretty_json().unwrap_or_default());

#[derive(OpenApi)]
#[openapi(
    info(
        title = "usher reception",
        description = "Orders, the waiting line and the sale's state. Unknown request fields are \
                       ignored; every answer that is not a success has `error`, `message` and, \
                       where it helps, `retry`."
    ),
    paths(admissions, sale, opening),
    components(schemas(
        AdmissionRequest,
        Admission,
        ErrorBody,
        Code,
        Sale,
        SaleItem,
        ItemState,
        Opening
    ))
)]
struct Description;

/// Order an item, or ask again with the place kept (Sc31).
#[utoipa::path(
    post,
    path = "/api/v1/admissions",
    request_body = AdmissionRequest,
    responses(
        (status = 200, description = "Admitted: go to `url` before `expires_at`.", body = Admission),
        (status = 503, description = "Waiting (every shop is full; ask again after `retry_after_ms` with the `queue_token`), or unavailable (no shop can be reached). `Retry-After` says the same in seconds.", body = Admission),
        (status = 410, description = "Sold out everywhere.", body = Admission),
        (status = 400, description = "`bad_request` (the message says what is wrong and where) or a refused `queue_token`.", body = ErrorBody),
        (status = 404, description = "`unknown_item`.", body = ErrorBody),
        (status = 405, description = "Not a `POST` (`Allow: POST`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over 4 KiB.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`.", body = ErrorBody),
        (status = 429, description = "`too_many`: this network joins or holds too much.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn admissions() {}

/// What is on sale, and what an order for each item would meet now.
#[utoipa::path(get, path = "/api/v1/sale", responses((status = 200, body = Sale)))]
#[allow(dead_code)]
fn sale() {}

/// The scheduled opening and its draw: the seed's hash before it, the seed after.
#[utoipa::path(
    get,
    path = "/api/v1/opening",
    responses(
        (status = 200, body = Opening),
        (status = 404, description = "The sale has no scheduled opening.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn opening() {}

/// `GET /api/v1/openapi.json`.
pub(super) async fn document() -> Response {
    no_store(
        (
            [(header::CONTENT_TYPE, "application/json")],
            DOCUMENT.as_str(),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_every_public_api_path_and_its_answers() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in ["/api/v1/admissions", "/api/v1/sale", "/api/v1/opening"] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        let answers = &doc["paths"]["/api/v1/admissions"]["post"]["responses"];
        for status in [
            "200", "400", "404", "405", "410", "413", "415", "429", "503",
        ] {
            assert!(answers[status].is_object(), "{status}");
        }
    }
}
