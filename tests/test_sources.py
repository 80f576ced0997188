"""mae_core.sources: what a user hands in, read within a size limit, refused in one line naming the thing."""
import io

import pytest

from mae_core.ablations.schema import AblationError
from mae_core.errors import ImageError
from mae_core.sources import read_source


def test_a_path_bytes_and_an_upload_read_the_same(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"abc")
    up = io.BytesIO(b"abc")
    up.name = "upload.csv"
    assert read_source(p, limit=10, error=ImageError, noun="image") == (b"abc", "a.csv")
    assert read_source(b"abc", limit=10, error=ImageError, noun="image") == (b"abc", None)
    assert read_source(up, limit=10, error=ImageError, noun="image") == (b"abc", "upload.csv")
    assert read_source(io.StringIO("abc"), limit=10, error=ImageError, noun="image") == (b"abc", None)


def test_limits_and_unreadable_sources_are_one_line_in_the_callers_terms(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * (3 << 20))
    with pytest.raises(ImageError, match=r"^big.png is larger than 2 MB$"):
        read_source(big, limit=2 << 20, error=ImageError, noun="image")
    up = io.BytesIO(b"x" * (3 << 20))
    up.name = "holiday.png"
    with pytest.raises(ImageError, match=r"^holiday.png is larger than 2 MB$"):
        read_source(up, limit=2 << 20, error=ImageError, noun="image")
    with pytest.raises(AblationError, match=r"^the ablation file is larger than 2 MB$"):
        read_source(b"x" * (3 << 20), limit=2 << 20, error=AblationError, noun="ablation")
    with pytest.raises(AblationError, match=r"^no ablation file at "):
        read_source(tmp_path / "missing.csv", limit=10, error=AblationError, noun="ablation")
    with pytest.raises(ImageError, match=r"^cannot read image data from a list$"):
        read_source([1, 2], limit=10, error=ImageError, noun="image")
