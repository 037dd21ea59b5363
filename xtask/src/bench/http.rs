//! The smallest HTTP/1.1 keep-alive client that can load a loopback server.
//!
//! Hand-written rather than hyper: a benchmark client should spend as little CPU as possible (it shares
//! two cores with the server), requests are pre-rendered bytes, and the server under test is ours.
//! Responses are framed by Content-Length, chunked encoding, or end of stream.

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Refuse bodies beyond this: nothing on the benchmarked paths is near it, and a framing bug must
/// not turn into a multi-gigabyte allocation.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Renders a request once, so that workers only copy bytes.
pub fn render_request(
    method: &str,
    host: SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((content_type, body)) = body {
        head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some((_, body)) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// False when the server will close the connection after this response.
    pub keep_alive: bool,
}

pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet consumed start at `consumed`; parsing works on bytes in place, so
    /// a response costs no allocation beyond its body.
    buffer: Vec<u8>,
    consumed: usize,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(address).await?;
        // Requests are small and written whole; Nagle would only add latency.
        stream.set_nodelay(true)?;
        Ok(Self { stream, buffer: Vec::with_capacity(16 * 1024), consumed: 0 })
    }

    pub async fn send(&mut self, request: &[u8]) -> Result<Response> {
        self.stream.write_all(request).await?;
        loop {
            let response = self.read_response().await?;
            // 1xx responses (100 Continue) precede the real one.
            if !(100..200).contains(&response.status) {
                return Ok(response);
            }
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buffer[self.consumed..]
    }

    /// Reads more bytes from the socket; end of stream is an error (`read_to_close` handles the
    /// one case where it is not).
    async fn fill(&mut self) -> Result<()> {
        if self.fill_or_eof().await? == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed mid-response"));
        }
        Ok(())
    }

    async fn fill_or_eof(&mut self) -> Result<usize> {
        // Drop what was consumed before growing the buffer.
        if self.consumed > 0 {
            self.buffer.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.buffer.len() > MAX_BODY {
            return Err(invalid("response too large"));
        }
        self.buffer.reserve(16 * 1024);
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Consumes everything up to and including the next `delimiter`, returning what preceded it.
    async fn take_until(&mut self, delimiter: &[u8]) -> Result<std::ops::Range<usize>> {
        loop {
            if let Some(at) = find(self.unread(), delimiter) {
                let range = self.consumed..self.consumed + at;
                self.consumed += at + delimiter.len();
                return Ok(range);
            }
            self.fill().await?;
        }
    }

    async fn take_exact(&mut self, length: usize) -> Result<Vec<u8>> {
        if length > MAX_BODY {
            return Err(invalid("body too large"));
        }
        while self.unread().len() < length {
            self.fill().await?;
        }
        let bytes = self.unread()[..length].to_vec();
        self.consumed += length;
        Ok(bytes)
    }

    async fn read_response(&mut self) -> Result<Response> {
        let head = self.take_until(b"\r\n\r\n").await?;
        let head = Head::parse(&self.buffer[head])?;
        let mut keep_alive = head.keep_alive;
        let body = if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            Vec::new()
        } else if head.chunked {
            self.read_chunked().await?
        } else if let Some(length) = head.content_length {
            self.take_exact(length).await?
        } else {
            // Neither length nor chunks: the body ends when the server closes the connection.
            keep_alive = false;
            while self.fill_or_eof().await? > 0 {}
            let body = self.unread().to_vec();
            self.consumed = self.buffer.len();
            body
        };
        Ok(Response { status: head.status, body, keep_alive })
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.take_until(b"\r\n").await?;
            let line = std::str::from_utf8(&self.buffer[line]).map_err(|_| invalid("bad chunk size"))?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(invalid("body too large"));
            }
            body.extend(self.take_exact(size).await?);
            self.take_until(b"\r\n").await?;
        }
        // Trailers, up to the empty line.
        while !self.take_until(b"\r\n").await?.is_empty() {}
        Ok(body)
    }
}

/// What the status line and headers say about framing.
struct Head {
    status: u16,
    keep_alive: bool,
    content_length: Option<usize>,
    chunked: bool,
}

impl Head {
    fn parse(head: &[u8]) -> Result<Self> {
        let head = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let (status, mut keep_alive) = parse_status_line(lines.next().unwrap_or_default())?;
        let mut content_length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid("header line without a colon"));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<usize>().map_err(|_| invalid("bad Content-Length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    keep_alive = false;
                } else if value.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        Ok(Self { status, keep_alive, content_length, chunked })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// `HTTP/1.1 200 OK` -> (200, keep-alive by default); HTTP/1.0 closes unless told otherwise.
fn parse_status_line(line: &str) -> Result<(u16, bool)> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|code| code.parse::<u16>().ok()).ok_or_else(|| invalid("bad status line"))?;
    match version {
        "HTTP/1.1" => Ok((status, true)),
        "HTTP/1.0" => Ok((status, false)),
        _ => Err(invalid("not an HTTP/1.x response")),
    }
}

fn invalid(what: &'static str) -> Error {
    Error::new(ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `replies` in order on one connection, then closes it.
    async fn serve(replies: &'static [&'static [u8]]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            for reply in replies {
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                socket.write_all(reply).await.expect("write");
            }
        });
        address
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let address = serve(&[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ])
        .await;
        let request = render_request("GET", address, "/healthz", &[], None);
        let mut connection = Connection::open(address).await.expect("connect");

        let first = connection.send(&request).await.expect("first");
        assert_eq!((first.status, first.body.as_slice(), first.keep_alive), (200, &b"hello"[..], true));
        let second = connection.send(&request).await.expect("second");
        assert_eq!((second.status, second.body.as_slice()), (201, &b"abcde"[..]));
        let third = connection.send(&request).await.expect("third");
        assert_eq!((third.status, third.keep_alive), (404, false));
    }

    #[tokio::test]
    async fn a_body_without_length_ends_with_the_connection() {
        let address = serve(&[b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).await;
        let request = render_request("GET", address, "/", &[], None);
        let mut connection = Connection::open(address).await.expect("connect");
        let response = connection.send(&request).await.expect("response");
        assert_eq!((response.body.as_slice(), response.keep_alive), (&b"until close"[..], false));
    }

    #[test]
    fn renders_headers_and_body() {
        let address: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let headers = [("Authorization".to_owned(), "Bearer t".to_owned())];
        let request = render_request("POST", address, "/x", &headers, Some(("application/json", b"{}")));
        assert_eq!(
            String::from_utf8(request).expect("utf-8"),
            "POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
