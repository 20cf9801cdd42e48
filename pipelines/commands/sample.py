"""`photoedit sample`: generate a small FiveK-shaped dataset (pipelines.fivek.sample.generator)."""
from __future__ import annotations

import argparse
import logging
import os

from pipelines.core.console import configure_logging
from pipelines.fivek.sample.generator import USERS_PER_PHOTOS, generate_sample

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    """'192x128' -> (192, 128); a single width '384' -> (384, 256), the 3:2 aspect of FiveK's cameras."""
    try:
        if "x" not in text.lower():
            w = int(text)
            return w, 2 * round(w / 3)
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH or a width W (3:2), e.g. 192x128 or 384, "
                                         f"got {text!r}") from None
    return w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit sample",
        description="Generate a small dataset shaped like the MIT-Adobe FiveK download: Bayer DNGs under "
                    "OUT/raw_photos/HQa.../photos/, a Lightroom-shaped catalog OUT/raw_photos/fivek.lrcat "
                    "(collection set Experts, collections A..E; with --users also set Users), the experts' "
                    "16-bit ProPhoto renditions OUT/tiff16_a..e/, and the metadata files. OUT is then a "
                    "FiveK root exactly like the real download's folder that contains raw_photos/: "
                    "run `photoedit ingest --fivek OUT --out DATASET` on either.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100, help="number of photos N (1..5000; ids a0001..)")
    parser.add_argument("--out", required=True, help="folder to create (the FiveK root); must hold no catalog yet")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> same catalog rows and DNG pixels")
    parser.add_argument("--users", type=int, default=0,
                        help="casual users to add as collection set 'Users' (u001, ...), each editing "
                             f"{USERS_PER_PHOTOS[0]}-{USERS_PER_PHOTOS[1]} photos in one preferred style")
    parser.add_argument("--size", type=_size, default=(192, 128),
                        help="DNG size WxH in px (even), or a width W for a 3:2 landscape DNG (384 -> 384x256); "
                             "default 192x128")
    parser.add_argument("--no-raws", dest="raws", action="store_false",
                        help="write the catalog and metadata only (no DNGs, no TIFF renditions): for "
                             "`photoedit ingest --no-raw-check` benchmarks")
    parser.add_argument("--no-expert-renditions", dest="renditions", action="store_false",
                        help="write the DNGs but not the experts' tiff16_a..e/ TIFFs (saves disk and time at "
                             "scale; `photoedit evaluate` renders its references from the sliders by default, "
                             "only --reference tiff needs them)")
    parser.add_argument("--verbose", action="store_true", help="every log line")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit sample`; returns 0, or 1 when OUT already holds a catalog or N is invalid."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, os.path.join(os.path.abspath(args.out), "_logs"), "sample")
    try:
        summary = generate_sample(os.path.abspath(args.out), photos=args.photos, seed=args.seed,
                                  users=args.users, size=args.size, raws=args.raws,
                                  renditions=args.renditions)
    except (FileExistsError, ValueError) as exc:
        log.error("sample: %s", exc)
        return 1
    log.info("sample: %d photos, %d expert edits, %d edits by %d users -> %s (catalog %s)", summary.photos,
             summary.expert_edits, summary.user_edits, summary.users, summary.root, summary.catalog)
    return 0
