"""The Merkle tree against the RFC 6962 vectors of the Certificate Transparency reference code."""

from __future__ import annotations

import hashlib

import pytest

from tollhouse.receipts.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    root_from_inclusion,
    root_of,
    subtree_from_leaves,
    verify_consistency,
)

# certificate-transparency merkle_tree_test.cc (also trillian, transparency-dev/merkle testonly).
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PATHS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (0, 1, []),
]  # fmt: skip
HASHED = [leaf_hash(bytes.fromhex(x)) for x in LEAVES]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert Frontier().root() == EMPTY_ROOT


def test_roots_match_the_vectors_naive_and_streaming() -> None:
    f = Frontier()
    for n in range(1, 9):
        f.append(HASHED[n - 1])
        assert root_of(HASHED[:n]).hex() == ROOTS[n - 1]
        assert f.root().hex() == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), PATHS)
def test_inclusion_paths_match_the_vectors(index: int, size: int, path: list[str]) -> None:
    got = inclusion_path(index, size, subtree_from_leaves(HASHED[:size]))
    assert [p.hex() for p in got] == path
    assert root_from_inclusion(index, size, HASHED[index], got).hex() == ROOTS[size - 1]


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def proves(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, path) == root
    except ValueError:  # a path of the wrong length for that index
        return False


def test_every_inclusion_proof_up_to_40_leaves_and_no_tampered_one() -> None:
    all_leaves = leaves(40)
    for size in range(1, 41):
        tree = subtree_from_leaves(all_leaves[:size])
        root = root_of(all_leaves[:size])
        for i in range(size):
            path = inclusion_path(i, size, tree)
            assert root_from_inclusion(i, size, all_leaves[i], path) == root
            if path:  # any flipped node, dropped node or wrong index leads elsewhere
                bad = [*path[:-1], bytes(32)]
                assert root_from_inclusion(i, size, all_leaves[i], bad) != root
                with pytest.raises(ValueError):
                    root_from_inclusion(i, size, all_leaves[i], path[:-1] + path[-1:] * 2)
            if size > 1:
                assert not proves((i + 1) % size, size, all_leaves[i], path, root)


def test_consistency_vectors() -> None:
    # certificate-transparency merkle_tree_test.cc: (1, 8), (6, 8), (2, 5).
    tree = subtree_from_leaves(HASHED)
    assert [p.hex()[:8] for p in consistency_path(1, 8, tree)] == ["96a296d2", "5f083f0a", "6b47aaf2"]
    assert [p.hex()[:8] for p in consistency_path(6, 8, tree)] == ["0ebc5d34", "ca854ea1", "d37ee418"]
    assert [p.hex()[:8] for p in consistency_path(2, 5, tree)] == ["5f083f0a", "bc1a0643"]


def test_every_consistency_proof_up_to_33_leaves_and_forks_fail() -> None:
    all_leaves = leaves(33)
    forked = [*all_leaves[:10], leaf_hash(b"forged"), *all_leaves[11:]]
    for new in range(1, 34):
        tree = subtree_from_leaves(all_leaves[:new])
        new_root = root_of(all_leaves[:new])
        for old in range(1, new + 1):
            proof = consistency_path(old, new, tree)
            old_root = root_of(all_leaves[:old])
            assert verify_consistency(old, new, old_root, new_root, proof)
            assert not verify_consistency(old, new, bytes(32), new_root, proof)
            if old > 10:  # a fork inside the old tree: its root differs, no proof joins the two
                assert not verify_consistency(old, new, root_of(forked[:old]), new_root, proof)
            if proof:
                assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(5, 4, EMPTY_ROOT, EMPTY_ROOT, [])


def test_frontier_extend_equals_append_for_every_cut() -> None:
    """The bulk path verify uses lands on the same compact range as one append per leaf."""
    import os
    import random

    from tollhouse.receipts.merkle import Frontier, root_of

    rng = random.Random(9162)
    for n in [0, 1, 2, 3, 7, 8, 9, 64, 65, 200, 1023, 1025]:
        leaves = [os.urandom(32) for _ in range(n)]
        one = Frontier()
        for leaf in leaves:
            one.append(leaf)
        bulk = Frontier()
        i = 0
        while i < n:
            j = rng.randint(i, n)
            bulk.extend(leaves[i:j])
            i = j
            step = Frontier()
            for leaf in leaves[:i]:
                step.append(leaf)
            assert (bulk.stack, bulk.size) == (step.stack, step.size)
        assert bulk.root() == one.root() == root_of(leaves)


def test_frontier_push_refuses_a_subtree_that_would_not_be_aligned() -> None:
    import pytest

    from tollhouse.receipts.merkle import Frontier

    f = Frontier()
    f.extend([bytes(32)] * 3)
    for k in (1, 2, 5, -1):
        with pytest.raises(ValueError, match="cannot follow 3 leaves"):
            f.push(bytes(32), k)
    with pytest.raises(ValueError):
        f.push(b"short", 0)
    assert f.size == 3  # nothing was taken
    f.push(bytes(32), 0)
    f.push(bytes(32), 2)
    assert f.size == 8 and len(f.stack) == 1
