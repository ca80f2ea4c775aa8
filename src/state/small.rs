//! `SmallMap` and `SmallSet`: ordered maps and sets that cost little memory while they
//! hold few entries, for the collections of one namespace and one link.
//!
//! A `BTreeMap` with a single entry allocates a whole node with room for eleven: for a
//! host, whose maps hold one or two links, addresses and routes each, that is most of
//! what its state weighs (measured at 10,000 hosts: about 2 KB of node per namespace,
//! in the desired and in the live state both). These keep up to [`FEW`] entries in a
//! vector sorted by key and of exactly their size, and turn into a `BTreeMap` past that,
//! so that the fabric namespace (one link per port of the lab) stays quick to fill.
//! Iteration is in key order either way, like the `BTreeMap` they replace.

use std::borrow::Borrow;
use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::slice;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most entries kept in a sorted vector: more turn the map into a B-tree.
pub const FEW: usize = 16;

/// An ordered map, small in memory while it holds at most [`FEW`] entries.
#[derive(Clone)]
pub struct SmallMap<K, V>(Repr<K, V>);

#[derive(Clone)]
enum Repr<K, V> {
    /// Sorted by key, each key once, capacity equal to length.
    Few(Vec<(K, V)>),
    Many(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Repr::Few(Vec::new()))
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Few(v) => v.len(),
            Repr::Many(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `key` is in the vector, or where it would go.
    fn find<Q>(v: &[(K, V)], key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        v.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.0 {
            Repr::Few(v) => Self::find(v, key).ok().map(|i| &v[i].1),
            Repr::Many(m) => m.get(key),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Repr::Few(v) => Self::find(v, key).ok().map(|i| &mut v[i].1),
            Repr::Many(m) => m.get_mut(key),
        }
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts `value` at `key`, returning the value that was there.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match &mut self.0 {
            Repr::Few(v) => match Self::find(v, &key) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(i) if v.len() < FEW => {
                    // One more slot only: most maps stay at one or two entries.
                    v.reserve_exact(1);
                    v.insert(i, (key, value));
                    None
                }
                Err(_) => {
                    let mut m: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    self.0 = Repr::Many(m);
                    None
                }
            },
            Repr::Many(m) => m.insert(key, value),
        }
    }

    /// The value at `key`, made by `make` first if there is none (`BTreeMap`'s
    /// `entry(key).or_insert_with(make)`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if let Repr::Few(v) = &mut self.0
            && v.len() >= FEW
            && Self::find(v, &key).is_err()
        {
            self.0 = Repr::Many(std::mem::take(v).into_iter().collect());
        }
        match &mut self.0 {
            Repr::Few(v) => {
                let i = match Self::find(v, &key) {
                    Ok(i) => i,
                    Err(i) => {
                        v.reserve_exact(1);
                        v.insert(i, (key, make()));
                        i
                    }
                };
                &mut v[i].1
            }
            Repr::Many(m) => m.entry(key).or_insert_with(make),
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.0 {
            Repr::Few(v) => Self::find(v, key).ok().map(|i| v.remove(i)),
            Repr::Many(m) => m.remove_entry(key),
        }
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        match &mut self.0 {
            Repr::Few(v) => {
                v.retain_mut(|(k, v)| keep(k, v));
                v.shrink_to_fit();
            }
            Repr::Many(m) => m.retain(keep),
        }
    }

    pub fn clear(&mut self) {
        self.0 = Repr::Few(Vec::new());
    }

    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.0 {
            Repr::Few(v) => Iter::Few(v.iter()),
            Repr::Many(m) => Iter::Many(m.iter()),
        }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        match &mut self.0 {
            Repr::Few(v) => IterMut::Few(v.iter_mut()),
            Repr::Many(m) => IterMut::Many(m.iter_mut()),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator + Clone {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.iter_mut().map(|(_, v)| v)
    }

    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.into_iter().map(|(k, _)| k)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.into_iter().map(|(_, v)| v)
    }
}

/// Iterates a [`SmallMap`] in key order.
pub enum Iter<'a, K, V> {
    Few(slice::Iter<'a, (K, V)>),
    Many(btree_map::Iter<'a, K, V>),
}

impl<K, V> Clone for Iter<'_, K, V> {
    fn clone(&self) -> Self {
        match self {
            Iter::Few(i) => Iter::Few(i.clone()),
            Iter::Many(i) => Iter::Many(i.clone()),
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(i) => i.next().map(|(k, v)| (k, v)),
            Iter::Many(i) => i.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Few(i) => i.size_hint(),
            Iter::Many(i) => i.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(i) => i.next_back().map(|(k, v)| (k, v)),
            Iter::Many(i) => i.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

/// Iterates a [`SmallMap`] in key order, its values mutable.
pub enum IterMut<'a, K, V> {
    Few(slice::IterMut<'a, (K, V)>),
    Many(btree_map::IterMut<'a, K, V>),
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Few(i) => i.next().map(|(k, v)| (&*k, v)),
            IterMut::Many(i) => i.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            IterMut::Few(i) => i.size_hint(),
            IterMut::Many(i) => i.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for IterMut<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Few(i) => i.next_back().map(|(k, v)| (&*k, v)),
            IterMut::Many(i) => i.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}

/// Takes a [`SmallMap`] apart in key order.
pub enum IntoIter<K, V> {
    Few(std::vec::IntoIter<(K, V)>),
    Many(btree_map::IntoIter<K, V>),
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IntoIter::Few(i) => i.next(),
            IntoIter::Many(i) => i.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            IntoIter::Few(i) => i.size_hint(),
            IntoIter::Many(i) => i.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for IntoIter<K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            IntoIter::Few(i) => i.next_back(),
            IntoIter::Many(i) => i.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}

impl<K: Ord, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;
    fn into_iter(self) -> IntoIter<K, V> {
        match self.0 {
            Repr::Few(v) => IntoIter::Few(v.into_iter()),
            Repr::Many(m) => IntoIter::Many(m.into_iter()),
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a mut SmallMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;
    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    /// Like a `BTreeMap`'s: of entries with the same key, the last is kept.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut v: Vec<(K, V)> = iter.into_iter().collect();
        if v.len() > FEW {
            return SmallMap(Repr::Many(v.into_iter().collect()));
        }
        // A stable sort keeps equal keys in their order; the last of each run wins.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(K, V)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        out.shrink_to_fit();
        SmallMap(Repr::Few(out))
    }
}

impl<K: Ord, V> Extend<(K, V)> for SmallMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V> From<BTreeMap<K, V>> for SmallMap<K, V> {
    fn from(m: BTreeMap<K, V>) -> Self {
        if m.len() > FEW {
            SmallMap(Repr::Many(m))
        } else {
            SmallMap(Repr::Few(m.into_iter().collect()))
        }
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for SmallMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K, Q, V> std::ops::Index<&Q> for SmallMap<K, V>
where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = V;
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: Ord + PartialEq, V: PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord + Eq, V: Eq> Eq for SmallMap<K, V> {}

impl<K: Ord + Hash, V: Hash> Hash for SmallMap<K, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for entry in self {
            entry.hash(state);
        }
    }
}

impl<K: Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord + Serialize, V: Serialize> Serialize for SmallMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for SmallMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(Self::from)
    }
}

impl<K: schemars::JsonSchema, V: schemars::JsonSchema> schemars::JsonSchema for SmallMap<K, V> {
    fn inline_schema() -> bool {
        <BTreeMap<K, V>>::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<K, V>>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<K, V>>::json_schema(generator)
    }
}

mod set;

pub use set::SmallSet;

#[cfg(test)]
#[path = "small_tests.rs"]
mod tests;
