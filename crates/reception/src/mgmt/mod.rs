//! The management listener (patent network 15): shops dial it and keep one WebSocket open
//! (`link.rs`: authentication, reports (Sa31), reservations and leases (Sa34), notices (Sa35),
//! round-trip times); operators read `/status` and `/healthz`.

mod link;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use usher_wire::mgmt::{CONNECT_PATH, MAX_MESSAGE_LEN, READ_BUFFER_LEN};

use crate::reception::Reception;

/// The management listener's routes.
pub fn router(reception: Arc<Reception>) -> Router {
    Router::new()
        .route(CONNECT_PATH, get(connect))
        .route("/status", get(status))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(reception)
}

/// `GET /status`: [`usher_wire::status::ReceptionStatus`].
async fn status(State(reception): State<Arc<Reception>>) -> Response {
    axum::Json(reception.status()).into_response()
}

async fn connect(State(reception): State<Arc<Reception>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_LEN)
        .max_frame_size(MAX_MESSAGE_LEN)
        .read_buffer_size(READ_BUFFER_LEN)
        .on_upgrade(move |socket| link::serve(reception, socket))
}
