//! The management WebSocket: dialling the reception, and the frames both ways. Before the
//! handshake ends the messages are plain JSON text frames; after it, every frame is a binary
//! frame sealed under the link's session keys ([`usher_ticket::channel`]): one JSON message, or
//! one notices frame coming down. A text frame after the handshake ends the link.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use usher_ticket::channel::{FrameKind, Opener, Sealer};
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
    let connector = config
        .tls
        .as_ref()
        .map(|tls| tokio_tungstenite::Connector::Rustls(std::sync::Arc::clone(tls)));
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(ws_config), true, connector)
            .await?;
    Ok(ws.split())
}

/// A message to the reception as a plain text frame (the hello, before any key is agreed).
pub(super) fn plain(up: &Up) -> Result<Message, LinkError> {
    serde_json::to_string(up)
        .map(Message::text)
        .map_err(|e| LinkError::Protocol(e.to_string()))
}

/// The sending half once the link is keyed: every message sealed.
pub(super) struct Sender {
    tx: Tx,
    sealer: Sealer,
}

impl Sender {
    pub(super) fn new(tx: Tx, sealer: Sealer) -> Sender {
        Sender { tx, sealer }
    }

    /// Seals and sends one message.
    pub(super) async fn send(&mut self, up: &Up) -> Result<(), LinkError> {
        let json = serde_json::to_vec(up).map_err(|e| LinkError::Protocol(e.to_string()))?;
        let frame = self.sealer.seal(FrameKind::Message, &json);
        self.tx.send(Message::binary(frame)).await?;
        Ok(())
    }

    /// Closes the socket politely.
    pub(super) async fn close(&mut self) {
        let _ = self.tx.send(Message::Close(None)).await;
    }
}

/// One message from the reception once the link is keyed: JSON, or a binary notices frame.
pub(super) enum Incoming {
    Down(Down),
    Notices(Bytes),
}

/// The receiving half once the link is keyed: every frame opened, in order.
pub(super) struct Receiver {
    rx: Rx,
    opener: Opener,
}

impl Receiver {
    pub(super) fn new(rx: Rx, opener: Opener) -> Receiver {
        Receiver { rx, opener }
    }

    /// The first message after the hello: a plain refusal, or the sealed welcome (any other
    /// sealed message is the caller's to refuse).
    pub(super) async fn first(&mut self) -> Result<Down, LinkError> {
        match frame(&mut self.rx).await? {
            Frame::Plain(Down::Refused { error, message }) => {
                Err(LinkError::refused(error, &message))
            }
            Frame::Plain(other) => Err(LinkError::Protocol(format!(
                "expected a sealed welcome, got {other:?}"
            ))),
            Frame::Sealed(bytes) => match self.opener.open(&mut Vec::from(bytes))? {
                (FrameKind::Message, json) => parse(json),
                (FrameKind::Notices, _) => {
                    Err(LinkError::Protocol("notices before welcome".into()))
                }
            },
        }
    }

    /// The next sealed frame; anything unsealed, altered, replayed or out of order ends the
    /// link.
    pub(super) async fn incoming(&mut self) -> Result<Incoming, LinkError> {
        let bytes = match frame(&mut self.rx).await? {
            Frame::Sealed(bytes) => bytes,
            Frame::Plain(_) => {
                return Err(LinkError::Protocol(
                    "an unsealed message on a keyed link".into(),
                ));
            }
        };
        // Opened in place: without another owner of the bytes, no copy.
        let mut frame = Vec::from(bytes);
        let base = frame.as_ptr() as usize;
        let (kind, payload) = self.opener.open(&mut frame)?;
        let (start, len) = (payload.as_ptr() as usize - base, payload.len());
        Ok(match kind {
            FrameKind::Message => Incoming::Down(parse(payload)?),
            FrameKind::Notices => Incoming::Notices(Bytes::from(frame).slice(start..start + len)),
        })
    }
}

/// A frame as it arrives: text (the handshake's plain messages) or binary (sealed).
pub(super) enum Frame {
    Plain(Down),
    Sealed(Bytes),
}

/// The next data frame; pings and pongs are the WebSocket library's business.
pub(super) async fn frame<S>(rx: &mut S) -> Result<Frame, LinkError>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await {
            None => return Err(LinkError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(text))) => return parse(text.as_bytes()).map(Frame::Plain),
            Some(Ok(Message::Binary(bytes))) => return Ok(Frame::Sealed(bytes)),
            Some(Ok(Message::Close(_))) => return Err(LinkError::Closed),
            Some(Ok(_)) => {}
        }
    }
}

fn parse(json: &[u8]) -> Result<Down, LinkError> {
    serde_json::from_slice(json).map_err(|e| LinkError::Protocol(e.to_string()))
}
