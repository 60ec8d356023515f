//! HAProxy's PROXY protocol (the v1 text header and the v2 binary one) on a public listener: a
//! trusted proxy's connection begins with a header naming the client it carries. The header is
//! read once per connection, before any HTTP, and its address is handed to the service as a
//! direct peer's is, so no request pays for it. Parsing is the `proxy-header` crate's; this file
//! only bounds the read and keeps the bytes that came in behind the header.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use proxy_header::{ParseConfig, Protocol, ProxyHeader};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// Largest PROXY header read. A v1 header is at most 107 bytes; a v2 header's extensions (TLS
/// details, a unique id, a cloud's endpoint id) take a few hundred.
pub const MAX_HEADER: usize = 4096;

/// Bytes asked for per read: a whole v1 header, or a v2 header with its usual extensions.
const CHUNK: usize = 512;

/// The proxies in front of a public listener: who may speak for many clients.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// Canonical addresses (IPv4-mapped IPv6 is IPv4), as the services compare them.
    trusted: Arc<[IpAddr]>,
    protocol: bool,
}

impl Proxies {
    /// The `trusted` proxies; with `protocol`, each of their connections begins with a PROXY
    /// header.
    pub fn new(trusted: &[IpAddr], protocol: bool) -> Proxies {
        Proxies {
            trusted: trusted.iter().map(IpAddr::to_canonical).collect(),
            protocol,
        }
    }

    /// Whether `ip` is a trusted proxy.
    pub(super) fn trusts(&self, ip: IpAddr) -> bool {
        !self.trusted.is_empty() && self.trusted.contains(&ip.to_canonical())
    }

    /// Whether a connection from `ip` must begin with a PROXY header.
    pub(super) fn sends_header(&self, ip: IpAddr) -> bool {
        self.protocol && self.trusts(ip)
    }
}

/// Why a trusted proxy's connection was closed before its first request.
#[derive(Debug, thiserror::Error)]
pub(super) enum HeaderError {
    /// The socket failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
    /// The proxy hung up mid-header.
    #[error("the connection closed before its PROXY header ended")]
    Closed,
    /// No complete header within [`MAX_HEADER`] bytes.
    #[error("no PROXY header within {MAX_HEADER} bytes")]
    TooLong,
    /// Not a PROXY header (an HTTP request, say).
    #[error("not a PROXY header: {0}")]
    Invalid(proxy_header::Error),
    /// A header for UDP, which a stream cannot carry.
    #[error("a PROXY header for a datagram on a stream")]
    Datagram,
}

/// A PROXY header read off a connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// The client: the header's source, or the proxy itself for `LOCAL` and `UNKNOWN` (its
    /// health checks).
    pub(super) client: SocketAddr,
    /// What was read past the header: the start of the first request.
    pub(super) rest: Vec<u8>,
}

/// Reads the PROXY header that begins `io`, a connection from `proxy`. It reads in chunks (a
/// byte at a time would be a system call each), so what follows the header is returned in
/// [`Header::rest`]; the caller bounds the time.
pub(super) async fn read_header<R: AsyncRead + Unpin>(
    io: &mut R,
    proxy: SocketAddr,
) -> Result<Header, HeaderError> {
    let config = ParseConfig {
        include_tlvs: false,
        allow_v1: true,
        allow_v2: true,
    };
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; CHUNK];
    loop {
        let room = MAX_HEADER - buf.len();
        if room == 0 {
            return Err(HeaderError::TooLong);
        }
        let n = io.read(&mut chunk[..room.min(CHUNK)]).await?;
        if n == 0 {
            return Err(HeaderError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let (client, used) = match ProxyHeader::parse(&buf, config) {
            Ok((header, used)) => match header.proxied_address() {
                None => (proxy, used),
                Some(a) if a.protocol == Protocol::Stream => (a.source, used),
                Some(_) => return Err(HeaderError::Datagram),
            },
            Err(proxy_header::Error::BufferTooShort) => continue,
            Err(e) => return Err(HeaderError::Invalid(e)),
        };
        let rest = buf.split_off(used);
        return Ok(Header { client, rest });
    }
}

pin_project_lite::pin_project! {
    /// A connection whose first bytes were read along with its PROXY header: they are read
    /// again first, then the socket.
    pub(super) struct Rewound<T> {
        rest: Vec<u8>,
        at: usize,
        #[pin]
        io: T,
    }
}

impl<T> Rewound<T> {
    /// `io`, with `rest` to be read before it.
    pub(super) fn new(io: T, rest: Vec<u8>) -> Rewound<T> {
        Rewound { rest, at: 0, io }
    }
}

impl<T: AsyncRead> AsyncRead for Rewound<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if *this.at < this.rest.len() {
            let n = (this.rest.len() - *this.at).min(buf.remaining());
            buf.put_slice(&this.rest[*this.at..*this.at + n]);
            *this.at += n;
            if *this.at == this.rest.len() {
                // Given back once read: a long connection does not keep it.
                *this.rest = Vec::new();
                *this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        this.io.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for Rewound<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("an address")
    }

    fn proxy() -> SocketAddr {
        addr("10.0.0.1:40000")
    }

    /// Reads a header from `chunks`, each arriving as a read of its own.
    async fn read(chunks: &[&[u8]]) -> Result<Header, HeaderError> {
        read_header(&mut Chunks::new(chunks), proxy()).await
    }

    /// A socket that hands out one chunk per read, then the end.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl Chunks {
        fn new(chunks: &[&[u8]]) -> Chunks {
            Chunks(chunks.iter().map(|c| c.to_vec()).collect())
        }
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// A v2 header: signature, version and command, family and protocol, length, body.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).expect("short").to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn a_v1_header_names_the_client_and_keeps_the_request_behind_it() {
        let mut bytes = b"PROXY TCP4 203.0.113.7 10.0.0.2 51000 443\r\n".to_vec();
        bytes.extend_from_slice(REQUEST);
        let header = read(&[&bytes]).await.expect("a header");
        assert_eq!(header.client, addr("203.0.113.7:51000"));
        assert_eq!(header.rest, REQUEST);
        let six = read(&[b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n"])
            .await
            .expect("a header");
        assert_eq!(six.client, addr("[2001:db8::7]:51000"));
        assert!(six.rest.is_empty());
    }

    #[tokio::test]
    async fn a_header_split_over_many_reads_is_read_whole() {
        let header = read(&[
            b"PROXY TCP4 203.0",
            b".113.7 10.0.0.2 51",
            b"000 443\r",
            b"\nGET",
        ])
        .await
        .expect("a header");
        assert_eq!(header.client, addr("203.0.113.7:51000"));
        assert_eq!(header.rest, b"GET");
        let mut body = vec![203, 0, 113, 9, 10, 0, 0, 2];
        body.extend_from_slice(&51000u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        let whole = v2(0x1, 0x11, &body);
        let (a, b) = whole.split_at(7);
        let header = read(&[a, b]).await.expect("a header");
        assert_eq!(header.client, addr("203.0.113.9:51000"));
    }

    #[tokio::test]
    async fn a_v2_header_names_the_client_over_ipv4_and_ipv6() {
        let mut body = vec![203, 0, 113, 9, 10, 0, 0, 2];
        body.extend_from_slice(&51000u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        // An extension (a unique id) after the addresses is skipped.
        body.extend_from_slice(&[0x05, 0x00, 0x03, b'a', b'b', b'c']);
        let mut bytes = v2(0x1, 0x11, &body);
        bytes.extend_from_slice(REQUEST);
        let header = read(&[&bytes]).await.expect("a header");
        assert_eq!(header.client, addr("203.0.113.9:51000"));
        assert_eq!(header.rest, REQUEST);

        let source: std::net::Ipv6Addr = "2001:db8::9".parse().expect("an address");
        let mut body = source.octets().to_vec();
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&51000u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        let header = read(&[&v2(0x1, 0x21, &body)]).await.expect("a header");
        assert_eq!(header.client, addr("[2001:db8::9]:51000"));
    }

    #[tokio::test]
    async fn local_and_unknown_headers_are_the_proxy_itself() {
        let local = read(&[&v2(0x0, 0x00, &[])]).await.expect("a header");
        assert_eq!(local.client, proxy());
        let unknown = read(&[b"PROXY UNKNOWN\r\n"]).await.expect("a header");
        assert_eq!(unknown.client, proxy());
    }

    #[tokio::test]
    async fn anything_but_a_header_is_refused() {
        assert!(matches!(
            read(&[REQUEST]).await,
            Err(HeaderError::Invalid(_))
        ));
        assert!(matches!(
            read(&[b"PROXY TCP4 nonsense 10.0.0.2 1 2\r\n"]).await,
            Err(HeaderError::Invalid(_))
        ));
        // A v1 line that never ends is refused at the protocol's 107 bytes.
        let endless = [b'P', b'R', b'O', b'X', b'Y', b' ']
            .into_iter()
            .chain(std::iter::repeat_n(b'1', 200))
            .collect::<Vec<_>>();
        assert!(read(&[&endless]).await.is_err());
        assert!(matches!(
            read(&[b"PROXY TCP4 203.0.113.7"]).await,
            Err(HeaderError::Closed)
        ));
        let mut udp = vec![203, 0, 113, 9, 10, 0, 0, 2];
        udp.extend_from_slice(&[0, 1, 0, 2]);
        assert!(matches!(
            read(&[&v2(0x1, 0x12, &udp)]).await,
            Err(HeaderError::Datagram)
        ));
    }

    #[tokio::test]
    async fn a_header_longer_than_the_bound_is_refused_unread() {
        // A v2 header announcing 60 KB of extensions: refused at the bound, not read to its end.
        let mut body = vec![203, 0, 113, 9, 10, 0, 0, 2, 0, 1, 0, 2];
        body.resize(60_000, 0);
        let bytes = v2(0x1, 0x11, &body);
        assert!(matches!(read(&[&bytes]).await, Err(HeaderError::TooLong)));
    }

    #[tokio::test]
    async fn a_rewound_connection_reads_what_came_behind_the_header_first() {
        let mut rewound = Rewound::new(Chunks::new(&[b" / HTTP/1.1"]), b"GET".to_vec());
        let mut all = Vec::new();
        rewound.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"GET / HTTP/1.1");
    }

    #[test]
    fn only_trusted_proxies_send_headers_and_mapped_addresses_are_ipv4() {
        let ip = |t: &str| t.parse::<IpAddr>().expect("an address");
        let proxies = Proxies::new(&[ip("::ffff:10.0.0.1")], true);
        assert!(proxies.trusts(ip("10.0.0.1")));
        assert!(proxies.sends_header(ip("::ffff:10.0.0.1")));
        assert!(!proxies.sends_header(ip("10.0.0.2")));
        let without = Proxies::new(&[ip("10.0.0.1")], false);
        assert!(without.trusts(ip("10.0.0.1")));
        assert!(!without.sends_header(ip("10.0.0.1")));
        assert!(!Proxies::default().trusts(ip("10.0.0.1")));
    }
}
