"""The monolingual English teacher: a cross-encoder fine-tuned on English relevance.

``python -m optical_rerank.teacher train --out DIR`` fine-tunes a cross-encoder from a backbone
(default the converted ``e5-small-multilingual``; ``minilm-l6-en`` or any local directory as an
option) with sentence-transformers' ``CrossEncoderTrainer``; ``evaluate MODEL_DIR`` checks it on
real judgments (TREC DL19 passage and AfriQA test with the human English questions), each
next to BM25; ``summarize`` tabulates the dev results of several trained teachers. Measured
results, with the commands that made them, are in ``results/teacher/README.md``.

Why a multilingual backbone trained on English only: the student of OPTICAL starts as a copy of
the teacher and is aligned to it on bitext; a backbone whose vocabulary and layers already cover
the target languages lets the student start close to a working model.

Where things live
-----------------
``_config``    :class:`TeacherConfig` (what determines a teacher; its fingerprint), the saved record
``_data``      training data (AfriQA, triples, qrels), BM25 hard-negative mining, dev queries
``_train``     :func:`train_teacher` (datasets per loss, checkpoints, resume), :func:`ensure_teacher`
``_evaluate``  :func:`evaluate_teacher`, its Markdown report, the dev comparison of ``summarize``
``_groups``    ranking-group bundles of every English source (:func:`build_bundle`, :func:`load_bundle`)
``_lora``      the shipped kind of teacher: LoRA on e5, listwise distillation of the e5 bi-encoder +
               listwise labels (:class:`LoraTeacherConfig`, :func:`train_lora_teacher`, resumable)
``_recipe``    train a recipe's variants, choose on dev, write the shipped adapter + card, report on test
``_bundle_eval`` BM25 / e5 bi-encoder / teacher on the bundle's sets (resumable runs, paired t-test)
``_cli``       the command line (``__main__`` runs it)

The default teacher is shipped with the package (``python -m optical_rerank.models list``):
:func:`ensure_teacher` with no config returns it, merged into the cache on first use.

Training data
-------------
``--data afriqa`` (default), all English, split as train → training, dev → choices, test → reports:

* **train**: the human English translation of every AfriQA *train* question (English-pivot
  languages) with its gold passage as the positive;
* **dev** (choices only: checkpoint selection, early stopping, loss comparison): the dev split's
  English questions, each scored as a reranking of its BM25 top ``dev_depth`` candidates;
* **test**: never read for training. Every train question whose native or English text equals a
  test question of any language (``data.leakage.normalize_text``: NFKC, casefold, no
  punctuation) is dropped; so is one equal to a dev question, which keeps dev unseen.
* Hard negatives are mined by BM25 (Pyserini) over the AfriQA English passage corpus and never
  include a positive: the gold docid, any passage whose normalised text equals a positive's, and
  the gold passages of other train/dev questions with the same normalised English text (the same
  question asked in two languages) are all excluded.

Generic inputs for users with more data: ``--data triples`` (MS MARCO-style ``query<TAB>positive
<TAB>negative`` TSV; rows with the same query and positive are grouped) and ``--data qrels``
(topics + qrels + corpus, negatives from a candidate ``--run`` or mined by BM25 over ``--index``).
``--exclude-topics`` adds evaluation topics to the leakage guard of any source.

Losses (``--loss``)
-------------------
``bce``
    ``BinaryCrossEntropyLoss`` on (query, passage, 0/1) pairs: the positive and its hard
    negatives, ``pos_weight = num_negatives`` so both classes weigh the same.
``mnrl`` / ``cmnrl``
    ``MultipleNegativesRankingLoss`` (cached variant: ``CachedMultipleNegativesRankingLoss``) on
    (query, positive, negative_1..n) tuples plus ``in_batch_negatives`` random in-batch passages.
``listnet``
    ``ListNetLoss`` on (query, [positive, negatives...]) with labels (1, 0, ...): a softmax
    cross-entropy over each query's group, i.e. the "localized contrastive estimation" loss.
``lambda``
    ``LambdaLoss`` (NDCG-Loss2++ weighting) on the same lists.

``batch_size`` counts pairs for ``bce`` and *queries* (each with ``1 + num_negatives`` passages)
for the others; use ``batch_size_bce = (1 + n) * batch_size_listwise`` to compare losses at an
equal number of scored pairs per step.

``listnet`` is the default: it won the loss comparison on AfriQA dev at an equal CPU budget
(``results/teacher/dev_loss_comparison.md``, made by ``summarize``). The listwise softmax over a
query's positive and its own hard negatives is invariant to a shift of all scores, so a freshly
initialised head gets a ranking signal at once, where BCE must first calibrate absolute scores
(Gao et al., 2021, found the same for BERT rerankers).

Outputs
-------
``OUT/`` is a normal Hugging Face directory (``config.json`` with ``num_labels = 1``,
``model.safetensors``, tokenizer files), loadable by ``AutoModelForSequenceClassification``, by
:class:`~optical_rerank.rerank.CrossEncoderReranker` and by sentence-transformers'
``CrossEncoder``. ``OUT/teacher_config.json`` holds the config, the query/passage templates to
score with, the data report (counts, leakage drops), dev metrics, the training log, wall time
and provenance; it is written last and marks the directory complete. Checkpoints go to
``OUT/checkpoints/checkpoint-N`` every ``save_steps``; a restart with the same config resumes
from the latest one automatically, and they are removed after success unless
``--keep-checkpoints``.

On CPU the word embeddings are frozen by default (the 250k x 384 embedding matrix of e5-small
is 82% of its parameters, and AdamW's step over it dominates a CPU step). A GPU is used
automatically when present (bf16 where supported). Training needs ``accelerate>=1.1.0`` (the
Hugging Face Trainer).
"""
from __future__ import annotations

from ._cli import build_parser, main
from ._config import (
    DATA_SOURCES,
    DEFAULT_BACKBONE,
    E5_TEMPLATES,
    LOSSES,
    PLAIN_TEMPLATES,
    TEACHER_CONFIG,
    TeacherConfig,
    load_teacher_config,
)
from ._data import (
    DevQuery,
    TrainExample,
    TrainingData,
    afriqa_training_data,
    bm25_index_for,
    build_training_data,
    mine_hard_negatives,
    prepared_set,
    qrels_training_data,
    triples_training_data,
)
from ._evaluate import evaluate_teacher, format_eval_markdown
from ._groups import Bundle, build_bundle, load_bundle
from ._lora import LoraTeacherConfig, train_lora_teacher
from ._recipe import DEFAULT_TEACHER, evaluate_shipped, load_recipe, run_recipe
from ._train import TeacherResult, build_train_dataset, ensure_teacher, latest_checkpoint, train_teacher

__all__ = [
    "Bundle",
    "DEFAULT_TEACHER",
    "LoraTeacherConfig",
    "build_bundle",
    "evaluate_shipped",
    "load_bundle",
    "load_recipe",
    "run_recipe",
    "train_lora_teacher",
    "DATA_SOURCES",
    "DEFAULT_BACKBONE",
    "E5_TEMPLATES",
    "LOSSES",
    "PLAIN_TEMPLATES",
    "TEACHER_CONFIG",
    "DevQuery",
    "TeacherConfig",
    "TeacherResult",
    "TrainExample",
    "TrainingData",
    "afriqa_training_data",
    "bm25_index_for",
    "build_parser",
    "build_train_dataset",
    "build_training_data",
    "ensure_teacher",
    "evaluate_teacher",
    "format_eval_markdown",
    "latest_checkpoint",
    "load_teacher_config",
    "main",
    "mine_hard_negatives",
    "prepared_set",
    "qrels_training_data",
    "train_teacher",
    "triples_training_data",
]
