"""Beam building blocks that give the same rows on every runner, Beam's DaskRunner included.

The DaskRunner of Beam 2.77 (apache_beam/runners/dask/) translates a pipeline into dask.bag
operations, and only Create, ParDo, GroupByKey and Flatten have a translation
(transform_evaluator.TRANSLATIONS); everything else is an identity. What that means for our jobs,
read from its source:

* `DaskRunner.run_pipeline` computes only the bag of the LAST transform it visited
  (`dask.optimize(list(dask_visitor.bags.values())[-1])`): a job with several sinks ran only its
  last one. Every job therefore ends in `parquet_io.all_written`, one Flatten of all its sinks.
* A ParDo's outputs are ONE bag: `transform_evaluator.ParDo` sends every tag to the same
  `OneReceiver` list and the visitor hands each output PCollection its producer's whole bag, so
  `.with_outputs(...)` gives every tag all outputs mixed (ingest failed on an error row among its
  photos). `TaggedParDo` emits (tag, value) pairs on one output and splits them with one FlatMap
  per tag.
* Outputs of `finish_bundle` are dropped (`apply_dofn_to_bundle` collects the results before it
  calls `invoke_finish_bundle`). BatchElements, hence RunInference, emits a bundle's last partial
  batch there (those images got no features), and so does WriteToParquet's `_WriteBundleDoFn`
  with its file (an empty Parquet file was all it wrote). Our DoFns emit only from `process`.
* `beam.Reshuffle` is an identity (`_Reshuffle`, no translation) and a GroupByKey keeps its input's
  number of partitions (`bag.groupby(key)`); partitions come only from a Create (`db.from_sequence`,
  --dask_npartitions / --dask_partition_size). `GroupIntoShards` mixes one marker per shard from a
  Create into its GroupByKey, so the groups spread over the Create's partitions on Dask and over
  the workers on any runner; `parquet_io` uses it to write shards and to spread what it reads.
* DoFn.setup and teardown run once per partition (`apply_dofn_to_bundle`), and the result has no
  metrics (`DaskRunnerResult.metrics` raises NotImplementedError: `progress.stage_counters`).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam

_MARKER = "__photoedit_empty_shard__"


class _EmitTagged(beam.DoFn):
    """Runs `fn` and emits each of its outputs as (tag, value), the main output under `main`."""

    def __init__(self, fn: beam.DoFn, main: str, tags: tuple[str, ...]):
        self._fn, self._main, self._tags = fn, main, tags

    def setup(self) -> None:
        self._fn.setup()

    def start_bundle(self) -> None:
        self._fn.start_bundle()

    def process(self, element: Any) -> Iterator[tuple[str, Any]]:
        for out in self._fn.process(element) or ():
            if not isinstance(out, beam.pvalue.TaggedOutput):
                yield self._main, out
            elif out.tag in self._tags:
                yield out.tag, out.value
            else:
                raise ValueError(f"{type(self._fn).__name__} emitted undeclared output tag {out.tag!r}")

    def finish_bundle(self) -> None:
        if self._fn.finish_bundle() is not None:
            raise TypeError(f"{type(self._fn).__name__}.finish_bundle must not emit: the DaskRunner drops it")

    def teardown(self) -> None:
        self._fn.teardown()


def values_of(tagged: tuple[str, Any], tag: str) -> Iterator[Any]:
    """The value of a (tag, value) pair when its tag is `tag` (FlatMap)."""
    if tagged[0] == tag:
        yield tagged[1]


class TaggedOutputs(dict):
    """{tag: PCollection} that also reads as attributes (`out.photos`), like Beam's DoOutputsTuple."""

    def __getattr__(self, tag: str) -> beam.PCollection:
        try:
            return self[tag]
        except KeyError:
            raise AttributeError(tag) from None


class TaggedParDo(beam.PTransform):
    """`ParDo(fn).with_outputs(*tags, main=main)` that keeps the tags apart on every runner (module docstring).

    `fn` yields TaggedOutput(tag, value) for a tag and plain values for the main output, from
    `process` only; its setup/start_bundle/finish_bundle/teardown are called as usual.
    """

    def __init__(self, fn: beam.DoFn, *tags: str, main: str):
        super().__init__()
        self._fn, self._tags, self._main = fn, tags, main

    def expand(self, pcoll: beam.PCollection) -> TaggedOutputs:
        tagged = pcoll | "Tag" >> beam.ParDo(_EmitTagged(self._fn, self._main, self._tags))
        return TaggedOutputs({tag: tagged | f"Only_{tag}" >> beam.FlatMap(values_of, tag)
                              for tag in (self._main, *self._tags)})


def without_markers(group: tuple[int, Iterable[Any]]) -> tuple[int, list[Any]]:
    """(index, elements) with the shard markers of GroupIntoShards taken out."""
    index, elements = group
    return index, [e for e in elements if not (isinstance(e, str) and e == _MARKER)]


class GroupIntoShards(beam.PTransform):
    """(index, element) pairs, index in range(count) -> (index, [elements]) for EVERY index, empty ones too.

    One marker per index comes from a Create and goes through the GroupByKey with the elements, so
    every index has a group (an empty shard is still written) and, on the DaskRunner, the groups
    spread over that Create's partitions (module docstring).
    """

    def __init__(self, count: int):
        super().__init__()
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._count = count

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        markers = keyed.pipeline | "Markers" >> beam.Create([(i, _MARKER) for i in range(self._count)])
        return ((keyed, markers) | "WithMarkers" >> beam.Flatten()
                | "Group" >> beam.GroupByKey()
                | "DropMarkers" >> beam.Map(without_markers))
