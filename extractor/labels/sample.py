"""Which of a user's documents to label first: every sender, template or layout before a second of
the same.

Clusters are found in two steps, both from what the parser already gives:
1. a **source key**: the document's kind and who or what made it — an email's sender domain, a
   PDF's producing software (`producer`/`creator`), a scan's page count;
2. within one key, **template similarity**: the opening text of the document (its first 600
   characters, digits masked, lower-cased) as a set of word 3-grams; a document joins the first
   cluster whose founding document shares at least half of its 3-grams (Jaccard ≥ 0.5), else it
   founds a new one. Invoices of one template share their wording and differ in numbers, which the
   masking removes; two templates of one sender land in two clusters.

The order takes one document from each cluster in turn (largest clusters first, so the templates
that make most of the folder are labelled first), and a cluster already covered by labels a
previous run made counts those (by doc_id), so a rerun fills the clusters it has not seen yet.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from extractor.types import Document

OPENING_CHARS = 600
SIMILAR = 0.5  # Jaccard of opening 3-grams at or above which two documents share a template
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"[^\W\d_]+|#", re.UNICODE)


@dataclass(frozen=True)
class Candidate:
    """A parsed document that may be labelled: its file, identity, source key and template shingles."""

    path: Path
    doc_id: str
    key: str
    shingles: frozenset[int]


def candidate(path: Path, doc: Document) -> Candidate:
    return Candidate(path, doc.doc_id, source_key(doc), opening_shingles(doc.text))


def source_key(doc: Document) -> str:
    """Kind and maker: an email's sender domain, a PDF's producing software, else the kind alone."""
    meta = doc.metadata
    if doc.kind in ("email", "msg"):
        addresses = meta.get("from_addresses") or []
        domain = addresses[0].rpartition("@")[2].lower() if addresses else "no sender"
        return f"{doc.kind} {domain}"
    if doc.kind == "pdf":
        maker = " / ".join(str(meta[k]).strip() for k in ("producer", "creator") if meta.get(k)) or "unknown maker"
        return f"pdf {_DIGITS.sub('#', maker)[:60]}"
    if doc.kind == "image":
        return f"image {len(doc.pages)} page(s)"
    return doc.kind


def opening_shingles(text: str) -> frozenset[int]:
    """Word 3-grams of the opening text, digits masked: what one template's documents share."""
    words = _WORDS.findall(_DIGITS.sub("#", text[:OPENING_CHARS].lower()))
    grams = zip(words, words[1:], words[2:], strict=False) if len(words) >= 3 else [tuple(words)]
    return frozenset(zlib.crc32(" ".join(g).encode()) for g in grams if g)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def clusters(candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    """Candidates by cluster name ("pdf Acme Invoicer #2"), each in the order given."""
    by_key: dict[str, list[list[Candidate]]] = defaultdict(list)
    for c in candidates:
        groups = by_key[c.key]
        for group in groups:
            if jaccard(group[0].shingles, c.shingles) >= SIMILAR:
                group.append(c)
                break
        else:
            groups.append([c])
    return {f"{key} #{i}": group for key, groups in by_key.items() for i, group in enumerate(groups, start=1)}


def diverse_order(
    grouped: Mapping[str, Sequence[Candidate]], seed: int = 0, labelled: Set[str] = frozenset()
) -> list[tuple[str, Candidate]]:
    """(cluster, candidate) in labelling order for the candidates not `labelled` yet (doc_ids):
    round-robin over clusters, the one with the fewest labels first (ties: the larger cluster),
    each cluster's documents in a seeded random order."""
    rng = random.Random(seed)
    queues: dict[str, list[Candidate]] = {}
    for name, members in sorted(grouped.items()):
        todo = [c for c in members if c.doc_id not in labelled]
        queues[name] = rng.sample(todo, len(todo))
    taken = Counter({name: sum(c.doc_id in labelled for c in grouped[name]) for name in queues})
    order: list[tuple[str, Candidate]] = []
    while any(queues.values()):
        name = min((n for n, q in queues.items() if q), key=lambda n: (taken[n], -len(grouped[n]), n))
        order.append((name, queues[name].pop()))
        taken[name] += 1
    return order
