//! `SmallMap` and `SmallSet` against the `BTreeMap` and `BTreeSet` they stand for.

use std::collections::{BTreeMap, BTreeSet};

use super::{FEW, SmallMap, SmallSet};

/// A fixed pseudo-random sequence (xorshift), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn same(small: &SmallMap<u64, u64>, big: &BTreeMap<u64, u64>) {
    assert_eq!(small.len(), big.len());
    assert!(small.iter().eq(big.iter()), "{small:?} != {big:?}");
    assert!(small.iter().rev().eq(big.iter().rev()));
    assert!(small.keys().eq(big.keys()));
}

#[test]
fn behaves_like_a_btree_map_across_the_boundary() {
    for seed in 1..40 {
        let mut rng = Rng(seed * 7919);
        let span = [4, 2 * FEW as u64, 200][seed as usize % 3];
        let mut small = SmallMap::new();
        let mut big = BTreeMap::new();
        for _ in 0..600 {
            let k = rng.next(span);
            match rng.next(10) {
                0..=4 => assert_eq!(small.insert(k, seed), big.insert(k, seed)),
                5 | 6 => assert_eq!(small.remove(&k), big.remove(&k)),
                7 => {
                    small.retain(|key, _| key % 3 != k % 3);
                    big.retain(|key, _| key % 3 != k % 3);
                }
                8 => {
                    if let (Some(a), Some(b)) = (small.get_mut(&k), big.get_mut(&k)) {
                        *a += 1;
                        *b += 1;
                    }
                }
                9 if k.is_multiple_of(2) => {
                    *small.get_or_insert_with(k, || 100) += 1;
                    *big.entry(k).or_insert_with(|| 100) += 1;
                }
                _ => assert_eq!(small.get(&k), big.get(&k)),
            }
            same(&small, &big);
        }
    }
}

#[test]
fn stays_a_vector_of_its_own_size_while_small() {
    let mut m = SmallMap::new();
    for k in [5, 1, 3] {
        m.insert(k, k);
    }
    match &m.0 {
        super::Repr::Few(v) => {
            assert_eq!(v.capacity(), 3);
            assert_eq!(v.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [1, 3, 5]);
        }
        super::Repr::Many(_) => panic!("three entries made a B-tree"),
    }
    for k in 10..10 + FEW as u64 {
        m.insert(k, k);
    }
    assert!(matches!(m.0, super::Repr::Many(_)));
    assert_eq!(m.len(), FEW + 3);
}

#[test]
fn collecting_keeps_the_last_of_equal_keys_like_a_btree_map() {
    for n in [3, FEW + 5] {
        let entries: Vec<(u64, u64)> = (0..n as u64).map(|i| (i % 4, i)).collect();
        let small: SmallMap<u64, u64> = entries.iter().copied().collect();
        let big: BTreeMap<u64, u64> = entries.iter().copied().collect();
        same(&small, &big);
    }
}

#[test]
fn equality_and_serde_ignore_the_representation() {
    let few: SmallMap<u64, u64> = (0..3).map(|i| (i, i)).collect();
    let mut many: SmallMap<u64, u64> = (0..FEW as u64 + 1).map(|i| (i, i)).collect();
    many.retain(|k, _| *k < 3);
    assert!(matches!(many.0, super::Repr::Many(_)));
    assert_eq!(few, many);
    let json = serde_json::to_string(&few).unwrap();
    assert_eq!(json, serde_json::to_string(&many).unwrap());
    assert_eq!(json, r#"{"0":0,"1":1,"2":2}"#);
    let back: SmallMap<u64, u64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, few);
}

#[test]
fn a_set_behaves_like_a_btree_set() {
    let mut rng = Rng(12345);
    let mut small = SmallSet::new();
    let mut big = BTreeSet::new();
    for _ in 0..500 {
        let v = rng.next(3 * FEW as u64);
        if rng.next(3) == 0 {
            assert_eq!(small.remove(&v), big.remove(&v));
        } else {
            assert_eq!(small.insert(v), big.insert(v));
        }
        assert!(small.iter().eq(big.iter()));
    }
    let other: SmallSet<u64> = (0..FEW as u64).collect();
    let other_big: BTreeSet<u64> = (0..FEW as u64).collect();
    assert!(small.difference(&other).eq(big.difference(&other_big)));
    assert_eq!(
        serde_json::to_string(&small).unwrap(),
        serde_json::to_string(&big).unwrap()
    );
}
