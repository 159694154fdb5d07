"""The projection head's "geometry" initialisation keeps the backbone's cosine geometry."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

torch = pytest.importorskip("torch")

from bgs.errors import ConfigError  # noqa: E402
from bgs.train.model import ProjectionHead, init_geometry_preserving  # noqa: E402


def head_output(x: np.ndarray, out_dim: int, offset: float | None = None, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    head = ProjectionHead(x.shape[1], out_dim, dropout=0.3, init="geometry").eval()
    if offset is not None:
        init_geometry_preserving(head, offset)
    with torch.no_grad():
        return head(torch.as_tensor(x, dtype=torch.float32)).numpy()


def backbone_like(n: int, width: int, seed: int) -> np.ndarray:
    """Embeddings with a shared mean direction and a few strong axes, as pooled features have."""
    rng = np.random.default_rng(seed)
    return (3 * rng.normal(size=width) + rng.normal(size=(n, 4)) @ rng.normal(size=(4, width))
            + 0.5 * rng.normal(size=(n, width)))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 30), width=st.integers(2, 40), extra=st.integers(1, 40), seed=st.integers(0, 10**6))
def test_cosines_are_an_affine_map_of_the_backbone_cosines(n, width, extra, seed):
    """With an offset that ReLU never reaches, cos_head = (cos + c²) / (1 + c²) exactly."""
    x = backbone_like(n, width, seed)
    offset = 9.0  # a LayerNorm output is at most sqrt(d - 1) < 9 in size; here d ≤ 80
    z = head_output(x, width + extra, offset, seed % 1000)
    cos_x = 1 - pdist(x, "cosine")
    cos_z = 1 - pdist(z, "cosine")
    np.testing.assert_allclose(cos_z, (cos_x + offset ** 2) / (1 + offset ** 2), atol=2e-5)


def test_the_default_offset_keeps_the_ranks_of_the_distances_and_the_odd_one_out():
    x = backbone_like(200, 88, seed=1)
    d_x = pdist(x, "cosine")
    d_geometry = pdist(head_output(x, 128), "cosine")
    torch.manual_seed(0)
    random_head = ProjectionHead(88, 128).eval()
    with torch.no_grad():
        d_random = pdist(random_head(torch.as_tensor(x, dtype=torch.float32)).numpy(), "cosine")
    rho_geometry = spearmanr(d_x, d_geometry).statistic
    assert rho_geometry > 0.99
    assert rho_geometry > spearmanr(d_x, d_random).statistic
    # the odd one out of random triads, as the backbone and the untrained head choose it
    rng = np.random.default_rng(0)
    triads = np.stack([rng.choice(200, 3, replace=False) for _ in range(2000)])

    def odd_one_out(emb):
        u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        a, b, c = (u[triads[:, k]] for k in range(3))
        sims = np.stack([(b * c).sum(1), (a * c).sum(1), (a * b).sum(1)], axis=1)
        return sims.argmax(1)  # the item left out of the most similar pair

    agree_geometry = (odd_one_out(x) == odd_one_out(head_output(x, 128))).mean()
    agree_random = (odd_one_out(x) == odd_one_out(random_head(torch.as_tensor(x, dtype=torch.float32))
                                                  .detach().numpy())).mean()
    assert agree_geometry > 0.96  # 0.972 here; 0.906 with the random head
    assert agree_geometry > agree_random + 0.03


def test_a_head_no_wider_than_the_backbone_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"model.head_dim .* at least 89"):
        ProjectionHead(88, 88, init="geometry")
    with pytest.raises(ConfigError, match="model.head_init must be one of random, geometry"):
        ProjectionHead(8, 16, init="identity")
