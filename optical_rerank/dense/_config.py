"""The settings of a dense first stage (:class:`DenseConfig`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..config import is_int
from ..errors import ConfigError
from ..rerank import E5_TEMPLATES

#: the bi-encoder of the dense first stage (the experiment's ``e5-biencoder`` model)
DENSE_MODEL = "e5-small-multilingual"


def _prefix(template: str) -> str:
    """Pyserini's ``prefix`` for a ``"<prefix> {text}"`` template (Pyserini joins them with a space)."""
    if not template.endswith(" {text}") or "{text}" in template[:-7]:
        raise ConfigError(f"a dense template must be '<prefix> {{text}}', got {template!r}")
    return template[:-len(" {text}")]


@dataclass(frozen=True)
class DenseConfig:
    """A dense first stage: the model (zoo name or directory), its templates and truncation.

    ``max_length`` truncates passages at encoding (queries are far shorter); ``batch_size`` is
    ``pyserini.encode``'s batch (it does not change the vectors beyond float rounding).
    """

    model: str = DENSE_MODEL
    query_template: str = E5_TEMPLATES[0]
    passage_template: str = E5_TEMPLATES[1]
    max_length: int = 512
    batch_size: int = 32
    threads: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"dense model must be a name or directory, got {self.model!r}")
        for name in ("max_length", "batch_size", "threads"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ConfigError(f"dense {name} must be an integer >= 1, got {value!r}")
        _prefix(self.query_template)
        _prefix(self.passage_template)

    @property
    def query_prefix(self) -> str:
        return _prefix(self.query_template)

    @property
    def passage_prefix(self) -> str:
        return _prefix(self.passage_template)

    def to_dict(self) -> dict:
        return asdict(self)
