//! A one-shot HTTP/1.1 client for tests of the project's HTTP endpoints (no client library needed).

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends one HTTP/1.1 request (`Connection: close`, a JSON content type) with `headers` and `body` to `address`
/// and returns the status code and the body as text.
///
/// # Errors
///
/// When the connection fails or the answer has no status line.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let (status, body) =
///     autogen_kafka_testing::http_request("127.0.0.1:8080", "GET", "/.well-known/agent-card.json", &[], "").await?;
/// assert_eq!(status, 200, "{body}");
/// # Ok(()) }
/// # let _ = demo;
/// ```
pub async fn http_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}
