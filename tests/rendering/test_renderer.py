"""The slider renderer: neutral = plain decode, each slider's direction, tone curve, 2012 process,
gradients, CPU vs CUDA, and PhotoRenderer batching and validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rendering.colour import linear_prophoto_to_lab, srgb_to_linear_prophoto
from rendering.raw import CameraProfile, Photo, read_camera_profile
from rendering.renderer import (
    CameraMatrices,
    PhotoRenderer,
    plain_decode,
    render_sliders,
    tone_curve_luts,
)
from rendering.sliders import PROCESS_2003, PROCESS_2012, SliderError
from rendering.tone import MEDIUM_CONTRAST as MEDIUM_CONTRAST_PRESET
from rendering.tone import tone_curve_lut

MEDIUM_CONTRAST = [int(v) for v in MEDIUM_CONTRAST_PRESET]  # Lightroom's preset


def scene(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """Linear ProPhoto test scene [1,3,h,w]: a luminance ramp, colour patches of several chromas
    and a textured strip, all inside the sRGB gamut."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    lum = 0.04 + 0.9 * (xx / (w - 1))
    enc = np.stack([lum, lum, lum], axis=0)
    hue = np.stack([np.full((h, w), 0.9), np.full((h, w), 0.35), np.full((h, w), 0.2)])
    chroma = np.where(yy < h // 3, 0.0, np.where(yy < 2 * h // 3, 0.15, 0.6))
    enc = enc * (1 - chroma) + hue * chroma * lum
    texture = 0.08 * ((xx // 3 + yy // 3) % 2) - 0.04 + rng.normal(0, 0.01, (h, w))
    enc = np.clip(enc + np.where(yy >= h - 8, texture, 0.0), 0.01, 0.97)
    return srgb_to_linear_prophoto(torch.from_numpy(enc)[None]).clamp(min=0).float()


IDENTITY = CameraProfile.prophoto_identity()
AS_SHOT = IDENTITY.as_shot_white()


def render(img: torch.Tensor, changes: dict | list[dict], spec=PROCESS_2003, profile=IDENTITY,
           curve=None) -> torch.Tensor:
    changes = [changes] if isinstance(changes, dict) else changes
    rows = []
    for change in changes:
        s = spec.neutral(*profile.as_shot_white())
        for k, v in change.items():
            s[spec.index(k)] = v
        rows.append(s)
    sliders = torch.tensor(np.array(rows), dtype=img.dtype)
    cam = CameraMatrices.from_profiles([profile])
    lut = None if curve is None else torch.from_numpy(tone_curve_lut(curve)).to(img.dtype)
    return render_sliders(img.expand(len(rows), -1, -1, -1), sliders, cam, lut, spec)


def lab(img: torch.Tensor) -> torch.Tensor:
    return linear_prophoto_to_lab(img.double())


def chroma(img: torch.Tensor) -> torch.Tensor:
    L = lab(img)
    return torch.sqrt(L[:, 1] ** 2 + L[:, 2] ** 2)


def local_contrast(img: torch.Tensor) -> torch.Tensor:
    L = lab(img)[:, :1]
    return (L - F.avg_pool2d(L, 5, stride=1, padding=2, count_include_pad=False)).abs().mean(dim=(1, 2, 3))


# ------------------------------------------------------------------------------------ identity

@pytest.fixture(scope="module")
def blackmagic_profile(fixtures_dir) -> CameraProfile:
    return read_camera_profile(str(fixtures_dir / "raw" / "blackmagic_pocket4k.dng"))


@pytest.mark.parametrize("spec", [PROCESS_2003, PROCESS_2012], ids=["2003", "2012"])
def test_neutral_sliders_reproduce_the_plain_decode(blackmagic_profile, spec):
    rng = np.random.default_rng(1)
    neutral = np.asarray(blackmagic_profile.as_shot_neutral)
    cam_rgb = torch.from_numpy((rng.uniform(0.0, 0.3, (1, 3, 40, 56)) * neutral[None, :, None, None])).float()
    out = render(cam_rgb, {}, spec=spec, profile=blackmagic_profile)
    t, tint = blackmagic_profile.as_shot_white()
    ref = plain_decode(cam_rgb, CameraMatrices.from_profiles([blackmagic_profile]),
                       torch.tensor([t]), torch.tensor([tint]))
    assert (ref > 0.99).float().mean() > 0.01  # some clipping present, still identical
    assert torch.allclose(out, ref, atol=1e-5)
    img = scene()
    assert torch.allclose(render(img, {}, spec=spec), img.clamp(0, 1), atol=1e-5)


def test_plus_one_ev_doubles_linear_values_below_clipping():
    img = scene()
    base, up = render(img, [{"Exposure": 0.0}, {"Exposure": 1.0}])
    below = base < 0.49
    assert below.float().mean() > 0.5
    assert torch.allclose(up[below], 2 * base[below], rtol=1e-4, atol=1e-6)
    assert torch.all(up[base > 0.5] >= 0.999)  # and clips above


# ------------------------------------------------------------------------------ slider directions

def test_brightness_raises_mean_lightness():
    out = render(scene(), [{}, {"Brightness": 50}, {"Brightness": 150}])
    L = lab(out)[:, 0].mean(dim=(1, 2))
    assert L[0] < L[1] < L[2]


def test_contrast_raises_lightness_spread():
    out = render(scene(), [{"Contrast": -50}, {}, {"Contrast": 50}, {"Contrast": 100}])
    spread = lab(out)[:, 0].flatten(1).std(dim=1)
    assert torch.all(spread[1:] > spread[:-1])


def test_saturation_raises_chroma_and_minus_100_is_grey():
    out = render(scene(), [{"Saturation": -100}, {}, {"Saturation": 60}])
    c = chroma(out).mean(dim=(1, 2))
    assert c[0] < 1.0 and c[0] < c[1] < c[2]


def test_vibrance_boosts_low_chroma_more_than_saturated():
    img = scene()
    out = render(img, [{}, {"Vibrance": 80}])
    c = chroma(out)
    h = img.shape[2]
    muted = slice(h // 3 + 2, 2 * h // 3 - 2)
    vivid = slice(2 * h // 3 + 2, h - 10)
    gain_muted = c[1, muted, 20:50].mean() / c[0, muted, 20:50].mean()
    gain_vivid = c[1, vivid, 20:50].mean() / c[0, vivid, 20:50].mean()
    assert gain_muted > 1.2 and gain_muted > gain_vivid + 0.15


def test_temperature_up_raises_b_and_tint_up_raises_a(blackmagic_profile):
    t, tint = blackmagic_profile.as_shot_white()
    neutral = np.asarray(blackmagic_profile.as_shot_neutral)
    cam_rgb = torch.from_numpy(neutral[None, :, None, None] * np.linspace(0.02, 0.12, 32)[None, None, None, :]
                               .repeat(8, axis=2)).float()
    out = render(cam_rgb, [{}, {"Temperature": t * 1.3}, {"Tint": tint + 40}], profile=blackmagic_profile)
    L = lab(out).mean(dim=(2, 3))
    assert abs(L[0, 1]) < 0.5 and abs(L[0, 2]) < 0.5  # as shot: grey
    assert L[1, 2] > L[0, 2] + 3.0  # warmer -> yellower (b*)
    assert L[2, 1] > L[0, 1] + 3.0  # more tint -> magenta (a*)


def test_blacks_darkens_the_darkest_percentile():
    out = render(scene(), [{}, {"Shadows": 50}])
    L = lab(out)[:, 0].flatten(1)
    p2 = torch.quantile(L, 0.02, dim=1)
    assert p2[1] < p2[0] - 2.0


def _shadow_highlight_regions(img):
    L = lab(img)[:, 0]
    return L[:, :, 2:10].mean(dim=(1, 2)), L[:, :, -10:-2].mean(dim=(1, 2))


def test_fill_light_lifts_shadows_more_than_highlights():
    out = render(scene(), [{}, {"FillLight": 60}])
    dark, bright = _shadow_highlight_regions(out)
    assert dark[1] - dark[0] > 5.0 and dark[1] - dark[0] > 3 * (bright[1] - bright[0])


def test_highlight_recovery_lowers_highlights_more_than_shadows():
    img = scene() * 2.0  # overexposed: highlights over white
    out = render(img, [{}, {"HighlightRecovery": 100}])
    dark, bright = _shadow_highlight_regions(out)
    assert bright[0] - bright[1] > 2.0 and bright[0] - bright[1] > 5 * abs(dark[0] - dark[1])


def test_clarity_raises_local_contrast_and_is_local():
    img = scene()
    out = render(img, [{}, {"Clarity": 100}, {"Clarity": -100}])
    lc = local_contrast(out)
    assert lc[1] > lc[0] * 1.1 and lc[2] < lc[0]
    # not a global curve: one input grey gives different outputs in different neighbourhoods
    grey = torch.full((1, 3, 32, 32), 0.18)
    grey[..., :, :10] = 0.02
    grey[..., :, 22:] = 0.8
    o = render(grey, {"Clarity": 100})[0, 1]
    assert abs(float(o[16, 11] - o[16, 20])) > 0.005  # same 0.18 input, near dark vs near bright


# Saturated and muted colours (encoded sRGB) and greys, one flat patch each.
FLAT_COLOURS = ((0.9, 0.05, 0.05), (0.05, 0.8, 0.05), (0.05, 0.1, 0.9), (0.9, 0.9, 0.1), (0.1, 0.85, 0.85),
                (0.85, 0.1, 0.85), (0.6, 0.45, 0.35), (0.5, 0.5, 0.5), (0.12, 0.12, 0.12))
DEFAULT_LOOK = {"Brightness": 50, "Contrast": 25, "Shadows": 5}


def _patches(side: int = 24) -> torch.Tensor:
    """Linear ProPhoto [1,3,3 side,3 side]: the FLAT_COLOURS as a 3 x 3 grid of flat patches."""
    grid = torch.tensor(FLAT_COLOURS, dtype=torch.float64).T.reshape(1, 3, 3, 3)
    enc = grid.repeat_interleave(side, dim=2).repeat_interleave(side, dim=3)
    return srgb_to_linear_prophoto(enc).clamp(min=0).float()


@pytest.mark.parametrize("look", [{}, DEFAULT_LOOK], ids=["neutral", "default-look"])
def test_clarity_leaves_flat_colour_alone(look):
    side = 24
    img = _patches(side)
    out = render(img, [look, {**look, "Clarity": 100}, {**look, "Clarity": -100}],
                 curve=MEDIUM_CONTRAST if look else None)
    de = torch.sqrt(((lab(out[1:]) - lab(out[:1])) ** 2).sum(dim=1))       # [2, H, W]
    inner = torch.zeros(3 * side, 3 * side, dtype=torch.bool)               # away from the patch edges
    for i in range(3):
        for j in range(3):
            inner[i * side + 6:(i + 1) * side - 6, j * side + 6:(j + 1) * side - 6] = True
    assert float(de[:, inner].max()) < 0.5
    # a whole frame of one saturated colour: nothing moves anywhere
    red = img[..., :side, :side].contiguous()
    frame = render(red, [look, {**look, "Clarity": 100}, {**look, "Clarity": -100}],
                   curve=MEDIUM_CONTRAST if look else None)
    assert float(torch.sqrt(((lab(frame[1:]) - lab(frame[:1])) ** 2).sum(dim=1)).max()) < 0.5


def test_clarity_raises_local_contrast_of_saturated_texture():
    rng = np.random.default_rng(4)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    texture = 0.12 * ((xx // 4 + yy // 4) % 2) + rng.normal(0, 0.01, (h, w))
    enc = np.stack([0.7 + texture, 0.1 + 0.3 * texture, 0.08 + 0.2 * texture]).clip(0.01, 0.97)  # textured red
    img = srgb_to_linear_prophoto(torch.from_numpy(enc)[None]).clamp(min=0).float()
    out = render(img, [DEFAULT_LOOK, {**DEFAULT_LOOK, "Clarity": 100}, {**DEFAULT_LOOK, "Clarity": -100}],
                 curve=MEDIUM_CONTRAST)
    lc = local_contrast(out)
    assert lc[1] > lc[0] * 1.15 and lc[2] < lc[0] / 1.15
    hue = torch.atan2(lab(out)[:, 2], lab(out)[:, 1]).mean(dim=(1, 2))
    assert torch.allclose(hue[1:], hue[:1], atol=0.05)   # local contrast, not a colour shift

def test_monotone_tone_curve_keeps_order():
    lut = tone_curve_lut(MEDIUM_CONTRAST)
    assert np.all(np.diff(lut) >= 0) and lut[0] == 0 and abs(lut[-1] - 1) < 1e-9
    ramp = torch.linspace(0.0, 1.0, 200).view(1, 1, 1, 200).expand(1, 3, 4, 200).contiguous()
    out = render(ramp, {}, curve=MEDIUM_CONTRAST)[0, 1, 0]
    assert torch.all(out[1:] >= out[:-1] - 1e-7)
    plain = render(ramp, {})[0, 1, 0]
    assert (out - plain).abs().max() > 0.01  # the curve does something (medium contrast)
    assert torch.allclose(out[[0, -1]], plain[[0, -1]], atol=1e-6)  # end points fixed
    identity = render(ramp, {}, curve=[0, 0, 255, 255])
    assert torch.allclose(identity[0, 1, 0], plain, atol=1e-4)


# ---------------------------------------------------------------------------------- 2012 process

def test_process_2012_sliders_move_the_image():
    img = scene()
    out = render(img, [{}, {"Highlights2012": -100}, {"Shadows2012": 100}, {"Whites2012": 100},
                       {"Blacks2012": -100}, {"Exposure2012": 1.0}, {"Contrast2012": 80}], spec=PROCESS_2012)
    dark, bright = _shadow_highlight_regions(out)
    L = lab(out)[:, 0].flatten(1)
    assert bright[1] < bright[0] - 2 and abs(dark[1] - dark[0]) < bright[0] - bright[1]  # Highlights
    assert dark[2] > dark[0] + 5 and dark[2] - dark[0] > bright[2] - bright[0]          # Shadows
    assert bright[3] > bright[0] + 1                                                     # Whites
    assert torch.quantile(L[4], 0.02) < torch.quantile(L[0], 0.02) - 2                   # Blacks
    assert L[5].mean() > L[0].mean() + 5 and L[6].std() > L[0].std()                     # Exp, Contrast


# ------------------------------------------------------------------------------ gradients, devices

@pytest.mark.parametrize("spec", [PROCESS_2003, PROCESS_2012], ids=["2003", "2012"])
def test_gradcheck_in_the_sliders(blackmagic_profile, spec):
    torch.manual_seed(0)
    neutral = torch.tensor(np.asarray(blackmagic_profile.as_shot_neutral))
    img = (torch.rand(2, 3, 10, 12, dtype=torch.float64) * 0.12 + 0.01) * neutral.view(1, 3, 1, 1)
    cam = CameraMatrices.from_profiles([blackmagic_profile])
    t, tint = blackmagic_profile.as_shot_white()
    rng = np.random.default_rng(0)
    model = rng.uniform(-0.5, 0.5, (2, 11))
    sliders = spec.from_model(model)
    sliders[:, spec.index("Temperature")] = [t * 0.9, t * 1.2]
    sliders[:, spec.index("Tint")] = [tint - 7, tint + 9]
    s = torch.tensor(sliders, dtype=torch.float64, requires_grad=True)
    lut = torch.from_numpy(tone_curve_luts([MEDIUM_CONTRAST, None], 2))
    fn = lambda x: render_sliders(img, x, cam, lut.double(), spec)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (s,), eps=1e-6, atol=1e-5, rtol=1e-3)
    grad = torch.autograd.grad(fn(s).sum(), s)[0]
    assert torch.count_nonzero(grad) >= 18  # nearly every slider reaches the output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_and_cuda_agree(blackmagic_profile):
    rng = np.random.default_rng(3)
    photo = Photo(camera_rgb=(rng.uniform(0, 0.2, (3, 96, 128)) *
                              np.asarray(blackmagic_profile.as_shot_neutral)[:, None, None]).astype(np.float32),
                  profile=blackmagic_profile, source="synthetic")
    sliders = PROCESS_2003.clip(PROCESS_2003.from_model(rng.uniform(-0.8, 0.8, (8, 11))))
    curves = [MEDIUM_CONTRAST if i % 2 else None for i in range(8)]
    cpu = PhotoRenderer("cpu").render(photo, sliders, curves)
    gpu = PhotoRenderer("cuda").render(photo, sliders, curves)
    np.testing.assert_allclose(cpu, gpu, atol=1e-4)


# ------------------------------------------------------------------------------------ PhotoRenderer

def _photo() -> Photo:
    return Photo(camera_rgb=scene(24, 32)[0].numpy(), profile=IDENTITY, source="scene")


def test_photo_renderer_batches_like_single_renders():
    rng = np.random.default_rng(5)
    sliders = PROCESS_2003.from_model(rng.uniform(-0.7, 0.7, (5, 11)))
    curves = [None, MEDIUM_CONTRAST, None, None, MEDIUM_CONTRAST]
    renderer = PhotoRenderer("cpu")
    batched = renderer.render(_photo(), sliders, curves, batch_size=2)
    assert batched.shape == (5, 3, 24, 32) and batched.dtype == np.float32
    for i in (0, 1, 4):
        single = renderer.render(_photo(), sliders[i:i + 1], [curves[i]])
        np.testing.assert_allclose(batched[i], single[0], atol=1e-6)
    assert np.abs(batched[0] - batched[1]).max() > 0.01



def test_chunked_and_skipping_renders_equal_the_whole_batch(monkeypatch):
    import rendering.renderer as renderer

    rng = np.random.default_rng(6)
    img = scene(24, 32)
    sliders = PROCESS_2003.from_model(rng.uniform(-0.7, 0.7, (5, 11)))
    sliders[1:3, [PROCESS_2003.index(k) for k in ("Clarity", "Vibrance", "Saturation")]] = 0.0  # skipped stages
    s = torch.tensor(sliders, dtype=torch.float32)
    cam = CameraMatrices.from_profiles([IDENTITY])
    lut = torch.from_numpy(tone_curve_luts([MEDIUM_CONTRAST, None, MEDIUM_CONTRAST, None, None], 5))
    whole = render_sliders(img.expand(5, -1, -1, -1), s.clone().requires_grad_(True), cam, lut)  # nothing skipped
    monkeypatch.setattr(renderer, "CHUNK_PIXELS", 2 * 24 * 32)  # chunks of 2, 2 and 1 images
    with torch.inference_mode():
        chunked = render_sliders(img.expand(5, -1, -1, -1), s, cam, lut)
    assert torch.allclose(chunked, whole.detach(), atol=2e-6)

def test_operators_at_zero_are_skipped_exactly_and_out_receives_the_render():
    """Recovery, Fill Light, Clarity, Vibrance and Saturation at 0 in every row: skipped without gradients, and the
    render equals the one that computes them (gradients wanted), also when written into `out`."""
    rng = np.random.default_rng(7)
    img = scene(24, 32)
    sliders = PROCESS_2003.from_model(rng.uniform(-0.7, 0.7, (3, 11)))
    zero = ("HighlightRecovery", "FillLight", "Clarity", "Vibrance", "Saturation")
    sliders[:, [PROCESS_2003.index(k) for k in zero]] = 0.0
    s = torch.tensor(sliders, dtype=torch.float32)
    cam = CameraMatrices.from_profiles([IDENTITY])
    computed = render_sliders(img.expand(3, -1, -1, -1), s.clone().requires_grad_(True), cam).detach()
    out = torch.full((3, 3, 24, 32), -1.0)
    with torch.inference_mode():
        skipped = render_sliders(img.expand(3, -1, -1, -1), s, cam, out=out)
    assert skipped is out and torch.allclose(out, computed, atol=2e-6)
    assert (out[0] - out[1]).abs().max() > 0.01


@pytest.mark.parametrize("key,value", [("Exposure", float("nan")), ("Contrast", 500.0), ("Temperature", 100.0)])
def test_photo_renderer_rejects_bad_sliders(key, value):
    s = PROCESS_2003.neutral(*AS_SHOT)[None].repeat(3, 0)
    s[1, PROCESS_2003.index(key)] = value
    with pytest.raises(SliderError, match=key):
        PhotoRenderer().render(_photo(), s)


def test_tone_curve_count_must_match():
    with pytest.raises(ValueError):
        PhotoRenderer().render(_photo(), PROCESS_2003.neutral(*AS_SHOT)[None], [MEDIUM_CONTRAST, None])
