"""Build tests/data/init_2d_golden.json: every scheme's 2-D draws and moments as they were before kernel shapes.

Run on the code before that change (commit 808e75a, e.g. ``git archive 808e75a winit_bench | tar -x -C /tmp/base``):
``PYTHONPATH=/tmp/base python tests/data/make_init_2d_golden.py tests/data/init_2d_golden.json``. SHA-256 prefixes
of the arrays' bytes; the QR-based schemes keep their values (compared to 1e-12: LAPACK builds differ in the last bit).
"""
import hashlib, json, sys
import numpy as np
import winit_bench as wb

QR = {"orthogonal", "edge_of_chaos_orthogonal"}
ACT = {"kumar_normal": "tanh", "edge_of_chaos": "tanh", "edge_of_chaos_orthogonal": "tanh"}
PARAMS = {
    "constant": [{}, {"value": 0.3}],
    "uniform": [{}, {"a": -1.0, "b": 2.0}],
    "normal": [{}, {"mean": 0.5, "std": 2.0}],
    "truncated_normal": [{}, {"mean": 0.1, "std": 0.7, "a": -1.0, "b": 3.0}],
    "xavier_normal": [{}, {"gain": 1.7}], "xavier_uniform": [{}, {"gain": 1.7}],
    "he_normal": [{}, {"mode": "fan_out"}, {"mode": "fan_avg", "slope": 0.2}, {"gain": 0.9}],
    "he_uniform": [{}, {"mode": "fan_out"}, {"mode": "fan_avg", "slope": 0.2}, {"gain": 0.9}],
    "orthogonal": [{}, {"gain": 1.3}], "identity": [{}, {"gain": -2.0}],
    "sparse": [{}, {"sparsity": 0.7, "std": 0.3}],
    "variance_scaling": [{"scale": s, "mode": m, "distribution": d} for s in (1.0, 2.0) for m in ("fan_in", "fan_out", "fan_avg")
                         for d in ("truncated_normal", "normal", "uniform", "untruncated_normal")],
}
SHAPES = [(3, 5), (5, 3), (4, 4), (1, 7), (64, 48)]
cases = []
for name in wb.initializer_names(aliases=False):
    for p in PARAMS.get(name, [{}]):
        for shape in SHAPES:
            for dtype in ("float64", "float32"):
                for seed, layer in (((0, 0), (7, 2)) if dtype == 'float64' else ((7, 2),)):
                    acts = [ACT.get(name)] + (["relu", "leaky_relu"] if name.startswith("he_") else [])
                    for act in acts:
                        w = wb.initialize(name, shape, seed=seed, layer=layer, activation=act, dtype=dtype, **p)
                        m = wb.initializers.weight_moments(name, shape, act, layer=layer, **p)
                        c = dict(name=name, shape=list(shape), dtype=dtype, seed=seed, layer=layer, activation=act, params=p,
                                 moments=[m.mean, m.var, m.not_iid])
                        if name in QR:
                            c["values"] = w.astype(np.float64).ravel().tolist() if w.size <= 64 else None
                            c["norm"] = float(np.linalg.norm(w.astype(np.float64)))
                        else:
                            c["sha256"] = hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()[:16]
                        cases.append(c)
json.dump(cases, open(sys.argv[1], "w"), separators=(',', ':'))
open(sys.argv[1], 'a').write('\n')
print(len(cases))
