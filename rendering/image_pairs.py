"""A before/after image pair decoded for slider fitting: the BEFORE photo and the AFTER rendition at one size.

BEFORE is a camera raw (rendered from raw with its colour matrices) or a JPEG / PNG / TIFF (taken as
the linear-ProPhoto "camera" of rendering.raw.load_photo); AFTER is a JPEG / PNG / TIFF (embedded
ICC honoured, untagged = sRGB). Two images must have the same width x height; a raw BEFORE and its
AFTER the same aspect ratio within 1 % (raw decodes lose a few border pixels).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from rendering.image_io import read_image, resize_long_side
from rendering.raw import Photo, load_photo, sniff_format

ASPECT_TOLERANCE = 0.01


class PairError(ValueError):
    """A before/after pair cannot be fitted (unpaired, mismatched sizes); the message says why."""


def check_sizes(before_shape: tuple[int, int], after_shape: tuple[int, int], before_is_raw: bool,
                name: str) -> None:
    """Raise PairError unless the two (H, W) sizes agree (raw BEFORE: aspect ratio within 1 %)."""
    if before_is_raw:
        ratio_b, ratio_a = before_shape[1] / before_shape[0], after_shape[1] / after_shape[0]
        if abs(ratio_b / ratio_a - 1.0) > ASPECT_TOLERANCE:
            raise PairError(f"{name}: raw BEFORE aspect {before_shape[1]}x{before_shape[0]} and AFTER "
                            f"{after_shape[1]}x{after_shape[0]} differ by more than 1 % (cropped export?)")
    elif tuple(before_shape) != tuple(after_shape):
        raise PairError(f"{name}: BEFORE is {before_shape[1]}x{before_shape[0]} px but AFTER is "
                        f"{after_shape[1]}x{after_shape[0]} px")


def load_pair(before: bytes, after: bytes, size: int, name: str = "",
              after_name: str = "") -> tuple[Photo, torch.Tensor]:
    """(BEFORE photo at long side `size` px, AFTER as linear ProPhoto [3, h, w] of the photo's size, in [0, 1])."""
    before_is_raw = sniff_format(before, name) == "raw"
    after_full = read_image(after, name=after_name or f"AFTER of {name}")
    if before_is_raw:
        photo = load_photo(before, long_side=size, name=name)   # same aspect as the full decode
        check_sizes(tuple(photo.camera_rgb.shape[1:]), tuple(after_full.shape[1:]), True, name)
    else:
        photo = load_photo(before, long_side=None, name=name)
        check_sizes(tuple(photo.camera_rgb.shape[1:]), tuple(after_full.shape[1:]), False, name)
        photo = dataclasses.replace(photo, camera_rgb=resize_long_side(photo.camera_rgb, size))
    h, w = photo.camera_rgb.shape[1:]
    after_t = torch.from_numpy(np.ascontiguousarray(after_full, dtype=np.float32))[None]
    if after_t.shape[2:] != (h, w):
        after_t = F.interpolate(after_t, size=(h, w), mode="area")
    return photo, after_t[0].clamp(0.0, 1.0)
