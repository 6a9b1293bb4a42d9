"""rjenkins string and integer hashes against spec/crush.md §1.3 and §3 vectors."""
import numpy as np
import pytest

from cluster.rjenkins import (
    crush_hash32_2, crush_hash32_3, crush_hash32_4, crush_hash32_5, hash32_2_np,
    hash32_3_np, hash32_3_rows, str_hash_rjenkins,
)

STRING_VECTORS = [
    (b"a", 0x29eec818), (b"ab", 0x9879ac41), (b"abc", 0x251e4793), (b"abcd", 0x5ae61fa5),
    (b"abcde", 0x03a96866), (b"abcdef", 0xde922732), (b"abcdefg", 0xb9e6762c),
    (b"abcdefgh", 0x053f775e), (b"abcdefghi", 0x3a7b0a5f), (b"abcdefghij", 0xc9cac242),
    (b"abcdefghijk", 0xe52b8e4c), (b"abcdefghijkl", 0x0b1b3ea5),
    (b"abcdefghijklm", 0x3122b031), (b"abcdefghijklmnopqrstuvwxyz", 0xc52fcee8),
    (b"foo", 0x7fc1f406), (b"bar", 0xefe6384b), (b"test-object-1", 0x74dc35e2),
    (b"2.txt", 0x5a885de9), (b"rbd_directory", 0x30a98c1c), (b"rbd_header.abc", 0x913abdc2),
    (b"rbd_header.1234567890ab", 0x8d24fa67),
    (b"rbd_data.1234567890ab.0000000000000000", 0x12570f4f),
    ("été".encode(), 0x9849f513), (b"myns\x1ffoo", 0xa9011cd6), (b"ns\x1ffoo", 0xac17f0b6),
    (b"x\x1ffoo", 0xc2177f38), (b"ns2\x1fbar", 0x76a66f86),
]

HASH2_VECTORS = [
    ((0, 0), 0x19ad4ce9), ((1, 0), 0x7ea23a7b), ((0, 1), 0x0573d827), ((1234, 1), 0x2da149a8),
    ((6, 1), 0xd77484f9), ((123456789, 42), 0x0a2cbdc4), ((0xffffffff, 0xffffffff), 0x9f3c11cc),
]

HASH3_VECTORS = [
    ((0, 0, 0), 0x7a3bf3b2), ((1, 2, 3), 0x735ad42b), ((1234, 0, 0), 0x3958411c),
    ((1234, 1, 0), 0xe0b69e14), ((1234, 2, 0), 0xb0d12734),
    ((0xffffffff, -2, 5), 0x8de788aa), ((7, -1, 1), 0x690f2c33),
]


@pytest.mark.parametrize("data,expected", STRING_VECTORS)
def test_str_hash_rjenkins_vectors(data, expected):
    assert str_hash_rjenkins(data) == expected


def test_str_hash_docs_example_is_not_a_vector():
    # The Ceph docs' "test-object-1 -> 0.d1743484" is wrong (§1.3 warning).
    assert str_hash_rjenkins(b"test-object-1") != 0xd1743484


def test_str_hash_empty_and_bytes_like():
    assert str_hash_rjenkins(b"") == str_hash_rjenkins(bytearray()) == \
        str_hash_rjenkins(memoryview(b""))
    with pytest.raises(TypeError):
        str_hash_rjenkins("foo")


@pytest.mark.parametrize("args,expected", HASH2_VECTORS)
def test_hash2_vectors(args, expected):
    assert crush_hash32_2(*args) == expected


@pytest.mark.parametrize("args,expected", HASH3_VECTORS)
def test_hash3_vectors(args, expected):
    assert crush_hash32_3(*args) == expected


def test_negative_inputs_hash_as_u32():
    assert crush_hash32_3(7, -1, 1) == crush_hash32_3(7, 0xffffffff, 1)
    assert crush_hash32_4(1, -2, 3, -4) == crush_hash32_4(1, 0xfffffffe, 3, 0xfffffffc)
    assert crush_hash32_5(1, 2, 3, 4, -5) == crush_hash32_5(1, 2, 3, 4, 0xfffffffb)
    assert 0 <= crush_hash32_4(1, 2, 3, 4) < 2 ** 32
    assert crush_hash32_4(1, 2, 3, 4) != crush_hash32_4(1, 2, 4, 3)


def test_numpy_hashes_match_scalar():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2 ** 32, 500, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 2 ** 32, 500, dtype=np.uint64).astype(np.uint32)
    c = rng.integers(0, 64, 500).astype(np.uint32)
    h2 = hash32_2_np(a, b)
    h3 = hash32_3_np(a, b, c)
    for i in range(0, 500, 7):
        assert int(h2[i]) == crush_hash32_2(int(a[i]), int(b[i]))
        assert int(h3[i]) == crush_hash32_3(int(a[i]), int(b[i]), int(c[i]))
    # signed inputs and 0-d broadcasting
    assert int(hash32_3_np(np.array([0xffffffff], np.uint32), -2, 5)[0]) == 0x8de788aa
    assert int(hash32_2_np(123456789, 42)) == 0x0a2cbdc4


@pytest.mark.parametrize("shared_ids", [True, False])
def test_hash3_rows_matches_hash3_np(shared_ids):
    rng = np.random.default_rng(11)
    n, k = 40000, 7                       # several blocks, last one partial
    x = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    r = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    ids = rng.integers(0, 2 ** 32, k if shared_ids else (n, k), dtype=np.uint64).astype(np.uint32)
    expected = hash32_3_np(x[:, None], ids, r[:, None])
    assert np.array_equal(hash32_3_rows(x, ids, r), expected)
    assert hash32_3_rows(x[:0], ids if shared_ids else ids[:0], r[:0]).shape == (0, k)
