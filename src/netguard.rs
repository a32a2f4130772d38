//! Which network addresses a fetch may reach (no SSRF). The sources written in the
//! configuration are the admin's choice, wherever they are. Every other address comes from a
//! document or a server (an article's link, a CAP index entry, a redirect) and may reach a
//! loopback, private, link-local or otherwise non-public address only when its host is one
//! the admin configured for a source. `allow_private_sources = true` lifts the rule.
//!
//! The rule is applied where addresses are known: by the fetcher's resolver, which drops the
//! addresses a host may not reach (the connection goes only to what was checked, so a DNS
//! answer cannot change between the check and the connection), and for hosts written as IP
//! literals, which no resolver sees, before the request and at every redirect.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Whether an address is on the public internet: not loopback, private, shared (CGNAT),
/// link-local, multicast, reserved, documentation or benchmarking space, nor an IPv6 form
/// that carries or tunnels to such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(a == 0                                      // 0.0.0.0/8 "this network"
        || a == 10                                // 10/8 private
        || (a == 100 && (64..128).contains(&b))   // 100.64/10 shared (CGNAT)
        || a == 127                               // loopback
        || (a == 169 && b == 254)                 // link-local
        || (a == 172 && (16..32).contains(&b))    // 172.16/12 private
        || (a == 192 && b == 0 && c == 0)         // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)         // documentation
        || (a == 192 && b == 88 && c == 99)       // 6to4 relay anycast
        || (a == 192 && b == 168)                 // private
        || (a == 198 && (b == 18 || b == 19))     // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100)      // documentation
        || (a == 203 && b == 0 && c == 113)       // documentation
        || a >= 224) // multicast 224/4, reserved 240/4, broadcast
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4); // ::ffff:a.b.c.d
    }
    if s[..6] == [0; 6] {
        return false; // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d (::127.0.0.1)
    }
    !((s[0] == 0x64 && s[1] == 0xff9b)            // 64:ff9b::/96 and /48 NAT64
        || (s[0] == 0x100 && s[1..4] == [0; 3])   // 100::/64 discard
        || (s[0] == 0x2001 && s[1] < 0x200)       // 2001::/23 IETF (Teredo 2001::/32 in it)
        || (s[0] == 0x2001 && s[1] == 0xdb8)      // documentation
        || s[0] == 0x2002                         // 6to4
        || (s[0] & 0xfe00) == 0xfc00              // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80              // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0              // fec0::/10 site-local
        || (s[0] & 0xff00) == 0xff00) // multicast
}

/// The rule for one configuration. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// `allow_private_sources`: everything may be reached.
    open: bool,
    /// The hosts of the configured sources (lowercase, IPv6 without brackets): the resolver
    /// keeps their non-public addresses.
    configured: Arc<HashSet<String>>,
    /// The configured sources' hosts with their ports: only there may a non-public address
    /// be reached (a document's link to another port of the same host is checked by name).
    endpoints: Arc<HashSet<(String, u16)>>,
}

impl Guard {
    pub fn new<'a>(allow_private: bool, sources: impl IntoIterator<Item = &'a url::Url>) -> Guard {
        // A configured host's http and https ports are the source too (a redirect from one
        // to the other is how sites move to https); other ports are pinned.
        let endpoints: HashSet<(String, u16)> = sources
            .into_iter()
            .filter_map(|url| Some((normal_host(url.host_str()?), url.port_or_known_default()?)))
            .flat_map(|(host, port)| [(host.clone(), port), (host.clone(), 80), (host, 443)])
            .collect();
        Guard {
            open: allow_private,
            configured: Arc::new(endpoints.iter().map(|(host, _)| host.clone()).collect()),
            endpoints: Arc::new(endpoints),
        }
    }

    /// No rule: for the command line's `preview` of an address its user typed.
    pub fn open() -> Guard {
        Guard {
            open: true,
            ..Guard::default()
        }
    }

    /// Whether a request to `host` may connect to `ip` (the resolver's rule, which sees no
    /// port: [`Guard::needs_lookup`] covers the other ports of a configured host).
    pub fn allows(&self, host: &str, ip: IpAddr) -> bool {
        self.open || is_public(ip) || self.configured.contains(&normal_host(host))
    }

    /// Whether `url` is a configured source's host and port.
    fn configured_endpoint(&self, url: &url::Url) -> bool {
        match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => self.endpoints.contains(&(normal_host(host), port)),
            _ => false,
        }
    }

    /// For a URL whose host is an IP literal, whether it may be reached (other hosts are
    /// checked when they are resolved). Why not, when not.
    pub fn check_literal(&self, url: &url::Url) -> Result<(), String> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        if self.open || is_public(ip) || self.configured_endpoint(url) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is a non-public address and not a configured source's"
            ))
        }
    }

    /// Whether `url`'s name must be checked before the request, by
    /// [`Guard::check_name_blocking`]: through a proxy (which resolves names itself), or on
    /// a configured host's other port (which the resolver would let through).
    pub fn needs_lookup(&self, url: &url::Url, proxied: bool) -> bool {
        let name = matches!(url.host(), Some(url::Host::Domain(_)));
        let other_port = url
            .host_str()
            .is_some_and(|host| self.configured.contains(&normal_host(host)))
            && !self.configured_endpoint(url);
        name && !self.open && (proxied || other_port)
    }

    /// For a URL whose host is a name, whether every address it resolves to may be reached
    /// (blocking: the system's resolver). Only a configured source's host and port may be
    /// non-public.
    pub fn check_name_blocking(&self, url: &url::Url) -> Result<(), String> {
        use std::net::ToSocketAddrs;
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        if self.open || self.configured_endpoint(url) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("{host}: {e}"))?;
        for a in addrs {
            if !is_public(a.ip()) {
                return Err(format!(
                    "{host}:{port} has a non-public address ({}) and is not a configured source",
                    a.ip()
                ));
            }
        }
        Ok(())
    }
}

fn normal_host(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_ranges() {
        for ip in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "151.101.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "2600::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn configured_hosts_may_be_private_and_nothing_else() {
        let sources = [
            "https://intranet.comune.local/feed",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
        ]
        .map(|u| url::Url::parse(u).unwrap());
        let guard = Guard::new(false, &sources);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(guard.allows("Intranet.Comune.local", "10.1.2.3".parse().unwrap()));
        assert!(guard.allows("127.0.0.1", lo));
        assert!(guard.allows("::1", "::1".parse().unwrap()));
        assert!(
            !guard.allows("localhost", lo),
            "another name for it is another host"
        );
        assert!(guard.allows("example.org", "93.184.216.34".parse().unwrap()));
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(guard.check_literal(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(guard
            .check_literal(&url("http://169.254.169.254/latest"))
            .is_err());
        assert!(guard
            .check_literal(&url("http://[::ffff:a9fe:a9fe]/"))
            .is_err());
        assert!(guard
            .check_literal(&url("http://comune.example.it/"))
            .is_ok());
        assert!(Guard::open()
            .check_literal(&url("http://10.0.0.1/"))
            .is_ok());
        // Another port of a configured host is not the configured source.
        assert!(guard.check_literal(&url("http://127.0.0.1:6379/")).is_err());
        assert!(guard.needs_lookup(&url("https://intranet.comune.local:8443/admin"), false));
        assert!(!guard.needs_lookup(&url("https://intranet.comune.local/other"), false));
        assert!(!guard.needs_lookup(&url("http://intranet.comune.local/moved"), false));
        assert!(guard.check_literal(&url("https://127.0.0.1/")).is_ok());
        assert!(!guard.needs_lookup(&url("https://example.org/"), false));
        assert!(guard.needs_lookup(&url("https://example.org/"), true));
        let lookup = |s: &str| guard.check_name_blocking(&url(s));
        assert!(lookup("http://localhost:6379/").is_err());
        assert!(lookup("https://intranet.comune.local/").is_ok());
    }
}
