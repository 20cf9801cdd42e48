"""Ingest's plan: rows round-trip, members stream into their photos' parts, bad members become errors."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.fivek import ingest_plan
from pipelines.fivek.layout import PhotoMetadata, SplitAssigner


@dataclass(frozen=True)
class Member:
    """The fields of a catalog member (pipelines.lightroom.catalog.CatalogEdit) the plan reads."""

    collection_set: str
    collection: str
    image_id: int
    base_name: str
    settings_text: str


def test_plan_rows_give_back_the_plan():
    photo = ingest_plan.PhotoInput(photo_id="a0001", base_name="a0001-x", raw_uri="/r/a0001-x.dng", raw_found=True,
                                   split="test", metadata=PhotoMetadata(base_name="a0001-x", camera_make="Canon",
                                                                        categories={"light": "sun_sky", "time": None}))
    bare = ingest_plan.PhotoInput(photo_id="a0002", base_name="a0002-y", raw_uri="/r/a0002-y.dng", raw_found=False,
                                  split="train")
    edit = ingest_plan.EditInput(photo_id="a0001", base_name="a0001-x", editor="C", editor_kind="expert", image_id=7,
                                 settings_text="s = { Exposure = 0.5 }", uri="cat#Experts/C/7", member=object())
    for p in (photo, bare):
        assert ingest_plan.photo_input(ingest_plan.photo_plan_row(p)) == p
    back = ingest_plan.edit_input(ingest_plan.edit_plan_row(edit))
    assert back.member is None and back == ingest_plan.EditInput(**{**edit.__dict__, "member": None})
    assert [ingest_plan.part_count(n) for n in (0, 250, 251, 5000)] == [1, 1, 2, 20]


def test_iter_edits_streams_and_turns_bad_names_and_second_copies_into_errors():
    members = [Member("Experts", "A", 1, "a0001-x", "s = {}"), Member("Experts", "A", 2, "a0001-x", "s = {}"),
               Member("Experts", "A", 3, "nonsense", "s = {}"), Member("Experts", "B", 4, "a0001-x", "s = {}")]
    errors: list[dict] = []
    edits = ingest_plan.iter_edits(iter(members), "expert", "cat", errors)
    first = next(edits)
    assert (first.photo_id, first.editor, first.image_id) == ("a0001", "A", 1) and errors == []   # lazy
    rest = list(edits)
    assert [(e.editor, e.image_id) for e in rest] == [("B", 4)]        # a second copy in another collection is kept
    assert [(e["id"], e["reason"].split(":")[0]) for e in errors] == [("a0001", "DuplicateMemberError"),
                                                                      ("nonsense", "FiveKLayoutError")]


def test_members_are_written_to_their_photos_parts_holding_at_most_chunk_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_plan, "PHOTOS_PER_PART", 2)
    monkeypatch.setattr(ingest_plan, "CHUNK_ROWS", 2)
    photos = [f"a000{k}-x" for k in range(1, 6)]
    members = [Member("Experts", c, i, name, f"s = {{ Exposure = {i} }}")
               for c in "AB" for i, name in enumerate(photos)]
    files = ingest_plan.PlanFiles(str(tmp_path), parts=3, num_photos=5)
    part_of = {f"a000{k}": (k - 1) // 2 for k in range(1, 6)}
    writer = ingest_plan._PartWriter(files, part_of)
    held = []
    for edit in ingest_plan.iter_edits(iter(members), "expert", "cat", []):
        writer.add(edit)
        held.append(len(writer._rows))
    writer.flush()
    assert max(held) <= 2 and writer.written == 10
    for part in range(3):
        got = [(e.editor, e.photo_id) for e in files.read_edits(part)]
        assert got == [(c, p) for c in "AB" for p in sorted(part_of) if part_of[p] == part]
    assert SplitAssigner("hash")("a0001") in ("train", "validation", "test")
