//! What a worker agrees to download. Apps, datasets and input files are named by URIs that
//! someone else chose (a registry entry, a request's params), and whatever the worker fetches
//! lands in `/in`, where the app can copy it into its public result. So by default a worker
//! fetches only from public hosts over `http(s)` or from S3: no local files, and no loopback,
//! private, link-local or otherwise internal address (cloud metadata endpoints live there).
//! A worker on a development network, where every service is on loopback, allows them.

use std::net::IpAddr;

/// Whether `ip` is an address a public URI must not lead to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Checks that `uri` may be fetched: `http(s)` to a public host or `s3`, or anything
/// (including local paths and internal hosts) when `allow_internal` is set. The error says
/// why, in a few words.
pub async fn check_uri(uri: &str, allow_internal: bool) -> Result<(), String> {
    let scheme = decloud_storage::uri::scheme(uri);
    if allow_internal {
        return match scheme {
            None | Some("file" | "http" | "https" | "s3") => Ok(()),
            Some(other) => Err(format!("unsupported scheme {other}: use http(s) or s3")),
        };
    }
    match scheme {
        Some("s3") => return Ok(()),
        Some("http" | "https") => {}
        None | Some("file") => {
            return Err(
                "local files are not fetched by this worker: publish the file over http(s) or s3"
                    .into(),
            );
        }
        Some(other) => return Err(format!("unsupported scheme {other}: use http(s) or s3")),
    }
    let url = url::Url::parse(uri).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(ip) = addresses.into_iter().find(|ip| is_internal(*ip)) {
        return Err(format!(
            "{host} is an internal address ({ip}): this worker fetches only from public hosts"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_hosts_and_local_files_are_refused_unless_allowed() {
        for uri in [
            "http://127.0.0.1:7700/blobs/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/x",
            "http://[::1]/x",
            "http://[::ffff:192.168.0.1]/x",
            "http://100.64.0.1/x",
            "file:///etc/passwd",
            "/etc/passwd",
            "http://localhost/x",
        ] {
            assert!(
                check_uri(uri, false).await.is_err(),
                "{uri} must be refused"
            );
            assert!(
                check_uri(uri, true).await.is_ok(),
                "{uri} is allowed on a devnet"
            );
        }
        assert!(check_uri("http://93.184.215.14/x", false).await.is_ok());
        assert!(check_uri("s3://bucket/key", false).await.is_ok());
        assert!(check_uri("ftp://host/x", true).await.is_err());
        assert!(check_uri("gopher://host/x", false).await.is_err());
    }
}
