"""No two purposes of the project draw from the same random stream."""

from __future__ import annotations

import itertools

import numpy as np

import winit_bench as wb
from winit_bench import streams


def test_no_two_purposes_share_a_stream():
    seen = {}
    for seed, layer in itertools.product(range(0, 60, 7), range(0, 1100)):
        for purpose in streams.PURPOSES:
            ident = streams.identity(purpose, seed, layer)
            owner = seen.setdefault(ident, (purpose, seed, layer if purpose in ("weights", "biases") else None))
            assert owner[0] == purpose, f"{purpose} (seed {seed}, layer {layer}) draws the stream of {owner}"


def test_each_named_stream_is_the_one_its_identity_says():
    for purpose in streams.PURPOSES:
        entropy, key = streams.identity(purpose, 3, 5)
        fn = getattr(streams, purpose)
        gen = fn(3, 5) if purpose in ("weights", "biases") else fn(3)
        ref = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))
        assert gen.standard_normal() == ref.standard_normal()


def test_the_library_draws_from_the_named_streams():
    w = wb.initialize("normal", (4, 3), seed=9, layer=2, std=1.0)
    np.testing.assert_array_equal(w, streams.weights(9, 2).standard_normal((4, 3)))
    net = wb.MLP([3, 4], "relu", "normal", seed=9, dtype="float64", bias_std=1.0, std=1.0)
    np.testing.assert_array_equal(net.weights()[0][1], streams.biases(9, 0).standard_normal(4))
