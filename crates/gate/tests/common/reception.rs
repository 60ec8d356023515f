//! A reception played by the test over a real management WebSocket: the challenge, the shop's
//! hello, and the link's channel keyed as a reception holding a given keyring would key it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use usher_gate::link::LinkConfig;
use usher_ticket::channel::{FrameKind, Opener, Sealer, Side};
use usher_ticket::hello::{Handshake, Nonce};
use usher_ticket::{Epoch, KeyId, Keyring, ServerId};
use usher_wire::mgmt::{Down, Up};

use super::Shop;

/// A reception as the test plays it, one accepted link at a time.
pub struct FakeReception {
    listener: TcpListener,
}

/// One link the gate dialled, past the challenge and the shop's hello.
pub struct Dialled {
    pub ws: WebSocketStream<TcpStream>,
    pub challenge: Nonce,
    pub hello: Up,
}

impl FakeReception {
    /// Binds, and starts `shop`'s management link dialling it.
    pub async fn start(shop: &Shop) -> FakeReception {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = LinkConfig::new(format!("ws://{}", listener.local_addr().unwrap()));
        config.retry_max = Duration::from_millis(200);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(usher_gate::link::run(
            Arc::clone(&shop.gate),
            config,
            shutdown_rx,
        ));
        // The link lives as long as the test.
        std::mem::forget(shutdown);
        FakeReception { listener }
    }

    /// The gate's next connection: a challenge sent, the hello read back.
    pub async fn next(&self) -> Dialled {
        let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .expect("the gate dials again")
            .unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let challenge = Nonce::random().unwrap();
        let down = Down::Challenge {
            nonce: challenge.to_hex(),
        };
        ws.send(plain(&down)).await.unwrap();
        let Some(Ok(Message::Text(hello))) = ws.next().await else {
            panic!("no hello");
        };
        let hello: Up = serde_json::from_str(hello.as_str()).unwrap();
        Dialled {
            ws,
            challenge,
            hello,
        }
    }
}

impl Dialled {
    /// This link's channel, keyed as a reception holding `ring` would key it.
    pub fn channel(&self, ring: &Keyring) -> (Sealer, Opener) {
        let Up::Hello {
            server,
            epoch,
            nonce,
            ..
        } = &self.hello
        else {
            panic!("not a hello: {:?}", self.hello);
        };
        let server = ServerId::new(server).unwrap();
        let keys = ring.derive_server(&server);
        let shop_nonce = Nonce::from_hex(nonce).unwrap();
        let handshake = Handshake {
            server: &server,
            epoch: Epoch(*epoch),
            reception: &self.challenge,
            shop: &shop_nonce,
        };
        usher_ticket::channel::channel(
            keys.management_key(KeyId(1)).unwrap(),
            &handshake,
            Side::Reception,
        )
    }

    /// True once the gate has closed the link; `opener`, if given, opens what comes up
    /// meanwhile and nothing may be a granted reservation.
    pub async fn ends(&mut self, mut opener: Option<&mut Opener>) -> bool {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(frame))) => {
                        if let Some(opener) = opener.as_deref_mut() {
                            let mut frame = Vec::from(frame);
                            let (_, json) = opener.open(&mut frame).unwrap();
                            let up: Up = serde_json::from_slice(json).unwrap();
                            assert!(matches!(up, Up::Report(_)), "{up:?}");
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

pub fn plain(down: &Down) -> Message {
    Message::text(serde_json::to_string(down).unwrap())
}

pub fn sealed(sealer: &mut Sealer, down: &Down) -> Vec<u8> {
    sealer.seal(FrameKind::Message, &serde_json::to_vec(down).unwrap())
}
