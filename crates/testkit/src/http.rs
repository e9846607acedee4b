//! Talking to a service under test the way its real clients do: from the URL it printed (a
//! pinned `https://...#sha256:...` URL, or `http://` when started over plain HTTP).

use decloud_service::transport::{PinnedUrl, TransportError, http_client};

/// The URL of the service at `url` without its pin (to append paths to) and an HTTP client
/// that accepts only the pinned key and names it in each request.
pub fn client_for(url: &str) -> Result<(String, reqwest::Client), TransportError> {
    let pinned: PinnedUrl = url.parse()?;
    let client = http_client(
        &pinned,
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)),
    )?;
    Ok((pinned.base().to_owned(), client))
}
