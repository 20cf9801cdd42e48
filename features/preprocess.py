"""Image preprocessing for the feature extractors (numpy, Pillow, Keras' VGG16 preprocess_input).

Resize policy: the WHOLE image is resized to 224x224 with Pillow's bilinear filter (which
antialiases when shrinking); the aspect ratio is not kept and nothing is cropped, because slider
edits are global and depend on the whole frame (a centre crop would hide the sky, the shadows ...).
Images are decoded to 8-bit sRGB first: an embedded ICC profile (e.g. FiveK's ProPhoto JPEGs) is
converted to sRGB with LittleCMS, untagged images are taken as sRGB (what our augment stage writes).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

VGG_SIZE = 224


class ImageDecodeError(ValueError):
    """An image file could not be decoded; the message names the source."""


def decode_srgb(data: bytes, name: str = "") -> Image.Image:
    """Encoded image bytes (PNG/JPEG/TIFF) -> 8-bit sRGB RGB Pillow image (ICC profile honoured)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises several types for junk input
        raise ImageDecodeError(f"cannot decode image {name or '<bytes>'}: {exc}") from exc
    icc = image.info.get("icc_profile")
    image = image.convert("RGB")
    if icc:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        image = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
    return image


def resize_whole(image: Image.Image, size: int = VGG_SIZE) -> np.ndarray:
    """Whole image -> float32 [size, size, 3] RGB in 0..255 (bilinear, aspect ratio not kept)."""
    resized = image.resize((size, size), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def vgg16_input(data: bytes, name: str = "") -> np.ndarray:
    """Encoded image -> float32 [224, 224, 3] after keras.applications.vgg16.preprocess_input (BGR, mean-subtracted)."""
    from keras.applications.vgg16 import preprocess_input

    rgb = resize_whole(decode_srgb(data, name), VGG_SIZE)
    return preprocess_input(rgb[None])[0].astype(np.float32)


def hub_input(data: bytes, size: int = VGG_SIZE, name: str = "") -> np.ndarray:
    """Encoded image -> float32 [size, size, 3] RGB in [0, 1], the TF-Hub image-module convention."""
    return resize_whole(decode_srgb(data, name), size) / np.float32(255.0)
