"""The `photoedit` command line: one subcommand per stage, each a module with `run(argv) -> int`."""
from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module, one-line description); modules are imported only when used.
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("pipelines.commands.render", "render one photo (DNG/JPEG/TIFF) with Lightroom sliders"),
    "sample": ("pipelines.commands.sample", "generate a small FiveK-shaped dataset (DNGs, catalog, expert TIFFs)"),
    "ingest": ("pipelines.jobs.ingest", "FiveK root (raw photos + Lightroom catalog) -> photos/ and edits/ Parquet"),
    "augment": ("pipelines.jobs.augment", "K noisy slider variants per photo, rendered -> variants/, images/"),
    "features": ("pipelines.jobs.features", "VGG-16 FC7 (or TF-Hub) features -> features/ Parquet shards"),
    "train": ("pipelines.commands.train", "train CGM-VAE, P-VAE, MLP, MDN or LBN -> models/<name>/"),
    "evaluate-models": ("pipelines.commands.evaluate_models", "LL, JSD and slider-error table of trained models, "
                        "a feature-blind floor, the P-VAE curve"),
    "evaluate": ("pipelines.jobs.evaluate", "re-render proposals, LAB error vs experts -> evaluation/"),
    "report": ("pipelines.report.build", "HTML + Markdown report with tables and figures -> report/"),
    "demo": ("pipelines.commands.demo", "the whole pipeline end to end on a generated sample"),
    "propose": ("pipelines.commands.propose", "diverse, personalised proposals for your photos as XMP sidecars"),
    "fit": ("pipelines.jobs.fit", "recover sliders from before/after image pairs"),
}


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: photoedit COMMAND [options]   (photoedit COMMAND --help for each)", "",
             "Batch pipelines for the augmented MIT-Adobe FiveK expert-edits dataset:", ""]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Unknown flags of the Beam stages are Beam pipeline options (--runner etc.)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `photoedit COMMAND ...` to the stage module's run(argv)."""
    own_process = argv is None          # the `photoedit` program itself, not a call from Python code
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"photoedit: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    # TensorFlow's C++ INFO/WARNING lines (oneDNN notes, CUDA probing) drown the job's own logs;
    # set before any stage imports TensorFlow, inherited by Beam's worker processes. Override by
    # exporting TF_CPP_MIN_LOG_LEVEL yourself.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = own_process and not {"--verbose", "-h", "--help"} & set(rest)
    if quiet:
        from pipelines.core import console

        console.capture_process_output()   # before Beam or TensorFlow is imported: their start-up lines go to the log
    module = importlib.import_module(COMMANDS[command][0])
    if quiet:
        console.use_terminal()
    try:
        return int(module.run(rest) or 0)
    except Exception as exc:
        stage = sys.modules.get("pipelines.core.stage")   # imported by every Beam stage that can raise it
        if stage is not None and isinstance(exc, stage.StageFailed):
            return 1          # already logged as one line; the traceback is in the log file
        raise


if __name__ == "__main__":
    sys.exit(main())
