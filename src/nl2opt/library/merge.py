"""Merging near-duplicate insights, re-verified on every member's source tasks.

Groups: a new insight with the verified ones that share its taxonomy leaf or
most of its condition's words. The LLM proposes merges per group (one batched
call); each merged insight is re-solved on the source tasks of all members,
and replaces the members whose tasks it all fixes, if at least two are left.
Proposals are taken largest first, and a member merged once is not merged again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nl2opt.library.diagnose import DRAFT_SCHEMA, read_draft
from nl2opt.library.model import Insight, InsightDraft, Provenance, Status, TrainingTask
from nl2opt.library.store import LibraryStore
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMBackend, LLMRequest, LLMResponse, Sampling
from nl2opt.prompts import render_prompt

MERGE_PROMPT = "library_merge.v1"
MERGE_SCHEMA = {"type": "object", "required": ["merges"], "properties": {"merges": {
    "type": "array", "items": {"type": "object", "required": ["members", "insight"],
                               "properties": {"members": {"type": "array",
                                                          "items": {"type": "integer"}},
                                              "insight": DRAFT_SCHEMA}}}}}
_WORD = re.compile(r"[a-z]{3,}")

Verify = Callable[[Sequence[tuple[TrainingTask, Sequence[Insight]]]], list[bool]]


@dataclass
class MergeProposal:
    members: list[Insight]
    draft: InsightDraft
    prompt: str = ""


def _words(insight: Insight) -> set[str]:
    return set(_WORD.findall(insight.condition.lower()))


def similar(a: Insight, b: Insight, threshold: float = 0.5) -> bool:
    if a.taxonomy == b.taxonomy:
        return True
    words_a, words_b = _words(a), _words(b)
    union = words_a | words_b
    return bool(union) and len(words_a & words_b) / len(union) >= threshold


def merge_groups(new: Sequence[Insight], library: Sequence[Insight]) -> list[list[Insight]]:
    """Connected groups (by `similar`) that hold a new insight and at least two members."""
    members = {i.id: i for i in list(library) + list(new)}
    parent = {key: key for key in members}

    def root(key: str) -> str:
        while parent[key] != key:
            key = parent[key]
        return key

    for fresh in new:
        for other in members.values():
            if other.id != fresh.id and similar(fresh, other):
                parent[root(other.id)] = root(fresh.id)
    groups: dict[str, list[Insight]] = {}
    for key in sorted(members):
        groups.setdefault(root(key), []).append(members[key])
    new_ids = {i.id for i in new}
    return [g for _, g in sorted(groups.items())
            if len(g) >= 2 and any(i.id in new_ids for i in g)]


def merge_request(group: Sequence[Insight]) -> LLMRequest:
    prompt = render_prompt(MERGE_PROMPT, insights=list(group))
    return LLMRequest(messages=prompt.messages, json_schema=MERGE_SCHEMA, schema_name="merges",
                      prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.0, max_tokens=4096))


def read_merges(response: LLMResponse, group: Sequence[Insight], prompt: str = ""
                ) -> list[MergeProposal]:
    payload = response.parsed if response.parsed is not None else extract_json(response.text)
    proposals = []
    for entry in (payload or {}).get("merges") or [] if isinstance(payload, dict) else []:
        numbers = {n for n in (entry or {}).get("members") or [] if isinstance(n, int)}
        members = [group[n - 1] for n in sorted(numbers) if 0 < n <= len(group)]
        draft = read_draft((entry or {}).get("insight"))
        if len(members) >= 2 and draft is not None:
            proposals.append(MergeProposal(members, draft, prompt))
    return proposals


def propose_merges(new: Sequence[Insight], library: Sequence[Insight], llm: LLMBackend
                   ) -> list[MergeProposal]:
    """All merge proposals, largest first (one batched LLM call)."""
    groups = merge_groups(new, library)
    if not groups:
        return []
    requests = [merge_request(group) for group in groups]
    replies = llm.generate(requests)
    proposals = [p for group, request, reply in zip(groups, requests, replies)
                 for p in read_merges(reply[0], group, f"{request.prompt_id}@"
                                                       f"{request.prompt_hash}")]
    return sorted(proposals, key=lambda p: (-len(p.members), [m.id for m in p.members]))


def merged_insight(proposal: MergeProposal, members: Sequence[Insight], llm_name: str = "",
                   run: str = "") -> Insight:
    sources = sorted({t for m in members for t in m.provenance.source_tasks})
    provenance = Provenance(origin="merged", source_tasks=sources, llm=llm_name, run=run,
                            prompt=proposal.prompt, merged_from=[m.id for m in members],
                            dataset=",".join(sorted({m.provenance.dataset for m in members
                                                     if m.provenance.dataset})))
    insight = proposal.draft.to_insight(provenance, Status.verified)
    for member in members:
        insight.stats = insight.stats.union(member.stats)
    return insight


def verification_jobs(proposal: MergeProposal, store: LibraryStore
                      ) -> list[tuple[TrainingTask, list[Insight]]]:
    """(task, insights to show) for each member's source task: the merged insight plus
    the other verified insights learned from that task."""
    candidate = merged_insight(proposal, proposal.members)
    member_ids = {m.id for m in proposal.members}
    jobs = []
    for uid in sorted({t for m in proposal.members for t in m.provenance.source_tasks}):
        task = store.get_task(uid)
        if task is None:
            continue
        companions = [i for i in store.list(Status.verified)
                      if uid in i.provenance.source_tasks and i.id not in member_ids]
        jobs.append((task, [candidate] + companions))
    return jobs


def _still_verified(store: LibraryStore, insight_id: str) -> bool:
    current = store.get(insight_id)
    return current is not None and current.status is Status.verified


def apply_merges(store: LibraryStore, proposals: Sequence[MergeProposal],
                 fixed: dict[int, set[str]], llm_name: str = "", run: str = ""
                 ) -> list[Insight]:
    """Commit the verified part of each proposal (`fixed[k]`: task uids proposal k fixed);
    returns the merged insights added."""
    consumed: set[str] = set()
    added = []
    for k, proposal in enumerate(proposals):
        members = [m for m in proposal.members if m.id not in consumed
                   and _still_verified(store, m.id) and m.provenance.source_tasks
                   and set(m.provenance.source_tasks) <= fixed.get(k, set())]
        if len(members) < 2:
            continue
        merged = merged_insight(proposal, members, llm_name, run)
        with store.transaction():
            merged = store.add(merged, f"merged from {', '.join(m.id for m in members)}")
            for member in members:
                store.set_status(member.id, Status.retired, f"merged into {merged.id}")
        consumed |= {m.id for m in members}
        added.append(merged)
    return added
