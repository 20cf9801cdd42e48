"""Synthetic problems with known answers for the modeling tests, and a tiny Parquet dataset writer."""
from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from modeling.data import EditsData
from pipelines.core.schemas import PHOTOS, VARIANT_EDITS, features_schema
from rendering.sliders import PROCESS_2003

SIGMA = 0.05          # per-slider noise of the mixture problem (model units)
FEATURES = 8


def mixture_problem(num_images: int, seed: int, per_image: int = 1):
    """y | x = sum_k w_k(x) N(c_k + B x, SIGMA^2 I): 3 well-separated modes, weights softmax(A x).

    Returns x [N, D], y [N, 11], the exact log p(y | x) [N] (nats) and image index [N]; the
    problem (c, A, B) is fixed, `seed` draws the data; each image gets `per_image` edits.
    """
    prob = np.random.default_rng(123)
    centres = prob.choice([-0.6, 0.0, 0.6], size=(3, 11))
    centres[1] = -centres[0]
    A = prob.normal(size=(FEATURES, 3)) * 1.5
    B = prob.normal(size=(FEATURES, 11)) * 0.05
    rng = np.random.default_rng(seed)
    x = np.repeat(rng.normal(size=(num_images, FEATURES)), per_image, axis=0)
    logits = x @ A
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    k = (rng.random(len(x))[:, None] > np.cumsum(w, 1)).sum(1)
    y = centres[k] + x @ B + SIGMA * rng.normal(size=(len(x), 11))
    comp = centres[None] + (x @ B)[:, None]
    log_n = (-0.5 * (((y[:, None] - comp) / SIGMA) ** 2).sum(-1)
             - 11 * (math.log(SIGMA) + 0.5 * math.log(2 * math.pi)))
    true_ll = np.log((w * np.exp(log_n - log_n.max(1, keepdims=True))).sum(1)) + log_n.max(1)
    image = np.repeat(np.arange(num_images), per_image)
    return (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), true_ll, image)


def _users_of_styles(styles: np.ndarray, B: np.ndarray, num_users: int, per_user: int, sigma: float, seed: int):
    """Users each with a style s_u drawn from the rows of styles [3, 11]: y = style_s + B x + noise (sigma)."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, len(styles), num_users)
    x = rng.normal(size=(num_users * per_user, FEATURES))
    users = np.repeat(np.arange(num_users), per_user)
    y = styles[s[users]] + x @ B + sigma * rng.normal(size=(len(x), 11))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), users, s


def user_problem(num_users: int, seed: int, per_user: int = 50, sigma: float = 0.08):
    """Users with a style s_u in {0, 1, 2}: y = style_s + B x + noise. Returns x, y, users [N], styles [U]."""
    prob = np.random.default_rng(7)
    styles = prob.choice([-0.5, 0.5], size=(3, 11))
    styles[1] = -styles[0]
    styles[2] = 0.0
    B = prob.normal(size=(FEATURES, 11)) * 0.1
    return _users_of_styles(styles, B, num_users, per_user, sigma, seed)


def ambiguous_user_problem(num_users: int, seed: int, per_user: int = 50, sigma: float = 0.1,
                           shift: float = 0.035):
    """Users with a style s_u in {0, 1, 2} that one edit barely reveals: styles +-shift (and 0) per slider.

    y = style_s + B x + noise (sigma): between neighbouring styles an edit carries about
    11 shift^2 / (2 sigma^2) = 0.7 nats of evidence, so one edit leaves the style uncertain and
    ten identify it. Returns x, y, users [N], styles [U].
    """
    styles, B = _ambiguous_styles(shift)
    return _users_of_styles(styles, B, num_users, per_user, sigma, seed)


def _ambiguous_styles(shift: float = 0.035) -> tuple[np.ndarray, np.ndarray]:
    """The styles [3, 11] and linear map B [FEATURES, 11] of ambiguous_user_problem."""
    prob = np.random.default_rng(11)
    pattern = prob.choice([-1.0, 1.0], size=11)
    styles = np.stack([shift * pattern, -shift * pattern, np.zeros(11)])
    return styles, prob.normal(size=(FEATURES, 11)) * 0.02


def ambiguous_true_posterior(x: torch.Tensor, y: torch.Tensor, sigma: float = 0.1) -> np.ndarray:
    """The exact posterior over the 3 styles [3] of ambiguous_user_problem given one user's edits x [N, D], y [N, 11]."""
    styles, B = _ambiguous_styles()
    resid = y.double().numpy()[:, None] - styles[None] - (x.double().numpy() @ B)[:, None]   # [N, 3, 11]
    log_post = -0.5 * (resid ** 2).sum((0, 2)) / sigma ** 2      # uniform prior over the styles
    post = np.exp(log_post - log_post.max())
    return post / post.sum()


def edits_data(x: torch.Tensor, y: torch.Tensor, image: np.ndarray | None = None,
               users: np.ndarray | None = None, split: str = "train") -> EditsData:
    """EditsData around synthetic tensors (one photo per image index; users as given)."""
    n = len(x)
    image = np.arange(n) if image is None else np.asarray(image)
    ids = np.array([f"p{i:05d}" for i in image])
    editors = np.array([f"u{u}" for u in users]) if users is not None else np.array(["A"] * n)
    kinds = np.array(["user" if users is not None else "expert"] * n)
    return EditsData(x, y, ids, ids, editors, kinds, np.array([split] * n),
                     None if users is None else np.asarray(users))


def write_tiny_dataset(root: str, num_photos: int = 30, dim: int = 16, seed: int = 0) -> None:
    """features/, variant_edits/ and photos/ Parquet (pipelines/core/schemas.py contracts) under root.

    2 variants per photo, 5 experts A..E (two styles: A-C shift sliders up, D-E down) and 2 casual
    users; splits assigned round robin 6:2:2 so each split is non-empty.
    """
    rng = np.random.default_rng(seed)
    proj = rng.normal(size=(dim, 11)) * 0.2
    feats, edits, photos = [], [], []
    split_cycle = ["train"] * 6 + ["validation"] * 2 + ["test"] * 2
    for p in range(num_photos):
        pid = f"a{p:04d}"
        photos.append({"photo_id": pid, "file_name": f"{pid}-x", "raw_uri": f"/raw/{pid}.dng",
                       "camera_make": None, "camera_model": None, "location": None, "time": None,
                       "light": None, "subject": None, "split": split_cycle[p % 10],
                       "as_shot_temperature": 5000.0, "as_shot_tint": 0.0})
        for v in range(2):
            image_id = f"{pid}_v{v}"
            f = rng.normal(size=dim).astype(np.float32)
            feats.append({"image_id": image_id, "photo_id": pid, "variant": v, "fc7": f.tolist()})
            for editor, kind in [("A", "expert"), ("B", "expert"), ("C", "expert"), ("D", "expert"),
                                 ("E", "expert"), ("u1", "user"), ("u2", "user")]:
                style = 0.3 if editor in ("A", "B", "C", "u1") else -0.3
                y = np.clip(np.tanh(f @ proj) * 0.5 + style + 0.05 * rng.normal(size=11), -0.95, 0.95)
                lightroom = PROCESS_2003.from_model(y)
                edits.append({"image_id": image_id, "photo_id": pid, "variant": v, "editor": editor,
                              "editor_kind": kind, **PROCESS_2003.to_mapping(lightroom),
                              "tone_curve": [0.0, 0.0, 255.0, 255.0]})
    for name, rows, schema in [("features", feats, features_schema(dim)),
                               ("variant_edits", edits, VARIANT_EDITS), ("photos", photos, PHOTOS)]:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        table = pa.Table.from_pylist(rows, schema=schema)
        half = len(rows) // 2  # two shards, to exercise folder reading
        pq.write_table(table.slice(0, half), os.path.join(root, name, "part-00000-of-00002.parquet"))
        pq.write_table(table.slice(half), os.path.join(root, name, "part-00001-of-00002.parquet"))
