//! `Upgrade` passed through (a WebSocket to the shop, say): once the upstream answers `101`,
//! the client's connection and the upstream's are joined byte for byte until either ends.

use http::HeaderMap;
use http::header;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::pool::Turn;

/// Whether the request asks to switch to a WebSocket (`Connection: upgrade` and `Upgrade:
/// websocket`), the one upgrade the gate passes.
pub(crate) fn websocket(headers: &HeaderMap) -> bool {
    requested(headers)
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Whether the request asks to switch protocols (`Connection: upgrade` and an `Upgrade`).
fn requested(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// Joins the client's upgraded connection to the upstream's once both are ready. The gate's
/// hold on the client's connection (its place among the connections) lives in the client's
/// socket, and its `turn` among the requests to the shop here, so both last as long as this
/// does.
pub(crate) fn splice(client: OnUpgrade, upstream: OnUpgrade, turn: Option<Turn>) {
    tokio::spawn(async move {
        let _turn = turn;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
    });
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn an_upgrade_needs_both_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!requested(&h));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(requested(&h));
        h.remove(header::UPGRADE);
        assert!(!requested(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(requested(&h) && !websocket(&h), "only a WebSocket passes");
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(websocket(&h));
    }
}
