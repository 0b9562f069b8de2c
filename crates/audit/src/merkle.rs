//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.
//!
//! Leaf hash = SHA-256(0x00 ‖ entry), node hash = SHA-256(0x01 ‖ left ‖ right); the empty tree's root
//! is SHA-256(""). Written here rather than taken from `ct-merkle` because the log needs a tree over
//! stored leaf hashes with cached perfect subtrees (so proofs cost O(log² n) hash lookups, not O(n)
//! hashing), while `ct-merkle` keeps the leaves themselves in memory. `ct-merkle` is used in the tests
//! as the independent implementation our roots and proofs must agree with.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where a tree's perfect subtrees are kept: the hash of the subtree of height `h` covering leaves
/// `[i·2^h, (i+1)·2^h)`, for every such subtree the tree has completed. Roots and proofs of any
/// prefix are computed from these alone ([`root`], [`inclusion_proof`], [`consistency_proof`]), so a
/// tree kept on disk answers them with O(log² n) lookups and nothing else in memory.
pub trait Subtrees {
    /// Why a lookup failed (a disk error for a stored tree).
    type Error;

    /// Number of leaves.
    fn size(&self) -> u64;

    /// The hash of perfect subtree `index` at `height` (height 0: the leaf hashes).
    fn perfect(&self, height: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// MTH of leaves `[start, start + len)`. Every range the RFC's recursion asks for starts at a multiple
/// of its left part's size, so perfect parts are lookups.
fn subtree<S: Subtrees + ?Sized>(tree: &S, start: u64, len: u64) -> Result<Hash, S::Error> {
    debug_assert!(len >= 1 && start + len <= tree.size());
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let height = len.trailing_zeros();
        return tree.perfect(height, start >> height);
    }
    let k = split(len);
    Ok(node_hash(&subtree(tree, start, k)?, &subtree(tree, start + k, len - k)?))
}

/// The root of the first `size` leaves, or `None` if the tree is smaller.
pub fn root<S: Subtrees + ?Sized>(tree: &S, size: u64) -> Result<Option<Hash>, S::Error> {
    if size > tree.size() {
        return Ok(None);
    }
    Ok(Some(if size == 0 { empty_root() } else { subtree(tree, 0, size)? }))
}

/// The audit path for leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1), or `None`
/// unless `index < size <= tree.size()`.
pub fn inclusion_proof<S: Subtrees + ?Sized>(tree: &S, index: u64, size: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size || size > tree.size() {
        return Ok(None);
    }
    let mut proof = Vec::new();
    path(tree, index, 0, size, &mut proof)?;
    Ok(Some(proof))
}

fn path<S: Subtrees + ?Sized>(tree: &S, index: u64, start: u64, len: u64, out: &mut Vec<Hash>) -> Result<(), S::Error> {
    if len <= 1 {
        return Ok(());
    }
    let k = split(len);
    if index < k {
        path(tree, index, start, k, out)?;
        out.push(subtree(tree, start + k, len - k)?);
    } else {
        path(tree, index - k, start + k, len - k, out)?;
        out.push(subtree(tree, start, k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of the first `first` and `second` leaves (RFC 6962
/// §2.1.2), or `None` unless `0 < first <= second <= tree.size()`.
pub fn consistency_proof<S: Subtrees + ?Sized>(tree: &S, first: u64, second: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if first == 0 || first > second || second > tree.size() {
        return Ok(None);
    }
    let mut proof = Vec::new();
    subproof(tree, first, 0, second, true, &mut proof)?;
    Ok(Some(proof))
}

fn subproof<S: Subtrees + ?Sized>(tree: &S, m: u64, start: u64, len: u64, complete: bool, out: &mut Vec<Hash>) -> Result<(), S::Error> {
    if m == len {
        if !complete {
            out.push(subtree(tree, start, len)?);
        }
        return Ok(());
    }
    let k = split(len);
    if m <= k {
        subproof(tree, m, start, k, complete, out)?;
        out.push(subtree(tree, start + k, len - k)?);
    } else {
        subproof(tree, m - k, start + k, len - k, false, out)?;
        out.push(subtree(tree, start, k)?);
    }
    Ok(())
}

/// The right edge of a tree: for each height, the hash of the last perfect subtree there if it has
/// no sibling yet. Appending a leaf needs only this (O(log n) hashes), whatever the tree is kept in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `open[h]`: the unpaired subtree at height `h`, present where bit `h` of `size` is set.
    open: Vec<Option<Hash>>,
}

impl Frontier {
    /// The frontier of the first `size` leaves of `tree`, from its stored perfect subtrees (which
    /// must reach that far).
    pub fn of<S: Subtrees + ?Sized>(tree: &S, size: u64) -> Result<Frontier, S::Error> {
        let mut open = Vec::new();
        for height in 0..(64 - size.leading_zeros()) {
            open.push(if size >> height & 1 == 1 { Some(tree.perfect(height, (size >> height) - 1)?) } else { None });
        }
        Ok(Frontier { size, open })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf and returns every perfect subtree it completes, lowest first, as
    /// `(height, index, hash)`, the leaf itself included.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let mut completed = vec![(0, self.size, leaf)];
        let mut carry = leaf;
        let mut height = 0usize;
        loop {
            if self.open.len() == height {
                self.open.push(None);
            }
            match self.open[height].take() {
                Some(left) => {
                    carry = node_hash(&left, &carry);
                    height += 1;
                    completed.push((height as u32, ((self.size + 1) >> height) - 1, carry));
                }
                None => {
                    self.open[height] = Some(carry);
                    break;
                }
            }
        }
        self.size += 1;
        completed
    }

    /// The root of the whole tree: the open subtrees folded from the lowest up.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for hash in self.open.iter().flatten() {
            acc = Some(match acc {
                None => *hash,
                Some(right) => node_hash(hash, &right),
            });
        }
        acc.unwrap_or_else(empty_root)
    }
}

/// An append-only tree over leaf hashes, every perfect subtree kept in memory. The offline verifier
/// builds one from an export; the server's log keeps its tree on disk instead.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[h][i]` is the hash of the perfect subtree of height `h` covering leaves
    /// `[i·2^h, (i+1)·2^h)`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl Subtrees for Tree {
    type Error = std::convert::Infallible;

    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    fn perfect(&self, height: u32, index: u64) -> Result<Hash, Self::Error> {
        Ok(self.levels[height as usize][index as usize])
    }
}

fn infallible<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree { levels: vec![Vec::new()] }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        Subtrees::size(self)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(index as usize).copied()
    }

    /// Appends a leaf hash, completing every subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut height = 0;
        while self.levels[height].len().is_multiple_of(2) {
            let n = self.levels[height].len();
            let parent = node_hash(&self.levels[height][n - 2], &self.levels[height][n - 1]);
            if self.levels.len() == height + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[height + 1].push(parent);
            height += 1;
        }
    }

    /// The root of the first `size` leaves.
    ///
    /// # Panics
    /// If `size` exceeds the tree.
    pub fn root(&self, size: u64) -> Hash {
        infallible(root(self, size)).unwrap_or_else(|| panic!("root of {size} leaves asked of a tree of {}", self.size()))
    }

    /// The audit path for leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        infallible(inclusion_proof(self, index, size))
    }

    /// The consistency proof between the trees of the first `first` and `second` leaves
    /// (RFC 6962 §2.1.2).
    pub fn consistency_proof(&self, first: u64, second: u64) -> Option<Vec<Hash>> {
        infallible(consistency_proof(self, first, second))
    }
}

/// Checks an audit path (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Checks a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // Every tree extends the empty tree.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else { return false };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
    use proptest::prelude::*;

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
    }

    fn both(n: usize) -> (Tree, MemoryBackedTree<Sha256, Vec<u8>>) {
        let mut ours = Tree::new();
        let mut theirs = MemoryBackedTree::new();
        for e in entries(n) {
            ours.push(leaf_hash(&e));
            theirs.push(e);
        }
        (ours, theirs)
    }

    /// RFC 6962 leaf and node hashing of known inputs, computed independently with sha2.
    #[test]
    fn hashing_uses_the_rfc_domain_separation() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // SHA-256 of the single byte 0x00: the leaf hash of an empty entry.
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut manual = Sha256::new();
        manual.update([1u8]);
        manual.update(a);
        manual.update(b);
        assert_eq!(node_hash(&a, &b), <[u8; 32]>::from(manual.finalize()));
    }

    #[test]
    fn roots_agree_with_ct_merkle_for_every_size_up_to_70() {
        for n in 0..=70 {
            let (ours, theirs) = both(n);
            assert_eq!(&ours.root(n as u64)[..], &theirs.root().as_bytes()[..], "size {n}");
        }
    }

    #[test]
    fn inclusion_proofs_agree_with_ct_merkle_and_verify_both_ways() {
        for n in 1..=40usize {
            let (ours, theirs) = both(n);
            let root = ours.root(n as u64);
            let their_root = theirs.root();
            for i in 0..n {
                let proof = ours.inclusion_proof(i as u64, n as u64).unwrap();
                let flat: Vec<u8> = proof.iter().flatten().copied().collect();
                let their_proof = theirs.prove_inclusion(i);
                assert_eq!(flat, their_proof.as_bytes(), "size {n} index {i}");
                assert!(verify_inclusion(i as u64, n as u64, &ours.leaf(i as u64).unwrap(), &proof, &root));
                let parsed = InclusionProof::<Sha256>::from_bytes(flat);
                assert!(their_root.verify_inclusion(&entries(n)[i], i as u64, &parsed).is_ok());
            }
        }
    }

    #[test]
    fn consistency_proofs_agree_with_ct_merkle_and_verify_both_ways() {
        for n in 1..=40usize {
            let (ours, _) = both(n);
            for m in 1..=n {
                let (_, old) = both(m);
                let (_, theirs) = both(n);
                let proof = ours.consistency_proof(m as u64, n as u64).unwrap();
                let flat: Vec<u8> = proof.iter().flatten().copied().collect();
                let their_proof = theirs.prove_consistency(n - m);
                assert_eq!(flat, their_proof.as_bytes(), "{m} -> {n}");
                assert!(verify_consistency(m as u64, n as u64, &ours.root(m as u64), &ours.root(n as u64), &proof), "{m} -> {n}");
                let parsed = ConsistencyProof::<Sha256>::try_from_bytes(flat).unwrap();
                let old_root = RootHash::<Sha256>::new(*old.root().as_bytes(), m as u64);
                assert!(theirs.root().verify_consistency(&old_root, &parsed).is_ok(), "{m} -> {n}");
            }
        }
    }

    #[test]
    fn a_frontier_completes_the_same_subtrees_and_root_as_the_whole_tree() {
        let mut tree = Tree::new();
        let mut frontier = Frontier::default();
        for (i, e) in entries(300).iter().enumerate() {
            let leaf = leaf_hash(e);
            let completed = frontier.push(leaf);
            tree.push(leaf);
            for (height, index, hash) in completed {
                assert_eq!(tree.perfect(height, index).unwrap(), hash, "leaf {i}: height {height} index {index}");
            }
            assert_eq!(frontier.root(), tree.root(i as u64 + 1), "size {}", i + 1);
            assert_eq!(Frontier::of(&tree, tree.size()).unwrap(), frontier, "size {}", i + 1);
        }
        assert_eq!(Frontier::default().root(), empty_root());
    }

    proptest! {
        /// Any tampering with a proof, a leaf or a root is rejected.
        #[test]
        fn tampered_proofs_fail(n in 2u64..200, seed in any::<u64>(), flip in 0usize..32) {
            let (tree, _) = both(n as usize);
            let index = seed % n;
            let root = tree.root(n);
            let mut proof = tree.inclusion_proof(index, n).unwrap();
            prop_assert!(verify_inclusion(index, n, &tree.leaf(index).unwrap(), &proof, &root));
            let mut wrong_leaf = tree.leaf(index).unwrap();
            wrong_leaf[flip] ^= 1;
            prop_assert!(!verify_inclusion(index, n, &wrong_leaf, &proof, &root));
            let at = (seed as usize / 7) % proof.len();
            proof[at][flip] ^= 1;
            prop_assert!(!verify_inclusion(index, n, &tree.leaf(index).unwrap(), &proof, &root));

            let m = 1 + seed % n;
            let consistency = tree.consistency_proof(m, n).unwrap();
            prop_assert!(verify_consistency(m, n, &tree.root(m), &root, &consistency));
            let mut other = tree.root(m);
            other[flip] ^= 1;
            prop_assert!(!verify_consistency(m, n, &other, &root, &consistency));
        }
    }
}
