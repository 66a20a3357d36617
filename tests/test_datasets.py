"""Dataset registry and loaders: the staged benchmarks, hand-made files, fetching."""

import collections
import dataclasses
import hashlib
import json
import re

import pytest

from conftest import DATASETS
from nl2opt.datasets import (
    DATASETS as REGISTRY,
    DatasetNotFoundError,
    fetch_dataset,
    get_entry,
    load_dataset,
    parse_answer,
    user_cache_dir,
)
from nl2opt.errors import DataError

staged = pytest.mark.skipif(not DATASETS.is_dir(),
                            reason=f"staged benchmark data not present at {DATASETS} "
                                   "(only in the development workplace)")

EXPECTED_COUNTS = {"nl4opt": 230, "optibench": 605, "mamo": 852, "mamo_easy": 642,
                   "mamo_complex": 210, "industryor": 99, "optmath_bench": 128,
                   "nlp4lp": 264, "complexor": 18, "logior": 92}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def readme_canonical(folder):
    """(item count, {status: count}, sha256 prefix) the folder README states."""
    text = (DATASETS / folder / "README.md").read_text(encoding="utf-8")
    match = re.search(r"`canonical\.jsonl` — (\d+) items \(([^)]*)\)", text)
    statuses = {k.strip(): int(v) for k, v in
                (part.split(":") for part in match.group(2).split(","))}
    prefix = re.search(r"\| `canonical\.jsonl` \|.*\| `([0-9a-f]{16})` \|", text).group(1)
    return int(match.group(1)), statuses, prefix


def test_registry_has_every_benchmark_with_source_and_license():
    assert set(EXPECTED_COUNTS) == set(REGISTRY)
    for entry in REGISTRY.values():
        assert re.match(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:", entry.version), entry.version
        assert entry.license and entry.description
        assert entry.fetchable or "download by hand" in entry.manual_hint
        for upstream in entry.upstream:
            assert upstream.url.startswith("https://raw.githubusercontent.com/")
            assert re.fullmatch(r"[0-9a-f]{64}", upstream.sha256)
    assert get_entry("MAMO_Easy").subset == "easy_lp"
    assert get_entry("mamo_complex").subset == "complex_lp"


@staged
@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_every_registered_dataset_loads_with_the_readme_counts(name):
    entry = REGISTRY[name]
    data = load_dataset(name, data_dir=DATASETS)
    assert len(data) == EXPECTED_COUNTS[name]
    assert data.version == entry.version and data.name == name
    assert len({item.uid for item in data.items}) == len(data)
    assert all(item.question.strip() for item in data.items)
    for item in data.items:
        assert (item.answer is not None) == (item.answer_status == "optimal"), item.uid
    if entry.subset is None:
        count, statuses, prefix = readme_canonical(entry.folder)
        assert len(data) == count
        assert dict(collections.Counter(i.answer_status for i in data.items)) == statuses
    else:
        assert {item.subset for item in data.items} == {entry.subset}
        _, _, prefix = readme_canonical(entry.folder)
    canonical = DATASETS / entry.folder / "canonical.jsonl"
    assert data.file_hash == hashlib.sha256(canonical.read_bytes()).hexdigest()
    assert data.file_hash.startswith(prefix)
    assert load_dataset(name, data_dir=DATASETS).file_hash == data.file_hash


@staged
def test_non_optimal_statuses_parse():
    nlp4lp = collections.Counter(i.answer_status for i in load_dataset("nlp4lp", DATASETS).items)
    assert nlp4lp == {"optimal": 242, "unlabeled": 14, "infeasible_or_unbounded": 8}
    complexor = collections.Counter(i.answer_status
                                    for i in load_dataset("complexor", DATASETS).items)
    assert complexor == {"optimal": 16, "unlabeled": 1, "infeasible": 1}


@staged
def test_limit_and_ids_select_items():
    full = load_dataset("optibench", data_dir=DATASETS)
    assert [i.uid for i in load_dataset("optibench", DATASETS, limit=5).items] == \
        [i.uid for i in full.items[:5]]
    assert len(load_dataset("optibench", DATASETS, limit=0)) == 0
    wanted = [full.items[40].uid, full.items[3].uid]
    chosen = load_dataset("optibench", DATASETS, ids=wanted)
    assert [i.uid for i in chosen.items] == [full.items[3].uid, full.items[40].uid]
    assert len(load_dataset("optibench", DATASETS, ids=wanted, limit=1)) == 1
    with pytest.raises(DataError, match="no item.*optibench/nope"):
        load_dataset("optibench", DATASETS, ids=["optibench/nope"])


def _staged_copy(filename, sha256):
    """The staged verbatim copy of an upstream file (found by name and checksum)."""
    for path in DATASETS.rglob(filename):
        if hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
            return path
    pytest.skip(f"no staged copy of {filename}")


@staged
@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if e.fetchable])
def test_fetched_upstream_files_give_the_same_items_as_canonical(name, tmp_path):
    entry = REGISTRY[name]
    (tmp_path / entry.folder).mkdir()
    for upstream in entry.upstream:
        source = _staged_copy(upstream.filename, upstream.sha256)
        (tmp_path / entry.folder / upstream.filename).write_bytes(source.read_bytes())
    fetched = load_dataset(name, data_dir=tmp_path)
    canonical = load_dataset(name, data_dir=DATASETS)
    assert [i.uid for i in fetched.items] == [i.uid for i in canonical.items]
    for a, b in zip(fetched.items, canonical.items):
        assert (a.question, a.answer, a.answer_status, a.subset) == \
            (b.question, b.answer, b.answer_status, b.subset)
    if len(entry.upstream) == 1:
        assert fetched.file_hash == entry.upstream[0].sha256


def test_fetch_from_a_file_url_checks_the_checksum(tmp_path):
    source = write_jsonl(tmp_path / "upstream.jsonl",
                         [{"en_question": "Maximise x with x <= 3.", "en_answer": "3"},
                          {"en_question": "Minimise y with y >= 2.", "en_answer": 2.0}])
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    base = REGISTRY["mamo_easy"]
    upstream = dataclasses.replace(base.upstream[0], url=source.as_uri(), sha256=digest,
                                   filename="toy.jsonl", uid_prefix="toy/v1")
    entry = dataclasses.replace(base, name="toy", folder="toy", upstream=(upstream,))
    cache = tmp_path / "cache"
    [saved] = fetch_dataset(entry, cache)
    assert saved == cache / "toy" / "toy.jsonl" and saved.read_bytes() == source.read_bytes()
    data = load_dataset(entry, data_dir=cache)
    assert [(i.uid, i.answer, i.subset) for i in data.items] == \
        [("toy/v1/0", 3.0, "easy_lp"), ("toy/v1/1", 2.0, "easy_lp")]
    assert data.file_hash == digest
    assert fetch_dataset(entry, cache) == [saved]  # already there: no new download

    wrong = dataclasses.replace(entry, folder="wrong", upstream=(
        dataclasses.replace(upstream, sha256="0" * 64),))
    with pytest.raises(DataError, match="does not match"):
        fetch_dataset(wrong, cache)
    assert not any((cache / "wrong").iterdir())  # neither the file nor a .part left
    missing = dataclasses.replace(entry, folder="gone", upstream=(
        dataclasses.replace(upstream, url=(tmp_path / "absent.jsonl").as_uri()),))
    with pytest.raises(DataError, match="could not download"):
        fetch_dataset(missing, cache)


def test_fetch_refuses_datasets_without_a_public_file(tmp_path):
    with pytest.raises(DataError, match="download by hand"):
        fetch_dataset("logior", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        fetch_dataset("no_such_benchmark", tmp_path)


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("nl4opt", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "nl4opt" / "canonical.jsonl") in message
    assert str(tmp_path / "nl4opt" / "nl4opt_test.jsonl") in message
    assert "nl2opt data fetch nl4opt" in message
    assert REGISTRY["nl4opt"].upstream[0].url in message
    assert info.value.looked_in == [tmp_path]
    with pytest.raises(DatasetNotFoundError, match="download by hand.*ORThought"):
        load_dataset("complexor", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="neither a registered dataset"):
        load_dataset(str(tmp_path / "nothing.jsonl"))


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    record = {"uid": "logior/x/1", "question": "q", "answer": 1.0, "answer_status": "optimal"}
    for place in ("env", "cache/nl2opt/datasets", "shared/datasets"):
        (tmp_path / place / "logior").mkdir(parents=True)
        write_jsonl(tmp_path / place / "logior" / "canonical.jsonl",
                    [{**record, "question": place}])
    (tmp_path / "main").mkdir()
    monkeypatch.chdir(tmp_path / "main")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NL2OPT_DATA_DIR", str(tmp_path / "env"))
    assert load_dataset("logior").items[0].question == "env"
    monkeypatch.delenv("NL2OPT_DATA_DIR")
    assert user_cache_dir() == tmp_path / "cache" / "nl2opt" / "datasets"
    assert load_dataset("logior").items[0].question == "cache/nl2opt/datasets"
    (tmp_path / "cache/nl2opt/datasets/logior/canonical.jsonl").unlink()
    assert load_dataset("logior").items[0].question == "shared/datasets"
    assert load_dataset("logior", data_dir=tmp_path / "env").items[0].question == "env"


def test_any_jsonl_file_with_common_field_names(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"question": "A", "answer": 12},
        {"en_question": "B", "en_answer": "3.5", "id": "b7"},
        {"description": "C", "obj": "[42.5]"},
        {"question": "D", "answer": {"status": "infeasible or unbounded", "obj": None}},
        {"question": "E", "answer": {"status": "optimal", "obj": -7}},
        {"question": "F", "answer": "No Best Solution"},
        {"question": "G"},
        {"question": "H", "answer": {"Amount of A": "1", "Cost": "340"}},
        {"question": "I", "ground_truth": 1e3, "task_id": "T9"},
    ])
    data = load_dataset(str(path))
    assert data.name == "mine" and data.version == f"file:{path.resolve()}"
    assert data.file_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    got = [(i.uid, i.question, i.answer, i.answer_status) for i in data.items]
    assert got == [
        ("mine/0", "A", 12.0, "optimal"), ("mine/b7", "B", 3.5, "optimal"),
        ("mine/2", "C", 42.5, "optimal"), ("mine/3", "D", None, "infeasible_or_unbounded"),
        ("mine/4", "E", -7.0, "optimal"), ("mine/5", "F", None, "infeasible_or_unbounded"),
        ("mine/6", "G", None, "unlabeled"), ("mine/7", "H", None, "unlabeled"),
        ("mine/T9", "I", 1000.0, "optimal")]
    assert data.items[2].answer_raw == "[42.5]"
    assert load_dataset(path, ids=["mine/b7"]).items[0].question == "B"


def test_csv_and_json_array_files(tmp_path):
    csv_path = tmp_path / "table.csv"
    csv_path.write_text('problem_class,question,answer\n"[\'LP\']","Max x,\nwith a comma",'
                        '"[5.0]"\n[],,\n"[]","Min y","7"\n', encoding="utf-8")
    items = load_dataset(csv_path).items
    assert [(i.uid, i.question, i.answer) for i in items] == \
        [("table/0", "Max x,\nwith a comma", 5.0), ("table/2", "Min y", 7.0)]
    array = tmp_path / "arr.json"
    array.write_text(json.dumps([{"task_id": 0, "description": "d", "ground_truth": 66}]))
    assert load_dataset(array).items[0].answer == 66.0


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok", "answer": 1}\n\n{"question": "cut\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: not valid JSON"):
        load_dataset(path)
    path.write_text('{"question": "ok", "answer": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2: expected a JSON object"):
        load_dataset(path)
    write_jsonl(path, [{"question": "ok"}, {"text": "no question field", "label": 3}])
    with pytest.raises(DataError, match=r"line 2: no question text.*en_question"):
        load_dataset(path)
    write_jsonl(path, [{"question": "a", "id": 1}, {"question": "b", "id": 1}])
    with pytest.raises(DataError, match=r"line 2: duplicate uid 'bad/1'"):
        load_dataset(path)
    write_jsonl(path, [{"uid": "u", "question": "q", "answer_status": "solved"}])
    with pytest.raises(DataError, match=r"line 1: not a valid dataset item.*answer_status"):
        load_dataset(path)
    with pytest.raises(DataError, match="limit must be"):
        write_jsonl(path, [{"question": "q"}])
        load_dataset(path, limit=-1)


def test_json_lines_may_contain_unicode_line_separators(tmp_path):
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps({"question": "a\u2028b", "answer": 1}, ensure_ascii=False)
                    + "\n", encoding="utf-8")
    assert load_dataset(path).items[0].question == "a\u2028b"


@pytest.mark.parametrize("raw,expected", [
    (5, (5.0, "optimal")), ("-3.25", (-3.25, "optimal")), ("1,200", (1200.0, "optimal")),
    ("[78450.0]", (78450.0, "optimal")), ([2], (2.0, "optimal")), ("[1, 2]", (None, "unlabeled")),
    (None, (None, "unlabeled")), ("", (None, "unlabeled")), (float("nan"), (None, "unlabeled")),
    (True, (None, "unlabeled")), ("infeasible", (None, "infeasible")),
    ("Unbounded", (None, "unbounded")), ({"status": "infeasible", "obj": None},
                                         (None, "infeasible")),
    ({"status": "optimal", "obj": None}, (None, "unlabeled")), ({"obj": 4}, (4.0, "optimal")),
    ("optimal", (None, "unlabeled")),
])
def test_parse_answer(raw, expected):
    assert parse_answer(raw) == expected
