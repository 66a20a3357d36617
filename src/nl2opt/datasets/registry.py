"""The benchmarks nl2opt knows by name, and where each one comes from.

Each entry names the folder that holds the normalised `canonical.jsonl` (the
layout of the staged benchmark data: `<data dir>/<folder>/canonical.jsonl`),
the source version the canonical file was built from, and, where a single
public file holds the same items, that file's upstream URL and sha256 so that
users outside this workplace can fetch it (`fetch_dataset`). Folders that were
merged from one-directory-per-problem sources have no single upstream file:
those must be downloaded by hand (see `manual_hint`).

The sha256 values are of the upstream blob at the pinned commit; they were
checked against byte-identical staged copies.
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIGUIDE = "microsoft/OptiGuide@419cf7b9eee20b6af036abf15152fa775b20c951"
LLMOPT = "caigaojiang/LLMOPT@445401ca97c81351eb27fcbfa31688e88a3ab7f1"
SIRL = "Cardinal-Operations/SIRL@8e85194b8f251ec229cc310c2c6e8794ead85682"
ORTHOUGHT = "ZJU-TSELab/ORThought@fb8a5ded1ab5f9759a3f513dc96ecb53ee1043d4"

CANONICAL_FILE = "canonical.jsonl"


def _raw_url(version: str, path: str) -> str:
    repo, commit = version.split("@")
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class UpstreamFile:
    """One public source file whose items make up (part of) a dataset.

    `uid_prefix` + the value of `id_field` (or the 0-based row number when
    `id_field` is None) reproduces the uids of the staged `canonical.jsonl`, so
    run records stay comparable whichever copy was loaded.
    """

    url: str
    filename: str
    sha256: str | None
    uid_prefix: str
    id_field: str | None = None
    subset: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """A named benchmark: where its data lives and what it is."""

    name: str
    folder: str
    description: str
    license: str
    version: str
    subset: str | None = None
    upstream: tuple[UpstreamFile, ...] = ()
    manual_hint: str = ""

    @property
    def fetchable(self) -> bool:
        """True when every source file has a known URL and checksum."""
        return bool(self.upstream) and all(u.sha256 for u in self.upstream)


_MAMO_EASY = UpstreamFile(
    url=_raw_url(SIRL, "test_data/MAMO_EasyLP_fixed.jsonl"),
    filename="MAMO_EasyLP_fixed.jsonl",
    sha256="3704621599ff600216f810dd3b118b6ae86a69eb2afa7f386dbea88069657fb7",
    uid_prefix="mamo/easy/sirl642", subset="easy_lp")
_MAMO_COMPLEX = UpstreamFile(
    url=_raw_url(OPTIGUIDE, "optimind/data/optimind_cleaned_classified_mamo_complex.csv"),
    filename="optimind_cleaned_classified_mamo_complex.csv",
    sha256="214df853487992f6c76c77f49d48a3f51c060958e635dc35515c0afc6b0947f8",
    uid_prefix="mamo/complex/optimind210", subset="complex_lp")

_MAMO_LICENSE = ("EasyLP: SIRL fixed copy, no license file (HF release cc-by-nc-4.0; "
                 "original MAMO CC BY-SA 4.0); ComplexLP: OptiMind cleaned copy, MIT")


def _orthought_hint(folder: str) -> str:
    return (f"download by hand: {ORTHOUGHT.split('@')[0]} at commit "
            f"{ORTHOUGHT.split('@')[1]}, folder datasets/processed/{folder}/prob_*/ "
            "(question.txt + answer.json per problem); convert to a JSONL file with "
            "`question` and `answer` fields and pass its path")


DATASETS: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry(
        name="nl4opt", folder="nl4opt",
        description="NL4Opt competition test set, 230 LP word problems as re-labelled by LLMOPT",
        license="LLMOPT copy: no license file found; HF release cc-by-nc-4.0; "
                "competition repo MIT",
        version=f"{LLMOPT}:data/testset/nl4opt_test.jsonl",
        upstream=(UpstreamFile(
            url=_raw_url(LLMOPT, "data/testset/nl4opt_test.jsonl"),
            filename="nl4opt_test.jsonl",
            sha256="509cd51ea7d509f92610304a83feee7e270fe8350cb3368e38e615faf9c88d27",
            uid_prefix="nl4opt/llmopt230", id_field="index"),)),
    DatasetEntry(
        name="optibench", folder="optibench",
        description="OptiBench (ReSocratic), 605 linear and nonlinear problems, LLMOPT's "
                    "single-objective copy",
        license="LLMOPT copy: no license file found; original ReSocratic Apache-2.0",
        version=f"{LLMOPT}:data/testset/optibench.jsonl",
        upstream=(UpstreamFile(
            url=_raw_url(LLMOPT, "data/testset/optibench.jsonl"),
            filename="optibench.jsonl",
            sha256="f48ea6fdb1d0c72d3358d81d309118dba81754e9273e2e1c36f7b076d3b7efe9",
            uid_prefix="optibench/llmopt605", id_field="index"),)),
    DatasetEntry(
        name="mamo", folder="mamo",
        description="MAMO EasyLP (SIRL-fixed, 642) + ComplexLP (OptiMind-cleaned, 210)",
        license=_MAMO_LICENSE,
        version=f"{SIRL}:test_data/MAMO_EasyLP_fixed.jsonl + "
                f"{OPTIGUIDE}:optimind/data/optimind_cleaned_classified_mamo_complex.csv",
        upstream=(_MAMO_EASY, _MAMO_COMPLEX)),
    DatasetEntry(
        name="mamo_easy", folder="mamo", subset="easy_lp",
        description="MAMO EasyLP, 642 short LP/MILP problems, SIRL-fixed labels",
        license=_MAMO_LICENSE,
        version=f"{SIRL}:test_data/MAMO_EasyLP_fixed.jsonl",
        upstream=(_MAMO_EASY,)),
    DatasetEntry(
        name="mamo_complex", folder="mamo", subset="complex_lp",
        description="MAMO ComplexLP, 210 longer LP/MILP problems, OptiMind-cleaned labels",
        license=_MAMO_LICENSE,
        version=f"{OPTIGUIDE}:optimind/data/optimind_cleaned_classified_mamo_complex.csv",
        upstream=(_MAMO_COMPLEX,)),
    DatasetEntry(
        name="industryor", folder="industryor",
        description="IndustryOR (ORLM), 99 industrial OR problems, OptiMind-cleaned v2 text",
        license="OptiMind copy MIT; HF release cc-by-nc-4.0",
        version=f"{OPTIGUIDE}:optimind/data/optimind_cleaned_classified_industryor.csv",
        upstream=(UpstreamFile(
            url=_raw_url(OPTIGUIDE, "optimind/data/optimind_cleaned_classified_industryor.csv"),
            filename="optimind_cleaned_classified_industryor.csv",
            sha256="fd80b3061e13edc040a7ff395f4f664fd761ad26b651e5dc8dcbbd7d3a48b427",
            uid_prefix="industryor/optimind99"),)),
    DatasetEntry(
        name="optmath_bench", folder="optmath_bench",
        description="OptMATH-Bench, 128 long hard instances, OptiMind-cleaned",
        license="OptiMind copy MIT; upstream optsuite/OptMATH Apache-2.0",
        version=f"{OPTIGUIDE}:optimind/data/optimind_cleaned_classified_optmath.csv",
        upstream=(UpstreamFile(
            url=_raw_url(OPTIGUIDE, "optimind/data/optimind_cleaned_classified_optmath.csv"),
            filename="optimind_cleaned_classified_optmath.csv",
            sha256="a03c8a92ee594b1eb62b10638c1902f9636940e052c17b5b8bcc00858eb2f515",
            uid_prefix="optmath_bench/optimind130"),)),
    DatasetEntry(
        name="nlp4lp", folder="nlp4lp",
        description="NLP4LP (OptiMUS), 264 LP/MILP problems, ORThought-corrected "
                    "(242 optimal, 8 infeasible-or-unbounded, 14 unlabeled)",
        license="ORThought copy: no license file found; HF udell-lab/NLP4LP cc-by-nc-sa-4.0",
        version=f"{ORTHOUGHT}:datasets/processed/NLP4LP",
        manual_hint=_orthought_hint("NLP4LP")),
    DatasetEntry(
        name="complexor", folder="complexor",
        description="ComplexOR (Chain-of-Experts), 18 abstract OR problems, ORThought-corrected",
        license="no license file found (ORThought, Chain-of-Experts)",
        version=f"{ORTHOUGHT}:datasets/processed/ComplexOR",
        manual_hint=_orthought_hint("ComplexOR")),
    DatasetEntry(
        name="logior", folder="logior",
        description="LogiOR (ORThought), 92 logistics and supply-chain problems",
        license="no license file found (ORThought)",
        version=f"{ORTHOUGHT}:datasets/processed/LogiOR",
        manual_hint=_orthought_hint("LogiOR")),
)}


def dataset_names() -> list[str]:
    """The registered dataset names, in registry order."""
    return list(DATASETS)


def get_entry(name: str) -> DatasetEntry | None:
    """The registry entry for `name` (case-insensitive), or None."""
    return DATASETS.get(name.strip().lower())
