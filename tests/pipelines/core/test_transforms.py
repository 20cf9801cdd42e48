"""Runner-independent building blocks: tagged outputs kept apart, a group for every shard index."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.transforms import GroupIntoShards, TaggedParDo


class Parity(beam.DoFn):
    """Even numbers to the main output, odd ones tagged `odd`, 5, 10, ... tagged `five`."""

    def setup(self):
        self.ready = True

    def process(self, x):
        assert self.ready
        if x % 5 == 0 and x:
            yield beam.pvalue.TaggedOutput("five", x)
        elif x % 2:
            yield beam.pvalue.TaggedOutput("odd", x)
        else:
            yield x


def test_tagged_par_do_keeps_each_output_apart():
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([0, 1, 2, 3, 4, 5, 6, 7]) | TaggedParDo(Parity(), "odd", "five", main="even")
        assert_that(out.even, equal_to([0, 2, 4, 6]), label="Even")
        assert_that(out["odd"], equal_to([1, 3, 7]), label="Odd")
        assert_that(out.five, equal_to([5]), label="Five")
    with pytest.raises(AttributeError):
        getattr(out, "nope")


def test_an_undeclared_tag_fails_the_pipeline():
    with pytest.raises(Exception, match="undeclared output tag 'five'"):
        with BeamTestPipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create([5]) | TaggedParDo(Parity(), "odd", main="even")


def test_group_into_shards_gives_every_index_a_group_empty_ones_too():
    with BeamTestPipeline(runner="FnApiRunner") as p:
        groups = p | beam.Create([(1, "a"), (1, "b"), (3, "c")]) | GroupIntoShards(4)
        assert_that(groups | beam.Map(lambda g: (g[0], sorted(g[1]))),
                    equal_to([(0, []), (1, ["a", "b"]), (2, []), (3, ["c"])]))
    with pytest.raises(ValueError):
        GroupIntoShards(0)
