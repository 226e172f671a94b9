"""The experiment's report: Markdown tables, plots, and the model records archived beside them."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..evaluate import AVERAGING
from ..files import atomic_write, write_text_atomic
from ._scores import MAIN_MEASURE, MIN_GAP
from ._systems import system_order

def archive_model_records(models: Mapping[str, str], out: Path) -> list[Path]:
    """Copy every model's config and training log next to the results (the weights stay in the cache).

    ``teacher_config.json`` for the teacher; ``<student dir>/distill_config.json`` and
    ``train_log.jsonl`` for each student, so that the committed results say exactly how each
    model was trained.
    """
    written = []
    for system, model in models.items():
        model_dir = Path(model)
        if system == "teacher":
            pairs = [(model_dir / "teacher_config.json", out / "teacher_config.json")]
        else:
            run_dir = model_dir.parent
            pairs = [(model_dir / "distill_config.json", out / run_dir.name / "distill_config.json"),
                     (run_dir / "train_log.jsonl", out / run_dir.name / "train_log.jsonl")]
        for src, dst in pairs:
            if src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(dst, src.read_text(encoding="utf-8"))
                written.append(dst)
    return written


_LABELS = {"bm25-native": "BM25 (native query)", "bm25-translated": "BM25 (English translation)",
           "wordtrans-bm25": "Word-by-word translation + BM25", "dense": "mE5-small dense",
           "hybrid": "Hybrid (RRF BM25 + dense)", "oracle-bm25": "Oracle BM25 (human translation; control)",
           "e5-rerank": "mE5-small reranker", "teacher-wordtrans": "Teacher, word-by-word translation",
           "bm25-doc-translated": "BM25 (translated collection)", "teacher-native": "Teacher, native (zero-shot)",
           "teacher-translated": "Teacher, English (oracle)", "kd": "Vanilla KD student",
           "optical": "OPTICAL student", "e5-biencoder": "mE5-small bi-encoder"}


def render_markdown(results: Mapping) -> str:
    """Paper-style tables: a row per language and the average, a column per system, per measure."""
    cfg = results["config"]
    lines = [f"# Experiment `{cfg['name']}`", "",
             ("Budget: every question of each language, " if cfg['max_queries_per_language'] is None else
              f"Budget: up to {cfg['max_queries_per_language']} queries per language (seed {cfg['seed']}), ") +
             f"rerank depth {cfg['depth']} over the candidates of `{cfg['candidates']}`; "
             f"measures computed with trec_eval semantics (-c), {AVERAGING}. Wall time {results['seconds']:.0f}s.", ""]
    by_dataset: dict[str, list[str]] = {}
    for key in results["sets"]:
        by_dataset.setdefault(key.split("/")[0], []).append(key)
    for dataset, keys in by_dataset.items():
        systems = system_order(cfg.get("students", {}), {s for k in keys for s in results["sets"][k]})
        for measure in [m.replace(".", "_") for m in cfg["measures"]]:
            with_gap = measure == MAIN_MEASURE and "optical" in systems
            lines += [f"## {dataset}: {measure}", "",
                      "| lang | n | " + " | ".join(_LABELS.get(s, s) for s in systems) +
                      (" | gap recovered (OPTICAL) |" if with_gap else " |"),
                      "|---|---:|" + "---:|" * (len(systems) + (1 if with_gap else 0))]
            sums = {s: [] for s in systems}
            for key in keys:
                row = results["sets"][key]
                sig = results["significance"].get(key, {})
                cells = []
                for s in systems:
                    if s not in row:
                        cells.append("–")
                        continue
                    v = row[s]["aggregate"].get(measure)
                    sums[s].append(v)
                    marks = ""
                    if s == "optical":
                        better = [b for b, t in sig.items() if t.get(measure, {}).get("p_corrected", 1) < 0.05
                                  and t[measure]["diff"] > 0]
                        marks = "".join("†" if b == "teacher-native" else "‡" if b == "kd" else "" for b in better)
                    cells.append(f"{v:.4f}{marks}")
                gap = results["gap_recovered"].get(key, {}).get("optical")
                n = next(iter(row.values()))["num_queries"] if row else 0
                gap_cell = (f" | {'n/a' if gap is None else f'{gap:.2f}'} |") if with_gap else " |"
                lines.append(f"| {key.split('/')[1]} | {n} | " + " | ".join(cells) + gap_cell)
            if len(keys) > 1:
                means = {s: sum(v) / len(v) for s, v in sums.items() if v}
                avg = [f"{means[s]:.4f}" if s in means else "–" for s in systems]
                gap_cell = " |"
                if with_gap and {"optical", "teacher-native", "teacher-translated"} <= set(means):
                    z, o = means["teacher-native"], means["teacher-translated"]
                    gap_cell = f" | {(means['optical'] - z) / (o - z):.2f} |" if o - z >= MIN_GAP else " | n/a |"
                lines.append("| **avg** | | " + " | ".join(avg) + gap_cell)
                pooled = (results.get("pooled") or {}).get(dataset, {})
                if pooled:
                    n_all = max((v["num_queries"] for v in pooled.values()), default=0)
                    cells = [f"{pooled[s][measure]:.4f}" if s in pooled and measure in pooled[s] else "–"
                             for s in systems]
                    lines.append(f"| **pooled** | {n_all} | " + " | ".join(cells) + (" | |" if with_gap else " |"))
            lines.append("")
    lines += ["avg: the mean over languages (macro); pooled: the mean over every query of every language.",
              "† OPTICAL significantly better than the zero-shot teacher, ‡ than vanilla KD "
              "(paired t-test, p < 0.05 after Bonferroni over the languages of the dataset).",
              f"Gap recovered = (OPTICAL − zero-shot) / (oracle − zero-shot) on nDCG@10; n/a where the oracle is "
              f"less than {MIN_GAP} above zero-shot (no gap to recover).", ""]
    for dataset, block in (results.get("students") or {}).items():
        if len(block["students"]) < 3:
            continue  # the two default students are already in the tables above
        base = block["baselines"]
        lines += [f"## {dataset}: students compared (macro average over {', '.join(block['languages'])})", "",
                  "Zero-shot teacher nDCG@10 {:.4f}, oracle (English query) {:.4f}. p: paired t-test on nDCG@10 "
                  "pooled over all queries, Bonferroni over the {} students.".format(
                      base.get("teacher-native", {}).get(MAIN_MEASURE, float("nan")),
                      base.get("teacher-translated", {}).get(MAIN_MEASURE, float("nan")), len(block["students"])),
                  "", "| student | method | layers | what differs | nDCG@10 | MRR@10 | Δ zero-shot | p | "
                      "gap recovered |", "|---|---|---|---|---:|---:|---:|---:|---:|"]
        ref = next(iter(block["students"].values()))["config"]
        for name, row in block["students"].items():
            c = row["config"]
            diff = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("method", "layers") and ref.get(k) != v)
            vs = row.get("vs_teacher-native", {})
            m = row["macro"]
            gap = row.get("gap_recovered")
            lines.append(f"| {name} | {c.get('method')} | {c.get('layers', '')} | {diff or '–'} | "
                         f"{m.get(MAIN_MEASURE, float('nan')):.4f} | {m.get('mrr@10', float('nan')):.4f} | "
                         f"{m.get(MAIN_MEASURE, float('nan')) - base.get('teacher-native', {}).get(MAIN_MEASURE, float('nan')):+.4f}"
                         f" | {vs.get('p_corrected', float('nan')):.3f} | "
                         f"{'n/a' if gap is None else f'{gap:.2f}'} |")
        lines.append("")
    if results.get("missing"):
        lines += ["## Not run (data missing)", ""] + [f"- {m['dataset']} {m['lang']}: {m['why']}"
                                                      for m in results["missing"]] + [""]
    return "\n".join(lines)


def plot_results(results: Mapping, out_dir: Path) -> list[Path]:
    """A grouped bar chart of nDCG@10 per language and system, per dataset (PNG)."""
    import matplotlib  # heavy

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy

    written = []
    by_dataset: dict[str, list[str]] = {}
    for key in results["sets"]:
        by_dataset.setdefault(key.split("/")[0], []).append(key)
    for dataset, keys in by_dataset.items():
        systems = system_order(results["config"].get("students", {}), {s for k in keys for s in results["sets"][k]})
        fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(keys) + 3) + (2.5 if len(systems) > 8 else 0), 4))
        width = 0.8 / max(1, len(systems))
        colors = plt.get_cmap("tab20" if len(systems) > 10 else "tab10").colors
        for j, s in enumerate(systems):
            vals = [results["sets"][k].get(s, {}).get("aggregate", {}).get(MAIN_MEASURE, 0.0) for k in keys]
            ax.bar([i + j * width for i in range(len(keys))], vals, width, label=_LABELS.get(s, s),
                   color=colors[j % len(colors)])
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], [k.split("/")[1] for k in keys])
        ax.set_ylabel("nDCG@10")
        ax.set_title(f"{dataset}: nDCG@10 per language")
        if len(systems) > 8:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{dataset}_ndcg10.png"))
        plt.close(fig)
    for dataset, block in (results.get("students") or {}).items():
        rows = block["students"]
        if len(rows) < 3:
            continue
        names = list(rows)
        vals = [rows[n]["macro"].get(MAIN_MEASURE, 0.0) for n in names]
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.5))
        ax.barh(range(len(names)), vals, color=["tab:green" if rows[n]["config"].get("method") == "ot" else "tab:purple"
                                                for n in names])
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        for label, system, style in (("zero-shot teacher", "teacher-native", "--"),
                                     ("oracle (English query)", "teacher-translated", ":")):
            v = block["baselines"].get(system, {}).get(MAIN_MEASURE)
            if v is not None:
                ax.axvline(v, color="black", linestyle=style, label=f"{label} {v:.3f}")
        lo = min(vals + [block["baselines"].get("teacher-native", {}).get(MAIN_MEASURE, 1.0)])
        ax.set_xlim(max(0.0, lo - 0.05), None)
        ax.set_xlabel(f"nDCG@10, macro average over {', '.join(block['languages'])}")
        ax.set_title(f"{dataset}: students (green: OT, purple: MSE)")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{dataset}_students.png"))
        plt.close(fig)
    return written


def _save(fig, path: Path) -> Path:
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    return path
