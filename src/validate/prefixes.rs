//! Prefixes looked up by the addresses they hold, in time proportional to the number of
//! distinct prefix lengths (at most 33 or 129), not to the number of prefixes: what
//! keeps inference and reachability linear in the size of the lab.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// Values filed under prefixes.
#[derive(Debug)]
pub(super) struct PrefixMap<T> {
    entries: HashMap<IpNet, Vec<T>>,
    /// The prefix lengths in use, longest first, per family.
    lens_v4: Vec<u8>,
    lens_v6: Vec<u8>,
}

impl<T> Default for PrefixMap<T> {
    fn default() -> Self {
        PrefixMap {
            entries: HashMap::new(),
            lens_v4: Vec::new(),
            lens_v6: Vec::new(),
        }
    }
}

impl<T> PrefixMap<T> {
    /// Files `value` under `prefix` (its host bits ignored).
    pub(super) fn insert(&mut self, prefix: IpNet, value: T) {
        let prefix = prefix.trunc();
        let lens = match prefix {
            IpNet::V4(_) => &mut self.lens_v4,
            IpNet::V6(_) => &mut self.lens_v6,
        };
        if let Err(at) = lens.binary_search_by(|l| prefix.prefix_len().cmp(l)) {
            lens.insert(at, prefix.prefix_len());
        }
        self.entries.entry(prefix).or_default().push(value);
    }

    /// The values filed under `prefix` exactly.
    pub(super) fn get(&self, prefix: &IpNet) -> &[T] {
        self.entries.get(&prefix.trunc()).map_or(&[], Vec::as_slice)
    }

    /// The prefixes that hold `ip`, longest first, each with its values.
    pub(super) fn containing(&self, ip: IpAddr) -> impl Iterator<Item = (IpNet, &[T])> {
        let lens = if ip.is_ipv4() {
            &self.lens_v4
        } else {
            &self.lens_v6
        };
        lens.iter().filter_map(move |&len| {
            let prefix = IpNet::new(ip, len).expect("a length in use").trunc();
            self.entries.get(&prefix).map(|v| (prefix, v.as_slice()))
        })
    }

    /// The values of the longest prefix holding `ip`, if any holds it.
    pub(super) fn longest(&self, ip: IpAddr) -> Option<(IpNet, &[T])> {
        self.containing(ip).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_go_from_the_longest_prefix() {
        let mut m = PrefixMap::default();
        m.insert("10.0.0.0/8".parse().unwrap(), "wide");
        m.insert("10.1.1.0/24".parse().unwrap(), "narrow");
        m.insert("10.1.1.5/24".parse().unwrap(), "narrow too");
        m.insert("2001:db8::/32".parse().unwrap(), "v6");
        let hits: Vec<_> = m
            .containing("10.1.1.9".parse().unwrap())
            .map(|(p, v)| (p.to_string(), v.to_vec()))
            .collect();
        assert_eq!(
            hits,
            [
                ("10.1.1.0/24".to_string(), vec!["narrow", "narrow too"]),
                ("10.0.0.0/8".to_string(), vec!["wide"]),
            ]
        );
        assert_eq!(
            m.longest("10.2.0.1".parse().unwrap()).map(|(_, v)| v),
            Some(&["wide"][..])
        );
        assert!(m.longest("192.0.2.1".parse().unwrap()).is_none());
        assert_eq!(m.get(&"2001:db8:1::/32".parse().unwrap()), ["v6"]);
        assert!(m.longest("2001:db9::1".parse().unwrap()).is_none());
    }
}
