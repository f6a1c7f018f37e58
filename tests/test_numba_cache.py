"""Numba's disk cache of the package's kernels goes whole when any of their sources changes
(numba itself only notices a change in a cached function's own file)."""

import pathlib

import pytest

pytest.importorskip("numba")

from winit_bench.backends import numba_cache


def _cache(tmp_path):
    sources = [tmp_path / "numba_kernels.py", tmp_path / "numba_step.py"]
    for i, path in enumerate(sources):
        path.write_text(f"x = {i}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()

    def fill():
        names = ["numba_step._step-95.py311.nbi", "numba_step._step-95.py311.1.nbc", "numba_kernels.f-3.py311.nbi", "other.g-1.py311.nbi"]
        for name in names:
            (cache / name).write_bytes(b"compiled")
        return names

    return sources, cache, fill


def _left(cache):
    return sorted(p.name for p in cache.iterdir() if p.name != numba_cache.STAMP)


def test_a_change_in_any_source_drops_the_cache_of_all(tmp_path):
    sources, cache, fill = _cache(tmp_path)
    fill()
    assert numba_cache.drop_stale(cache, sources)  # no stamp yet: nothing known to be fresh
    assert _left(cache) == ["other.g-1.py311.nbi"]  # another module's cache is not ours to drop
    fill()
    assert not numba_cache.drop_stale(cache, sources) and len(_left(cache)) == 4  # unchanged: kept
    sources[0].write_text("x = 'the kernels changed, the step did not'\n")
    assert numba_cache.drop_stale(cache, sources)
    assert _left(cache) == ["other.g-1.py311.nbi"]  # the step's cache went with the kernels'


def test_the_package_cache_is_stamped_with_its_current_sources():
    here = pathlib.Path(numba_cache.__file__).parent
    sources = [here / f"{m}.py" for m in numba_cache.MODULES]
    stamp = pathlib.Path(numba_cache._here._cache._cache_path) / numba_cache.STAMP
    assert all(p.exists() for p in sources) and stamp.exists()
    assert not numba_cache.drop_stale(stamp.parent, sources)  # importing the backend left it fresh


def test_every_module_with_compiled_code_is_in_the_stamp():
    """A numba module left out of ``MODULES`` would be edited without dropping the cached kernels
    that compile it in: the step would keep running its old code."""
    import re

    here = pathlib.Path(numba_cache.__file__).parent
    uses_numba = {p.stem for p in here.glob("*.py") if re.search(r"^\s*(from|import) numba\b", p.read_text(), re.MULTILINE)}
    assert uses_numba - {"numba_cache"} == set(numba_cache.MODULES)
