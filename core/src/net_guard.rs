//! SSRF guard for URLs vodflow will POST to on a user's behalf (webhooks, callbacks): the host must
//! resolve only to public addresses, unless private ones are explicitly allowed (local testing).
//! Checked at registration and again right before every delivery, so a DNS change cannot turn an
//! accepted URL into a request to the metadata service or the database.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    #[error("{0:?} is not a valid URL")]
    Invalid(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("URLs with credentials are not allowed")]
    Credentials,
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    #[error(
        "{host} resolves to {ip}, a private, loopback or link-local address (set VODFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow)"
    )]
    Private { host: String, ip: IpAddr },
}

/// A URL whose host resolved only to allowed addresses. Connect to `addrs` (pin them in the HTTP
/// client), not to a fresh lookup of `host`: a second lookup could answer differently (DNS rebinding).
#[derive(Debug, Clone)]
pub struct Checked {
    pub url: url::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Parses `raw` and checks every address its host resolves to.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<Checked, GuardError> {
    let url = url::Url::parse(raw).map_err(|_| GuardError::Invalid(raw.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GuardError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GuardError::Credentials);
    }
    let host = url
        .host_str()
        .ok_or_else(|| GuardError::Invalid(raw.to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| GuardError::Unresolvable(host.clone()))?
        .collect();
    if addrs.is_empty() {
        return Err(GuardError::Unresolvable(host));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(GuardError::Private { host, ip: a.ip() });
    }
    Ok(Checked { url, host, addrs })
}

pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4) && is_public_v6(v6),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 one carries, in every form that can route to it: IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::/96` (and the local-use `64:ff9b:1::/48`) and 6to4 `2002:AABB:CCDD::/16`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT 100.64.0.0/10 and benchmarking 198.18.0.0/15.
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        // IETF protocol assignments 192.0.0.0/24 (includes the DS-Lite and NAT64 discovery ones).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10 and the deprecated site-local fec0::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::",
            "fec0::1",
            "192.0.0.8",
            "192.0.0.170",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_urls_are_refused_unless_allowed() {
        let err = check_url("http://127.0.0.1:9/hook", false)
            .await
            .unwrap_err();
        assert!(matches!(err, GuardError::Private { .. }), "{err}");
        assert!(check_url("http://localhost:9/hook", false).await.is_err());
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
        assert_eq!(
            check_url("ftp://example.com/", true).await.unwrap_err(),
            GuardError::Scheme
        );
        assert_eq!(
            check_url("http://u:p@127.0.0.1/", true).await.unwrap_err(),
            GuardError::Credentials
        );
    }
}
