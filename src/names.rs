//! The one order of names listed to people: natural order, where runs of digits are
//! compared as numbers (`a1, a2, a10`), used by every listing (status, plans, checks,
//! graphs, completions).

use std::cmp::Ordering;

/// Compares two names in natural order: runs of ASCII digits as numbers (`a2` before
/// `a10`, `r1-eth2` before `r1-eth10`), everything else byte by byte. Names that are
/// equal that way (`a01`, `a1`) fall back to plain order, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (nx, rest_x) = digits(x);
                let (ny, rest_y) = digits(y);
                let (nx, ny) = (without_zeros(nx), without_zeros(ny));
                // Without leading zeros, the longer run is the bigger number.
                match nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny)) {
                    Ordering::Equal => (x, y) = (rest_x, rest_y),
                    other => return other,
                }
            }
            (Some(c), Some(d)) => match c.cmp(d) {
                Ordering::Equal => (x, y) = (&x[1..], &y[1..]),
                other => return other,
            },
        }
    }
}

/// Sorts names in natural order ([`natural_cmp`]).
pub fn sort_natural<S: AsRef<str>>(names: &mut [S]) {
    names.sort_by(|a, b| natural_cmp(a.as_ref(), b.as_ref()));
}

/// The leading run of digits of `s`, and the rest.
fn digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn without_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|&&c| c == b'0').count();
    &s[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(ToString::to_string).collect();
        sort_natural(&mut v);
        v
    }

    #[test]
    fn numbers_are_compared_as_numbers() {
        assert_eq!(sorted(&["a10", "a2", "a1"]), ["a1", "a2", "a10"]);
        assert_eq!(
            sorted(&["r1-eth10", "r1-eth2", "r10-eth0", "r2-eth1"]),
            ["r1-eth2", "r1-eth10", "r2-eth1", "r10-eth0"]
        );
        assert_eq!(
            sorted(&["h100", "h99", "h", "g5"]),
            ["g5", "h", "h99", "h100"]
        );
        // Numbers past u64 are still compared by value.
        assert_eq!(
            sorted(&["n100000000000000000000", "n99999999999999999999"]),
            ["n99999999999999999999", "n100000000000000000000"]
        );
    }

    #[test]
    fn the_order_is_total() {
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Less);
        assert_eq!(natural_cmp("a1", "a01"), Ordering::Greater);
        assert_eq!(natural_cmp("a1", "a1"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "a0"), Ordering::Less);
        assert_eq!(natural_cmp("web", "web1"), Ordering::Less);
        assert_eq!(natural_cmp("Web", "web"), Ordering::Less);
        assert_eq!(natural_cmp("é2", "é10"), Ordering::Less);
        // Antisymmetric over a mixed list.
        let names = [
            "a", "a0", "a00", "a1", "a01", "a1b", "a10", "b", "1", "01", "10",
        ];
        for x in names {
            for y in names {
                assert_eq!(natural_cmp(x, y), natural_cmp(y, x).reverse(), "{x} {y}");
            }
        }
    }
}
