//! Who is at the other end of a request: the client's address behind the proxies the
//! configuration trusts (`settings.trusted_proxies`), for the login limits and the log.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

/// The address of the client of a request that arrived over a connection from `peer`.
///
/// Only when `peer` is a trusted proxy is `X-Forwarded-For` read: each proxy appends the
/// address it was connected from, so the client is the rightmost address that is not itself a
/// trusted proxy; whatever is left of it was written by the client and proves nothing. From any
/// other peer the header is ignored, since anyone can send it. An entry that cannot be read
/// ends the walk: the client is then the last trusted proxy met.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops = forwarded_for(headers.get_all("x-forwarded-for").iter());
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip, trusted) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// Whether `ip` is one of the trusted proxies (an address, or inside a network).
fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The entries of every `X-Forwarded-For` line, in order (several lines are one list, as
/// HTTP says); `None` for an entry that is not an address.
fn forwarded_for<'a>(lines: impl Iterator<Item = &'a HeaderValue>) -> Vec<Option<IpAddr>> {
    lines
        .flat_map(|line| match line.to_str() {
            Ok(text) => text.split(',').map(hop).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// One entry: `1.2.3.4`, `2001:db8::1`, and the forms some proxies write with a port,
/// `1.2.3.4:5678`, `[2001:db8::1]:5678`, or in brackets, `[2001:db8::1]`.
fn hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        h
    }

    #[test]
    fn cidr_matching() {
        let trusted = nets(&["127.0.0.1/32", "::1/128", "10.0.0.0/8", "2001:db8::/32"]);
        for yes in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "10.255.255.255",
            "2001:db8:1::5",
        ] {
            assert!(is_trusted(ip(yes), &trusted), "{yes}");
        }
        for no in [
            "127.0.0.2",
            "11.0.0.1",
            "9.255.255.255",
            "192.168.1.1",
            "2001:db9::1",
            "::2",
        ] {
            assert!(!is_trusted(ip(no), &trusted), "{no}");
        }
        assert!(!is_trusted(ip("127.0.0.1"), &[]));
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let spoofed = xff(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("198.51.100.7"), &spoofed, &[]),
            ip("198.51.100.7")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("198.51.100.7"), &spoofed, &trusted),
            ip("198.51.100.7")
        );
        // Without trusted proxies, not even loopback is believed.
        assert_eq!(
            client_address(ip("127.0.0.1"), &spoofed, &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        // What the client wrote (the first entry) is ignored; 198.51.100.7 connected to the
        // outer proxy 10.0.0.2, which connected to us through 10.0.0.3.
        let h = xff(&["203.0.113.9, 198.51.100.7, 10.0.0.2", "10.0.0.3"]);
        assert_eq!(client_address(peer, &h, &trusted), ip("198.51.100.7"));
        // Spaces, ports and brackets.
        let h = xff(&[" 198.51.100.7:4711 ,[2001:db8::7]:443 , 10.0.0.2"]);
        assert_eq!(client_address(peer, &h, &trusted), ip("2001:db8::7"));
        let h = xff(&["[2001:db8::8]"]);
        assert_eq!(client_address(peer, &h, &trusted), ip("2001:db8::8"));
        // No header: the proxy itself.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        // Only proxies: the furthest one.
        let h = xff(&["10.0.0.9, 10.0.0.2"]);
        assert_eq!(client_address(peer, &h, &trusted), ip("10.0.0.9"));
        // An unreadable entry ends the walk at the last trusted hop.
        let h = xff(&["198.51.100.7, unknown, 10.0.0.2"]);
        assert_eq!(client_address(peer, &h, &trusted), ip("10.0.0.2"));
        let h = xff(&["198.51.100.7,"]);
        assert_eq!(client_address(peer, &h, &trusted), peer);
        let mut h = xff(&["198.51.100.7"]);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(client_address(peer, &h, &trusted), peer);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let trusted = nets(&["127.0.0.1/32"]);
        let h = xff(&["::ffff:198.51.100.7"]);
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("::ffff:192.0.2.1"), &h, &[]),
            ip("192.0.2.1")
        );
    }
}
