"""Chatbot benchmark: intent accuracy on Banking77, FAQ retrieval on BankFAQs, reply latency on CPU.

    python tests/benchmarks/chatbot.py [--data DIR] [--faq FILE] [--latency-messages N]

    python tests/benchmarks/chatbot.py --latency-only [--per-class 15]   # reply latency only (section chatbot_latency)

Intents: trains the product's intent model (``ml.nlp.intent``, default ``IntentConfig`` = the product's config)
and the frozen-embedding baseline (``finetune_epochs=0, feature_layers=1``) on ``DIR/train.csv`` and reports
accuracy and macro-F1 on ``DIR/test.csv`` (columns ``text,category``), training seconds, and the single-message
reply latency (``ml.nlp.pipeline.Understander.understand``: intent + out-of-scope check + entities + hybrid FAQ
search over the FAQ file's questions, the product's code path) as p50/p95 over ``--latency-messages`` test
messages, one at a time, on CPU. With ``DIR/oos_test.csv`` it also reports out-of-scope recall and the in-scope
accuracy with the threshold applied.

FAQ retrieval protocol (BankFAQs has too few paraphrased questions for a held-out-question split): every
article is indexed by its *answer* only, each of the 1,764 questions is a query, and a hit is any article
with the same answer text. So the retriever must match a question to an answer that does not repeat it —
harder than the product's question index. recall@1/@5 and MRR for dense (MiniLM), BM25 and the hybrid (RRF).

The last stdout line is one JSON object; the numbers also go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import _report  # noqa: E402

ROOT = _report.ROOT
sys.path.insert(0, str(ROOT))

from ml import offline  # noqa: E402

offline.configure(ROOT / "var" / "ml")

from ml.core import no_progress  # noqa: E402
from ml.device import select_device  # noqa: E402
from ml.metrics import accuracy, macro_f1  # noqa: E402
from ml.metrics.retrieval import mean_reciprocal_rank, recall_at_k  # noqa: E402
from ml.nlp.encoder import Encoder, set_inference_threads  # noqa: E402
from ml.nlp.intent import IntentConfig, IntentDataset, IntentPredictor, train  # noqa: E402
from ml.nlp.pipeline import FaqArticleText, FaqSearcher, Understander  # noqa: E402
from ml.nlp.retrieval import FaqIndex  # noqa: E402

# ../shared beside the repository (a git worktree one level deeper also finds it).
SHARED_DATA = next((p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "data").is_dir()), ROOT.parent / "shared" / "data")
DEFAULT_DATA = SHARED_DATA / "banking77"
DEFAULT_FAQ = SHARED_DATA / "faq" / "BankFAQs.csv"
BASELINE = {"finetune_epochs": 0, "feature_layers": 1}
SEED = 42
OPERATING_POINTS = (0.02, 0.05, 0.1, 0.15, 0.2)
FEWSHOT_SIZES = (10, 5)
PARTS = {"intents", "open-intent", "fewshot"}


def log(message: str) -> None:
    print(f"[chatbot-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def read_pairs(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def read_faq(path: Path) -> list[FaqArticleText]:
    with path.open(newline="", encoding="utf-8") as f:
        return [FaqArticleText(i, r["Question"].strip(), r["Answer"].strip()) for i, r in enumerate(csv.DictReader(f))]


def evaluate(predictor: IntentPredictor, texts: list[str], labels: list[str], oos_texts: list[str]) -> dict:
    index = {c: i for i, c in enumerate(predictor.classes)}
    probs, typicality = predictor.scores(texts)
    predicted = probs.argmax(1)
    y = [index.get(label, -1) for label in labels]
    known = [i for i, v in enumerate(y) if v >= 0]
    yt = [y[i] for i in known]
    yp = [int(predicted[i]) for i in known]
    result = {"accuracy": round(accuracy(yt, yp), 4), "macro_f1": round(macro_f1(yt, yp, len(predictor.classes)), 4)}
    accepted = np.array([not p.out_of_scope for p in predictor.predictions(probs, typicality)])
    result["accepted_fraction"] = round(float(accepted[known].mean()), 4)
    if oos_texts:
        result["inscope_accuracy_with_oos"] = round(sum(1 for i in known if accepted[i] and predicted[i] == y[i]) / len(known), 4)
        result["oos_recall"] = round(float(np.mean([p.out_of_scope for p in predictor.predictions(*predictor.scores(oos_texts))])), 4)
    return result


def sample_per_intent(data: IntentDataset, per_intent: int, seed: int) -> IntentDataset:
    """``per_intent`` examples of every intent, drawn at random (seeded): what a shop writes on day one."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    keep = sorted(int(i) for label in sorted(by_label) for i in rng.choice(by_label[label], min(per_intent, len(by_label[label])), replace=False))
    return IntentDataset([data.texts[i] for i in keep], [data.labels[i] for i in keep])


def fewshot(data: IntentDataset, test: tuple[list[str], list[str]], per_intent: int) -> dict:
    subset = sample_per_intent(data, per_intent, SEED)
    log(f"few-shot: {per_intent} examples per intent ({len(subset.texts)} messages)")
    started = time.perf_counter()
    trained = train(subset, IntentConfig(), no_progress, select_device("cpu"))
    seconds = time.perf_counter() - started
    result = evaluate(trained.model, *test, [])
    result["train_seconds"] = round(seconds, 1)
    result["train_examples"] = len(subset.texts)
    log(f"few-shot {per_intent}: {result}")
    return result


def open_intent_scores(classes: list[str], known_labels: set[str], labels: list[str], predicted: list[str], accepted: np.ndarray) -> dict:
    """The open-intent metrics: a known-intent message is right only if accepted with its intent; an unknown-intent
    one is right if rejected. Macro-F1 over the known intents and "unknown"."""
    unknown = np.array([label not in known_labels for label in labels])
    truth = ["<unknown>" if u else label for u, label in zip(unknown, labels, strict=True)]
    guess = [p if a else "<unknown>" for p, a in zip(predicted, accepted, strict=True)]
    right = np.array([t == g for t, g in zip(truth, guess, strict=True)])
    names = sorted(known_labels & set(classes)) + ["<unknown>"]
    code = {c: i for i, c in enumerate(names)}
    f1 = macro_f1([code[t] for t in truth], [code[g] for g in guess], len(names))
    rejected = ~accepted
    return {
        "known_accuracy": round(float(right[~unknown].mean()), 4),
        "accuracy_among_accepted": round(float(right[~unknown & accepted].mean()), 4) if (~unknown & accepted).any() else 0.0,
        "oos_recall": round(float(rejected[unknown].mean()), 4),
        "oos_precision": round(float(unknown[rejected].mean()), 4) if rejected.any() else 0.0,
        "macro_f1": round(f1, 4),
    }


def open_intent(data: IntentDataset, test: tuple[list[str], list[str]], known_fraction: float = 0.75) -> dict:
    """The open-intent protocol (ADB, Zhang et al. 2021): a seeded ``known_fraction`` of the intents is known and
    trains the model (no out-of-scope examples); the test set's other intents must be rejected."""
    intents = sorted(set(data.labels))
    rng = np.random.default_rng(SEED)
    known = {str(c) for c in rng.choice(intents, round(known_fraction * len(intents)), replace=False)}
    keep = [i for i, label in enumerate(data.labels) if label in known]
    subset = IntentDataset([data.texts[i] for i in keep], [data.labels[i] for i in keep])
    log(f"open intent: {len(known)} of {len(intents)} intents known ({len(keep)} messages)")
    started = time.perf_counter()
    trained = train(subset, IntentConfig(), no_progress, select_device("cpu"))
    seconds = time.perf_counter() - started
    predictor: IntentPredictor = trained.model
    texts, labels = test
    probs, typicality = predictor.scores(texts)
    predictions = predictor.predictions(probs, typicality)
    predicted = [p.best_guess for p in predictions]
    accepted = np.array([not p.out_of_scope for p in predictions])
    result = open_intent_scores(predictor.classes, known, labels, predicted, accepted)
    result.update({"known_intents": len(known), "intents": len(intents), "train_seconds": round(seconds, 1), "validation": trained.metrics})
    # The trade-off: the same model with the reject option calibrated to refuse other shares of in-scope messages.
    curve = []
    for share in OPERATING_POINTS:
        refused = predictor.refused(probs, typicality, predictor.reject_threshold_for(share))
        curve.append({"inscope_refused_on_validation": share, **open_intent_scores(predictor.classes, known, labels, predicted, ~refused)})
    result["curve"] = curve
    log(f"open intent: {result}")
    return result


def latency(understander: Understander, texts: list[str]) -> dict:
    import torch

    # As the product's web process answers (CHATBOT_INFERENCE_THREADS=1); training keeps its threads.
    threads = torch.get_num_threads()
    set_inference_threads(1)
    try:
        return _latency(understander, texts)
    finally:
        set_inference_threads(threads)


def _latency(understander: Understander, texts: list[str]) -> dict:
    understander.understand(texts[0])  # warm-up: first call allocates
    samples = []
    for text in texts:
        started = time.perf_counter_ns()
        understander.understand(text)
        samples.append(time.perf_counter_ns() - started)
    stats = _report.summarise_ms(samples)
    return {"p50_ms": stats["p50"], "p95_ms": stats["p95"]}


def faq_retrieval(encoder: Encoder, articles: list[FaqArticleText]) -> dict:
    answers = [a.answer for a in articles]
    index = FaqIndex([""] * len(articles), answers, encoder.encode(answers))
    queries = encoder.encode([a.question for a in articles])
    same_answer: dict[str, set[int]] = {}
    for i, a in enumerate(articles):
        same_answer.setdefault(a.answer, set()).add(i)
    relevant = [same_answer[a.answer] for a in articles]
    out = {}
    for mode in ("hybrid", "dense", "bm25"):
        ranked = [[h.index for h in index.search(a.question, queries[i], k=5, mode=mode)] for i, a in enumerate(articles)]
        out[mode] = {
            "recall_at_1": round(recall_at_k(ranked, relevant, 1), 4),
            "recall_at_5": round(recall_at_k(ranked, relevant, 5), 4),
            "mrr_at_5": round(mean_reciprocal_rank(ranked, relevant), 4),
        }
    return out


def run_model(
    name: str, config: IntentConfig, data: IntentDataset, test: tuple[list[str], list[str]], oos: list[str], faq: FaqSearcher | None, n_latency: int
) -> dict:
    log(f"{name}: training {config.to_dict()}")
    started = time.perf_counter()
    trained = train(data, config, no_progress, select_device("cpu"))
    seconds = time.perf_counter() - started
    predictor: IntentPredictor = trained.model
    log(f"{name}: trained in {seconds:.0f} s (validation {trained.metrics})")
    result = evaluate(predictor, *test, oos)
    result["train_seconds"] = round(seconds, 1)
    if faq is not None:
        result.update(latency(Understander(predictor, faq), test[0][:n_latency]))
    result["validation_accuracy"] = round(trained.metrics["accuracy"], 4)
    result["oos_threshold"] = round(trained.metrics["oos_threshold"], 4)
    result["inference_dtype"] = str(predictor.dtype).removeprefix("torch.")
    log(f"{name}: {result}")
    return result


def write_docs(result: dict, args: argparse.Namespace) -> None:
    best, base, faq = result, result["baseline_frozen"], result["faq"]
    rows = [
        ["product (default `IntentConfig`)", best["accuracy"], best["macro_f1"], best["train_seconds"], best["p50_ms"], best["p95_ms"]],
        ["frozen MiniLM + logistic regression (baseline)", base["accuracy"], base["macro_f1"], base["train_seconds"], base["p50_ms"], base["p95_ms"]],
    ]
    oos = f"\nWith the reject option on, the product model answers {best['accepted_fraction']} of the in-scope test messages"
    oos += " (refuses the rest as out of scope).\n"
    if "oos_recall" in best:
        oos += f"Out of scope (`oos_test.csv`): recall {best['oos_recall']}, in-scope accuracy with the refusals"
        oos += f" {best['inscope_accuracy_with_oos']}.\n"
    contended = ", under contention: other engineers shared the 2 cores" if args.contended else ""
    faq_rows = [[m, faq[m]["recall_at_1"], faq[m]["recall_at_5"], faq[m]["mrr_at_5"]] for m in ("hybrid", "dense", "bm25")]
    body = "\n".join(
        [
            f"Measured {result['date']} on {result['machine']}, CPU only (torch threads: 2){contended}.",
            f"`python tests/benchmarks/chatbot.py --data {args.data}` — whole run {result['runtime_s']} s.",
            "",
            f"Intent classification (Banking77: trained on `train.csv`, {result['train_examples']} messages of which 10 % are held"
            f" out for calibration; scored on `test.csv`, {result['test_examples']} messages). Reply latency: one message at a"
            f" time, intent + out-of-scope check + entities + hybrid FAQ search ({result['latency_messages']} messages, one torch"
            f" thread, encoder in {best.get('inference_dtype', 'float32')}); accuracy is scored on that same inference path.",
            "",
            _report.table(["model", "accuracy", "macro-F1", "train s", "reply p50 ms", "reply p95 ms"], rows),
            oos + (f"\n{args.note}\n" if getattr(args, "note", "") else ""),
            _open_intent_docs(result["open_intent"]),
            "",
            _fewshot_docs(result["fewshot"]),
            "",
            f"Product config: `{json.dumps(result['config'])}`.",
            "",
            f"FAQ retrieval (BankFAQs, {faq['articles']} articles): each question is a query against the articles indexed by"
            " their answers only; a hit is any article with the same answer.",
            "",
            _report.table(["retriever", "recall@1", "recall@5", "MRR@5"], faq_rows),
        ]
    )
    _report.write_section("chatbot", body)


def _open_intent_docs(opened: dict) -> str:
    head = ["operating point", "known-intent accuracy", "accuracy among accepted", "OOS recall", "OOS precision", "macro-F1"]
    keys = ["known_accuracy", "accuracy_among_accepted", "oos_recall", "oos_precision", "macro_f1"]
    rows = [["**product default**", *[opened[k] for k in keys]]]
    rows += [[f"refuse {round(100 * p['inscope_refused_on_validation'])} % of in-scope validation", *[p[k] for k in keys]] for p in opened["curve"]]
    return "\n".join(
        [
            f"Open intents (the ADB protocol, seed {SEED}): {opened['known_intents']} of the {opened['intents']} intents known, the model"
            f" (default `IntentConfig`, no out-of-scope examples; {opened['train_seconds']} s to train) trained on their `train.csv`"
            " messages only; scored on the whole `test.csv`, where the other intents' messages must be refused. A known-intent message"
            " counts as right only if accepted with its intent; macro-F1 is over the known intents and \"unknown\". Other rows: the"
            " same model with the reject threshold set to refuse another share of the held-out in-scope messages.",
            "",
            _report.table(head, rows),
        ]
    )


def _fewshot_docs(few: dict) -> str:
    rows = [[k, few[k]["train_examples"], few[k]["accuracy"], few[k]["macro_f1"], few[k]["accepted_fraction"], few[k]["train_seconds"]] for k in few]
    return "\n".join(
        [
            f"Few-shot (seed {SEED}): the default `IntentConfig` trained on k random `train.csv` messages per intent, scored on the whole `test.csv`.",
            "",
            _report.table(["examples per intent", "train messages", "accuracy", "macro-F1", "accepted (in scope)", "train s"], rows),
        ]
    )


def latency_only(args: argparse.Namespace, data: IntentDataset, test: tuple[list[str], list[str]], started: float) -> int:
    seen: dict[str, int] = {}
    keep = []
    for i, label in enumerate(data.labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= args.per_class:
            keep.append(i)
    subset = IntentDataset([data.texts[i] for i in keep], [data.labels[i] for i in keep])
    searcher = FaqSearcher(read_faq(args.faq), Encoder.pretrained(select_device("cpu")))
    messages = test[0][: args.latency_messages]
    out = {}
    for name, config in (("product", IntentConfig()), ("baseline_frozen", IntentConfig.from_dict(BASELINE))):
        trained = train(subset, config, no_progress, select_device("cpu"))
        out[name] = latency(Understander(trained.model, searcher), messages)
        out[name]["inference_dtype"] = str(trained.model.dtype).removeprefix("torch.")
        log(f"{name}: {out[name]}")
    result = {
        **out["product"],
        "baseline_frozen": out["baseline_frozen"],
        "trained_on": f"{args.per_class} examples per intent ({len(subset.texts)} messages)",
        "latency_messages": len(messages),
        "torch_threads": torch_threads(),
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if not args.no_docs:
        contended = ", under contention: other engineers shared the 2 cores" if args.contended else ""
        rows = [["product (default `IntentConfig`)", out["product"]["p50_ms"], out["product"]["p95_ms"]]]
        rows.append(["frozen MiniLM + logistic regression (baseline)", out["baseline_frozen"]["p50_ms"], out["baseline_frozen"]["p95_ms"]])
        body = "\n".join(
            [
                f"Measured {result['date']} on {result['machine']}, CPU only{contended}.",
                f"`python tests/benchmarks/chatbot.py --latency-only --per-class {args.per_class}` — one message at a time"
                f" ({len(messages)} Banking77 test messages): intent + out-of-scope check + entities + hybrid FAQ search over"
                " BankFAQs, the product's `Understander.understand` path (one encoder pass, one torch thread as `CHATBOT_INFERENCE_THREADS=1`,"
                f" encoder in {out['product']['inference_dtype']}).",
                f"Models trained on {result['trained_on']}: the latency depends on the architecture, not on the amount of data.",
                "",
                _report.table(["model", "reply p50 ms", "reply p95 ms"], rows),
            ]
        )
        _report.write_section("chatbot_latency", body)
    print(json.dumps(result))
    return 0


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.csv and test.csv (text,category)")
    parser.add_argument("--faq", type=Path, default=DEFAULT_FAQ, help="FAQ CSV with Question,Answer columns")
    parser.add_argument("--latency-messages", type=int, default=200)
    parser.add_argument("--contended", action="store_true", help="say in the docs that the CPU was shared while measuring")
    parser.add_argument("--skip-baseline", action="store_true", help="train only the product's model (quick checks)")
    parser.add_argument(
        "--parts",
        default=",".join(sorted(PARTS)),
        help="comma-separated subset of intents (product model; no latency, FAQ or baseline), open-intent, fewshot: a quick check"
        " that prints its JSON and writes no docs (default: everything, docs written)",
    )
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="measure only the reply latency, on models trained on --per-class examples of each intent (the latency depends on the"
        " architecture, not on how much data trained it); writes the chatbot_latency section",
    )
    parser.add_argument("--per-class", type=int, default=15)
    parser.add_argument("--docs-from", type=Path, help="rewrite the chatbot section from the JSON line of an earlier full run (no measuring)")
    parser.add_argument("--note", default="", help="a sentence added under the table (with --docs-from)")
    args = parser.parse_args()
    if args.docs_from:
        result = json.loads(args.docs_from.read_text().strip().splitlines()[-1])
        write_docs(result, args)
        return 0
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    started = time.perf_counter()
    train_texts, train_labels = read_pairs(args.data / "train.csv")
    test = read_pairs(args.data / "test.csv")
    oos_path = args.data / "oos_test.csv"
    oos = read_pairs(oos_path)[0] if oos_path.exists() else []
    data = IntentDataset(train_texts, train_labels)
    if args.latency_only:
        return latency_only(args, data, test, started)

    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if parts - PARTS:
        parser.error(f"--parts takes a comma-separated subset of {', '.join(sorted(PARTS))}")
    if parts != PARTS:
        # Part of the benchmark (quick checks): its numbers on stdout only; the docs show whole runs.
        result = {"parts": sorted(parts)}
        if "open-intent" in parts:
            result["open_intent"] = open_intent(data, test)
        if "fewshot" in parts:
            result["fewshot"] = {str(k): fewshot(data, test, k) for k in FEWSHOT_SIZES}
        if "intents" in parts:
            result["product"] = run_model("product", IntentConfig(), data, test, oos, None, 0)
        print(json.dumps(result))
        return 0

    encoder = Encoder.pretrained(select_device("cpu"))
    articles = read_faq(args.faq)
    log(f"FAQ retrieval over {len(articles)} articles")
    faq = faq_retrieval(encoder, articles) | {"articles": len(articles)}
    log(f"FAQ: {faq}")
    searcher = FaqSearcher(articles, encoder)

    config = IntentConfig()
    best = run_model("product", config, data, test, oos, searcher, args.latency_messages)
    baseline = None if args.skip_baseline else run_model("baseline", IntentConfig.from_dict(BASELINE), data, test, oos, searcher, args.latency_messages)
    opened = open_intent(data, test)
    few = {str(k): fewshot(data, test, k) for k in FEWSHOT_SIZES}
    result = {
        **best,
        "open_intent_oos_recall": opened["oos_recall"],
        "open_intent_known_accuracy": opened["known_accuracy"],
        "open_intent_accuracy_among_accepted": opened["accuracy_among_accepted"],
        "open_intent_oos_precision": opened["oos_precision"],
        "open_intent_macro_f1": opened["macro_f1"],
        **{f"fewshot{k}_accuracy": few[k]["accuracy"] for k in few},
        "open_intent": opened,
        "fewshot": few,
        "baseline_frozen": baseline,
        "faq": faq,
        "faq_recall_at_1": faq["hybrid"]["recall_at_1"],
        "faq_recall_at_5": faq["hybrid"]["recall_at_5"],
        "config": config.to_dict(),
        "train_examples": len(train_texts),
        "test_examples": len(test[0]),
        "latency_messages": args.latency_messages,
        "device": "cpu",
        "gpu": "not measured: no GPU lent this session",
        "date": _report.utc_now(),
        "machine": _report.machine(),
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    if baseline is not None and not args.no_docs:
        write_docs(result, args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
