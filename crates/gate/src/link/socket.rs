//! The management WebSocket: dialling the reception, and the frames both ways (JSON
//! messages, and binary notices frames coming down).

use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use usher_wire::mgmt::{CONNECT_PATH, Down, MAX_MESSAGE_LEN, READ_BUFFER_LEN, Up};

use super::config::{LinkConfig, LinkError};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
/// The sending half of the management WebSocket.
pub(super) type Tx = futures_util::stream::SplitSink<Socket, Message>;
/// The receiving half of the management WebSocket.
pub(super) type Rx = futures_util::stream::SplitStream<Socket>;

/// Dials the reception's management address, with the wire's message-size limits.
pub(super) async fn connect(config: &LinkConfig) -> Result<(Tx, Rx), LinkError> {
    let url = format!("{}{CONNECT_PATH}", config.reception);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_LEN)
        .max_message_size(Some(MAX_MESSAGE_LEN))
        .max_frame_size(Some(MAX_MESSAGE_LEN));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config), true).await?;
    Ok(ws.split())
}

/// A message to the reception as a WebSocket text frame.
pub(super) fn encode(up: &Up) -> Result<Message, LinkError> {
    serde_json::to_string(up)
        .map(Message::text)
        .map_err(|e| LinkError::Protocol(e.to_string()))
}

/// One message from the reception: JSON, or a binary notices frame.
pub(super) enum Incoming {
    Down(Down),
    Notices(tokio_tungstenite::tungstenite::Bytes),
}

/// The next JSON message; a notices frame before the link is up is a protocol error.
pub(super) async fn next<S>(rx: &mut S) -> Result<Down, LinkError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match incoming(rx).await? {
        Incoming::Down(down) => Ok(down),
        Incoming::Notices(_) => Err(LinkError::Protocol("notices before welcome".into())),
    }
}

pub(super) async fn incoming<S>(rx: &mut S) -> Result<Incoming, LinkError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await {
            None => return Err(LinkError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .map(Incoming::Down)
                    .map_err(|e| LinkError::Protocol(e.to_string()));
            }
            Some(Ok(Message::Binary(bytes))) => return Ok(Incoming::Notices(bytes)),
            Some(Ok(Message::Close(_))) => return Err(LinkError::Closed),
            Some(Ok(_)) => {}
        }
    }
}
