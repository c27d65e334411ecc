"""OCR speed and character accuracy on generated scans. Writes bench/results/ocr/accuracy.{json,md}.

    .venv/bin/python bench/ocr_accuracy.py [--n 12]

Takes the first N invoices of the generated test split (data/synth/invoice/test, made by
`extractor synth`; held-out layouts), scans every page (150 dpi, rotated 1.2°, sensor noise: the
test suite's scanner, tests/scans.py), parses the scan with extractor's parser (OCR at 300 dpi),
and compares with the digital page's own text layer, whitespace collapsed:
- CER: edit distance / reference length (reading-order differences count as errors too);
- word recall: share of the reference's words found in the OCR text (order-free).
Seconds per page are measured around the whole parse of the scan (render + Tesseract).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ocr"


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalise(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import pymupdf

    from extractor.parse import parse_file
    from extractor.parse.ocr import binary
    from tests import scans

    if binary() is None:
        raise SystemExit("Tesseract is not installed (make setup installs it)")
    sources = sorted((ROOT / "data" / "synth" / "invoice" / "test").glob("*.pdf"))[: args.n]
    if not sources:
        raise SystemExit(
            "no generated invoices: run `extractor synth --schema invoice --n 160 --out data/synth/invoice`"
        )
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "ocr-bench"
    work.mkdir(exist_ok=True)
    chars = errors = pages = 0
    words_ref = words_found = 0
    seconds = 0.0
    per_doc = []
    for source in sources:
        digital = source.read_bytes()
        reference = [normalise(p.get_text()) for p in pymupdf.open(stream=digital, filetype="pdf")]
        scan = work / source.name
        scan.write_bytes(scans.image_only_pdf(scans.scanned_images(digital)))
        t0 = time.perf_counter()
        doc = parse_file(scan)
        elapsed = time.perf_counter() - t0
        ocr_pages = [normalise(doc.text[p.start : p.end]) for p in doc.pages]
        doc_errors = sum(edit_distance(r, o) for r, o in zip(reference, ocr_pages, strict=True))
        doc_chars = sum(len(r) for r in reference)
        ref_words = Counter(w for r in reference for w in r.split())
        got_words = Counter(w for o in ocr_pages for w in o.split())
        found = sum(min(n, got_words[w]) for w, n in ref_words.items())
        chars, errors, pages, seconds = (
            chars + doc_chars,
            errors + doc_errors,
            pages + len(reference),
            seconds + elapsed,
        )
        words_ref, words_found = words_ref + sum(ref_words.values()), words_found + found
        per_doc.append(
            {
                "file": source.name,
                "pages": len(reference),
                "cer": round(doc_errors / doc_chars, 4),
                "word_recall": round(found / sum(ref_words.values()), 4),
                "ocr_confidence": doc.metadata.get("ocr_confidence"),
                "seconds": round(elapsed, 2),
            }
        )
        print(per_doc[-1])
    results = {
        "documents": len(sources),
        "pages": pages,
        "cer": round(errors / chars, 4),
        "character_accuracy": round(1 - errors / chars, 4),
        "word_recall": round(words_found / words_ref, 4),
        "seconds_per_page": round(seconds / pages, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Tesseract at 300 dpi",
        "command": f".venv/bin/python bench/ocr_accuracy.py --n {args.n}",
        "documents_detail": per_doc,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "accuracy.json").write_text(json.dumps(results, indent=2) + "\n")
    table = "\n".join(
        f"| {d['file']} | {d['pages']} | {d['cer']:.3f} | {d['word_recall']:.3f} | {d['ocr_confidence']} "
        f"| {d['seconds']} |"
        for d in per_doc
    )
    (RESULTS / "accuracy.md").write_text(
        f"# OCR on generated scans ({len(sources)} invoices, {pages} pages)\n\n"
        f"Command: `{results['command']}` · {results['machine']}\n\n"
        f"**Character accuracy {results['character_accuracy']:.1%}** (CER {results['cer']:.3f}, reading-order "
        f"differences included) · **word recall {results['word_recall']:.1%}** · "
        f"**{results['seconds_per_page']} s per page** (render + Tesseract)\n\n"
        "| file | pages | CER | word recall | OCR confidence | seconds |\n|---|---:|---:|---:|---:|---:|\n"
        + table
        + "\n"
    )
    print({k: v for k, v in results.items() if k != "documents_detail"})


if __name__ == "__main__":
    main()
