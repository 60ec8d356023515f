//! `POST /api/v1/admissions`: an API client's order (Sc31), answered in JSON without the router
//! (what apps poll while they wait, so it costs about what the browser's `GET` does); and
//! `GET /api/v1/opening`: the sale's scheduled opening and its draw.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use usher_wire::{Code, ErrorBody};

use super::answer::{admission, answer_json, error, error_body, no_store, refusal, unknown_item};
use super::client::client;
use crate::outcome::Outcome;
use crate::reception::Reception;

/// Largest request body (an admission request is a few hundred bytes).
pub const MAX_BODY: usize = 4 * 1024;

/// The body of `POST /api/v1/admissions`. Fields it does not know are ignored, so a client
/// may send a field a later version reads.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(expecting = "an object with `item` and, to keep a place, `queue_token`")]
pub(super) struct AdmissionRequest<'a> {
    /// The item to order.
    #[serde(borrow)]
    #[schema(value_type = String)]
    item: Cow<'a, str>,
    /// The `queue_token` of the last waiting answer: the place kept.
    #[serde(default, borrow, deserialize_with = "borrowed")]
    #[schema(value_type = Option<String>)]
    queue_token: Option<Cow<'a, str>>,
}

/// An optional string borrowed from the body where it can be (no escapes in it: every sealed
/// token), as serde's own `Cow<str>` field is but its `Option<Cow<str>>` is not: a poll then
/// copies nothing.
fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(text)))
        }

        fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(text.to_owned())))
        }

        fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(text)))
        }
    }
    d.deserialize_option(Text)
}

/// `POST /api/v1/admissions` from `client` ([`admission_client`]): a JSON
/// body of at most [`MAX_BODY`] bytes. The future keeps only the body (it is boxed per poll).
pub(super) async fn admissions<B>(reception: Arc<Reception>, client: IpAddr, body: B) -> Response
where
    B: axum::body::HttpBody<Data = Bytes> + Send,
    B::Error: Into<axum::BoxError>,
{
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(code) => return bad_request(code, None),
    };
    let request = match serde_json::from_slice::<AdmissionRequest<'_>>(&bytes) {
        Ok(request) => request,
        Err(e) => return bad_request(Code::BadRequest, Some(&e)),
    };
    let (item, token) = (&*request.item, request.queue_token.as_deref());
    let outcome = match reception.order_now(item, client, token) {
        Ok(outcome) => outcome,
        // Boxed: what waits for a shop or the disk is rare, and its state would otherwise
        // make every poll's future (boxed per request) several times larger.
        Err(pending) => Box::pin(reception.order_later(pending)).await,
    };
    let public_url = &reception.config().public_url;
    match outcome {
        Outcome::Refused(code) => refusal(public_url, code),
        outcome => match admission(outcome, public_url) {
            Some(answer) => answer_json(answer),
            None => unknown_item(public_url),
        },
    }
}

/// The body, at most [`MAX_BODY`] bytes (`payload_too_large` past it, said before reading when
/// its length is declared; `bad_request` if it breaks off). What a poll sends comes in one
/// chunk, which is used as it is: no list of chunks, no copy.
async fn read_body<B>(body: B) -> Result<Bytes, Code>
where
    B: axum::body::HttpBody<Data = Bytes>,
{
    // A declared length (`Content-Length`) is the hint's lower bound.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(Code::PayloadTooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut more: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Code::BadRequest)?.into_data() else {
            // Trailers: nothing an admission reads.
            continue;
        };
        let length = first.len() + more.as_ref().map_or(0, bytes::BytesMut::len) + data.len();
        if length > MAX_BODY {
            return Err(Code::PayloadTooLarge);
        }
        match &mut more {
            None if first.is_empty() => first = data,
            None => {
                let mut joined = bytes::BytesMut::with_capacity(length);
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
            Some(joined) => joined.extend_from_slice(&data),
        }
    }
    Ok(more.map_or(first, bytes::BytesMut::freeze))
}

/// What `POST /api/v1/admissions` needs of the request's headers, read before its body: the
/// client's address; `None` for a body that is not JSON ([`not_json`]).
pub(super) fn admission_client(
    reception: &Reception,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    is_json(headers).then(|| client(reception, peer, headers))
}

/// `415 unsupported_media_type`: an admission request must be JSON.
pub(super) fn not_json() -> Response {
    bad_request(Code::UnsupportedMediaType, None)
}

/// `application/json`, or any `+json` type, as axum's `Json` takes.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    // What nearly every client sends, checked before any parsing.
    if value.as_bytes() == b"application/json" {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// A refusal of the request itself; for a body that is not an admission request, the message
/// says what is wrong and where (serde's words: "missing field `item` at line 1 column 2").
fn bad_request(code: Code, why: Option<&serde_json::Error>) -> Response {
    let status = StatusCode::from_u16(code.default_status()).unwrap_or(StatusCode::BAD_REQUEST);
    match why {
        Some(e) => error_body(
            status,
            ErrorBody {
                message: format!("The request is not valid: {e}."),
                ..ErrorBody::new(code)
            },
        ),
        None => error(code, status, None),
    }
}

/// Any other method on `/api/v1/admissions`: `405` in the refusal shape, with `Allow`.
pub(super) async fn admissions_method_not_allowed() -> Response {
    let mut response = error(Code::MethodNotAllowed, StatusCode::METHOD_NOT_ALLOWED, None);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `GET /api/v1/opening`: the scheduled opening, the seed's hash before the draw and the seed
/// after it, so anyone can recompute the pre-queue's order. `404 not_found` for a sale without
/// a scheduled opening.
pub(super) async fn opening(
    axum::extract::State(reception): axum::extract::State<Arc<Reception>>,
) -> Response {
    match reception.opening() {
        Some(opening) => no_store(axum::Json(opening).into_response()),
        None => error(Code::NotFound, StatusCode::NOT_FOUND, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body in several chunks is read whole; one past the limit, declared or not, is refused.
    #[tokio::test]
    async fn a_body_is_read_whole_and_never_past_its_limit() {
        let chunks = |parts: Vec<&'static str>| {
            let parts = parts.into_iter().map(Ok::<_, std::convert::Infallible>);
            axum::body::Body::from_stream(futures_util::stream::iter(parts))
        };
        let one = read_body(chunks(vec![r#"{"item":"a"}"#])).await.unwrap();
        assert_eq!(one, r#"{"item":"a"}"#);
        let three = read_body(chunks(vec!["{\"it", "em\":", "\"a\"}"]))
            .await
            .unwrap();
        assert_eq!(three, r#"{"item":"a"}"#);
        assert_eq!(read_body(chunks(vec![])).await.unwrap(), "");
        let big: &'static str = "x".repeat(MAX_BODY / 2 + 1).leak();
        let undeclared = read_body(chunks(vec![big, big])).await;
        assert_eq!(undeclared, Err(Code::PayloadTooLarge));
        let declared = http_body_util::Full::new(Bytes::from("x".repeat(MAX_BODY + 1)));
        assert_eq!(read_body(declared).await, Err(Code::PayloadTooLarge));
        let at_limit = http_body_util::Full::new(Bytes::from("x".repeat(MAX_BODY)));
        assert_eq!(read_body(at_limit).await.unwrap().len(), MAX_BODY);
    }

    #[test]
    fn a_token_is_borrowed_from_the_body_where_it_can_be() {
        let read = |body: &'static str| serde_json::from_str::<AdmissionRequest<'_>>(body);
        let plain = read(r#"{"item":"a","queue_token":"abc-_1"}"#).unwrap();
        assert!(matches!(plain.queue_token, Some(Cow::Borrowed("abc-_1"))));
        let escaped = read(r#"{"item":"a","queue_token":"a\u0062c"}"#).unwrap();
        assert_eq!(escaped.queue_token.as_deref(), Some("abc"));
        assert!(
            read(r#"{"item":"a","queue_token":null}"#)
                .unwrap()
                .queue_token
                .is_none()
        );
        assert!(read(r#"{"item":"a"}"#).unwrap().queue_token.is_none());
        let wrong = read(r#"{"item":"a","queue_token":5}"#)
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("a string or null"), "{wrong}");
    }

    #[test]
    fn json_content_types_are_those_axum_takes() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/problem+json"));
        assert!(!with("text/json"));
        assert!(!with("application/jsonx"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
