//! The HTTP surface: item pages and buying (behind a gate session), receipts and downloads (open,
//! guarded by the receipt's secret).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;

use usher_gate::{BackLinks, ORDER_COMPLETE_HEADER, SessionInfo};
use usher_ticket::ItemId;

use crate::accept::Preference;
use crate::api::{Purchase, Receipt};
use crate::catalogue::Item;
use crate::error::{Failure, Refusal};
use crate::order::Order;
use crate::shop::Shop;
use crate::{download, pages};

/// The longest path the shop reads, in bytes; item ids are at most 64, order ids 32.
pub const MAX_PATH_BYTES: usize = 256;
/// The longest query string the shop reads, in bytes; the only parameter is a 32-digit secret.
pub const MAX_QUERY_BYTES: usize = 256;

type Session = Option<Extension<SessionInfo>>;
type PathParam = Result<Path<String>, PathRejection>;

/// The shop's routes, ready to sit behind the gate's layer.
///
/// - `GET /healthz`
/// - `GET /items/{item}` and `POST /items/{item}/buy`: need the gate's [`SessionInfo`] for the item.
/// - `GET /receipts/{order}?secret=…` and `GET /receipts/{order}/download?secret=…`: no session.
/// - `GET /static/items/{item}`: the item's picture, no session (`/static/` is open at the gate).
pub fn router(shop: Shop) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/items/{item}", get(item_page))
        .route("/items/{item}/buy", post(buy))
        .route("/receipts/{order}", get(receipt))
        .route("/receipts/{order}/download", get(download))
        .route("/static/items/{item}", get(picture))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(bound_uri))
        .layer(middleware::from_fn(crate::error::with_a_way_back))
        .layer(middleware::map_response(with_policy))
        .with_state(shop)
}

/// The policy on every answer: no script, no style but the one stylesheet every page shares,
/// forms posting only here, and no other site may frame it (a buy button under someone else's
/// page).
const POLICY: &str = usher_wire::html::PAGE_CSP;

async fn with_policy(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(http::header::CONTENT_SECURITY_POLICY)
        .or_insert(http::HeaderValue::from_static(POLICY));
    response
}

async fn healthz() -> &'static str {
    "ok"
}

async fn item_page(
    State(shop): State<Shop>,
    preference: Preference,
    session: Session,
    back: Option<Extension<Arc<BackLinks>>>,
    path: PathParam,
) -> Result<Response, Refusal> {
    let refuse = |failure: Failure| failure.refuse(preference);
    let (item, session) = admit(&shop, session, path).map_err(refuse)?;
    let store = shop.store();
    let order = store
        .order_for_ticket(&session.ticket.to_string())
        .await
        .map_err(|error| refuse(error.into()))?;
    let left = store
        .stock_of(&item.id)
        .await
        .map_err(|error| refuse(error.into()))?
        .unwrap_or(0);
    let currency = shop.catalogue().currency();
    let back = back.map(|Extension(links)| links.retry_url(None));
    let page = pages::Shown {
        order: order.as_ref(),
        completed: session.completed,
        back: back.as_deref(),
    };
    let page = pages::item(item, currency, left, &page);
    Ok(private(Html(page).into_response()))
}

async fn buy(
    State(shop): State<Shop>,
    preference: Preference,
    session: Session,
    path: PathParam,
) -> Result<Response, Refusal> {
    let refuse = |failure: Failure| failure.refuse(preference);
    let (item, session) = admit(&shop, session, path).map_err(refuse)?;
    let bought = shop
        .store()
        .buy(&session.ticket.to_string(), &item.id)
        .await
        .map_err(|error| refuse(error.into()))?;
    let order = &bought.order;
    let status = if bought.created {
        tracing::info!(order = %order.id, item = %item.id, "order made");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = if preference.wants_json() {
        (status, Json(Purchase::new(order, Some(item)))).into_response()
    } else {
        let currency = shop.catalogue().currency();
        let page = pages::confirmation(&item.name, currency, order, bought.created);
        (status, Html(page)).into_response()
    };
    response
        .headers_mut()
        .insert(ORDER_COMPLETE_HEADER, HeaderValue::from_static("1"));
    Ok(private(response))
}

async fn receipt(
    State(shop): State<Shop>,
    preference: Preference,
    back: Option<Extension<Arc<BackLinks>>>,
    path: PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, Refusal> {
    let order = find_receipt(&shop, path, query.as_deref())
        .await
        .map_err(|failure| failure.refuse(preference))?;
    let item = shop.catalogue().get(&order.item);
    let response = if preference.wants_json() {
        Json(Receipt::new(&order, item, shop.catalogue().currency())).into_response()
    } else {
        let name = item.map_or(order.item.as_str(), |item| item.name.as_str());
        let downloadable = item.is_some_and(|item| item.kind.file_name().is_some());
        let currency = shop.catalogue().currency();
        let back = back.map(|Extension(links)| links.retry_url(None));
        Html(pages::receipt(
            name,
            currency,
            &order,
            downloadable,
            back.as_deref(),
        ))
        .into_response()
    };
    Ok(private(response))
}

async fn download(
    State(shop): State<Shop>,
    preference: Preference,
    path: PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, Refusal> {
    let refuse = |failure: Failure| failure.refuse(preference);
    let order = find_receipt(&shop, path, query.as_deref())
        .await
        .map_err(refuse)?;
    let file_name = shop
        .catalogue()
        .get(&order.item)
        .and_then(|item| item.kind.file_name())
        .ok_or_else(|| refuse(Failure::NotFound))?;
    // The catalogue allows only [A-Za-z0-9._-] in file names, so quoting is enough.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|_| refuse(Failure::Internal))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(media_type(file_name)),
    );
    headers.insert(CONTENT_DISPOSITION, disposition);
    let response = (headers, download::body(&order.item)).into_response();
    Ok(private(response))
}

/// An item's picture, from memory. The same for everyone, so the shop lets caches keep it (a
/// gate in front still marks it `no-store`, as it does every answer); an SVG opened on its own
/// runs nothing (the policy every answer carries allows no script).
async fn picture(
    State(shop): State<Shop>,
    preference: Preference,
    path: PathParam,
) -> Result<Response, Refusal> {
    let refuse = || Failure::NotFound.refuse(preference);
    let Ok(Path(raw)) = path else {
        return Err(refuse());
    };
    let image = ItemId::new(&raw)
        .ok()
        .and_then(|id| shop.catalogue().get(&id))
        .and_then(|item| item.image.as_ref())
        .ok_or_else(refuse)?;
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(image.content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok((headers, image.bytes.clone()).into_response())
}

/// A download's type. The reference shop's downloads are text it makes (`download.rs`), so a
/// `.txt` name is `text/plain`; any other name gets bytes to save, not a type the text would
/// break.
fn media_type(file_name: &str) -> &'static str {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn not_found(preference: Preference) -> Refusal {
    Failure::NotFound.refuse(preference)
}

async fn method_not_allowed(preference: Preference) -> Refusal {
    Failure::MethodNotAllowed.refuse(preference)
}

/// Refuses addresses longer than anything the shop serves before a handler reads them.
async fn bound_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let too_long = uri.path().len() > MAX_PATH_BYTES
        || uri
            .query()
            .is_some_and(|query| query.len() > MAX_QUERY_BYTES);
    if too_long {
        let preference = Preference::from_headers(request.headers());
        return Failure::TooLong.refuse(preference).into_response();
    }
    next.run(request).await
}

/// Checks the path's item id, then that the gate attached a session for that very item, then that
/// the item is on sale. Nothing here touches the database.
fn admit(shop: &Shop, session: Session, path: PathParam) -> Result<(&Item, SessionInfo), Failure> {
    let Path(raw) = path.map_err(|_| Failure::UnknownItem)?;
    let id = ItemId::new(&raw).map_err(|_| Failure::UnknownItem)?;
    let Some(Extension(session)) = session else {
        return Err(Failure::NoSession);
    };
    if session.item != id {
        return Err(Failure::WrongScope);
    }
    let item = shop.catalogue().get(&id).ok_or(Failure::UnknownItem)?;
    Ok((item, session))
}

/// The order behind a receipt link; a missing order and a wrong secret are the same `NotFound`.
async fn find_receipt(shop: &Shop, path: PathParam, query: Option<&str>) -> Result<Order, Failure> {
    let Path(order_id) = path.map_err(|_| Failure::NotFound)?;
    let secret = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("secret="))
        .ok_or(Failure::NotFound)?;
    shop.store()
        .receipt(&order_id, secret)
        .await?
        .ok_or(Failure::NotFound)
}

/// Marks a response as personal: never cached, and its URLs (which may hold a receipt secret)
/// never sent on as a referrer.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
