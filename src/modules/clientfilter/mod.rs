//! `clientfilter`: refuse clients by address, before any byte of their
//! request is read (engine [`ConnFilter`]).
//!
//! | key | meaning |
//! |-----|---------|
//! | `deny` | addresses refused: IPs (`192.168.1.20`, `fe80::1`), CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or Ouistiti text patterns (`192.168.1.`, `*`) |
//! | `allow` | exceptions to `deny`, same forms |
//! | `refuse` (marmoset) | `close` (default: the connection is closed without a byte) or `403` |
//!
//! A client is refused when it matches `deny` and not `allow`; every refusal
//! is logged. IPv4 clients on a dual-stack socket are compared in their IPv4
//! form. Unlike the original (which only logged), refused clients are
//! really refused.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::config::{Problem, Section};
use crate::engine::transport::{ConnFilter, Verdict};
use crate::pattern::Pattern;

/// One entry of an address list.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Net(IpNet),
    Text(Pattern),
}

/// A list of address entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddrList(Vec<Entry>);

impl AddrList {
    /// Parse a comma separated list.
    pub fn new(text: &str) -> AddrList {
        AddrList(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| {
                    if let Ok(net) = item.parse::<IpNet>() {
                        Entry::Net(net)
                    } else if let Ok(ip) = item.parse::<IpAddr>() {
                        Entry::Net(IpNet::from(ip))
                    } else {
                        Entry::Text(Pattern::new(item))
                    }
                })
                .collect(),
        )
    }

    /// Whether `ip` matches an entry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mut text = None;
        self.0.iter().any(|e| match e {
            Entry::Net(net) => net.contains(&ip),
            Entry::Text(p) => p.is_match(text.get_or_insert_with(|| ip.to_string())),
        })
    }
}

/// Parsed `clientfilter = { … }`.
#[derive(Debug, Clone)]
pub struct ClientfilterConfig {
    /// `deny`.
    pub deny: AddrList,
    /// `allow`.
    pub allow: AddrList,
    /// `refuse`: answer 403 instead of closing.
    pub forbid: bool,
    deny_text: String,
    allow_text: String,
}

impl ClientfilterConfig {
    /// Read the section.
    pub fn from_section(s: &Section<'_>) -> Option<ClientfilterConfig> {
        let deny_text = s.str("deny").unwrap_or_default();
        let allow_text = s.str("allow").unwrap_or_default();
        let forbid = match s.str("refuse").as_deref() {
            None | Some("close") => false,
            Some("403") => true,
            Some(other) => {
                s.error(
                    "refuse",
                    Problem::BadValue(format!("`{other}`: expected \"close\" or \"403\"")),
                );
                false
            }
        };
        Some(ClientfilterConfig {
            deny: AddrList::new(&deny_text),
            allow: AddrList::new(&allow_text),
            forbid,
            deny_text,
            allow_text,
        })
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        use crate::config::print::quote;
        format!(
            "{{ deny = {}; allow = {}; refuse = {}; }}",
            quote(&self.deny_text),
            quote(&self.allow_text),
            quote(if self.forbid { "403" } else { "close" })
        )
    }
}

/// The running filter.
pub struct Clientfilter {
    cfg: ClientfilterConfig,
}

impl Clientfilter {
    /// Build the filter.
    pub fn new(cfg: &ClientfilterConfig) -> Clientfilter {
        Clientfilter { cfg: cfg.clone() }
    }
}

impl ConnFilter for Clientfilter {
    fn check(&self, peer: &SocketAddr) -> Verdict {
        let ip = peer.ip().to_canonical();
        if self.cfg.deny.contains(ip) && !self.cfg.allow.contains(ip) {
            log::warn!("clientfilter: refuses {ip}");
            return if self.cfg.forbid {
                Verdict::Forbid
            } else {
                Verdict::Close
            };
        }
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_exact_and_text_entries() {
        let l = AddrList::new("10.0.0.0/8, 192.168.1.20,fd00::/8, 172.16.");
        assert!(l.contains(ip("10.1.2.3")));
        assert!(!l.contains(ip("11.0.0.1")));
        assert!(l.contains(ip("192.168.1.20")));
        assert!(!l.contains(ip("192.168.1.21")));
        assert!(l.contains(ip("fd12::1")));
        assert!(!l.contains(ip("fe80::1")));
        assert!(l.contains(ip("172.16.9.9")));
        assert!(AddrList::new("*").contains(ip("::1")));
        assert!(!AddrList::new("").contains(ip("127.0.0.1")));
    }

    #[test]
    fn allow_is_an_exception_to_deny() {
        let f = Clientfilter::new(&ClientfilterConfig {
            deny: AddrList::new("*"),
            allow: AddrList::new("127.0.0.1"),
            forbid: false,
            deny_text: String::new(),
            allow_text: String::new(),
        });
        let peer = |s: &str| SocketAddr::new(ip(s), 1);
        assert_eq!(f.check(&peer("127.0.0.1")), Verdict::Accept);
        assert_eq!(f.check(&peer("::ffff:127.0.0.1")), Verdict::Accept);
        assert_eq!(f.check(&peer("127.0.0.2")), Verdict::Close);
    }
}
