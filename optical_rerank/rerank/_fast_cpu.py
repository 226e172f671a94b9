"""Fast CPU inference of BERT and (XLM-)RoBERTa sequence classifiers (fp32 and dynamic int8).

On CPU in fp32 (and with int8 dynamic quantization), BERT and (XLM-)RoBERTa classifiers are run
by an inference-only forward (:class:`_FastEncoder`) that computes the same logits with less work:
fused Q/K/V projections, bias/GELU/residual fused into oneDNN GEMMs with weights pre-packed once,
the attention mask built once per batch, and the last layer evaluated for [CLS] only (the only
position the head reads). It is checked against the model's own forward on a probe batch when
the reranker is built (max |diff| <= 1e-4, else it is not used); other models, GPUs and half
precision use the model's forward. ``OPTICAL_RERANK_FAST_PATH=0`` disables it.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

_FAST_ARCHS = {"BertForSequenceClassification": "bert", "XLMRobertaForSequenceClassification": "roberta",
               "RobertaForSequenceClassification": "roberta", "CamembertForSequenceClassification": "roberta"}
_FAST_CHECK_TOL = 1e-4
_UNPAD_BELOW = 0.95  # pack a batch's tokens (no padding in the dense layers) below this fill ratio


def _mkldnn_linear_ok() -> bool:
    """Whether oneDNN's fused linear (the op behind ``torch.compile``'s CPU freezing pass) is usable."""
    import torch  # heavy

    try:
        if not torch.backends.mkldnn.is_available():
            return False
        w, b, x = torch.ones(4, 8), torch.zeros(4), torch.ones(3, 8)
        with torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(w)
            y = torch.ops.mkldnn._linear_pointwise(x, packed, b, "gelu", [], "none")
            z = torch.ops.mkldnn._linear_pointwise.binary(x, x[:, :4], packed, b, "add")
        lin = torch.nn.functional.linear(x, w, b)
        return bool(torch.allclose(y, torch.nn.functional.gelu(lin)) and torch.allclose(z, lin + x[:, :4]))
    except Exception:  # noqa: BLE001 - any failure: use the plain path
        return False


class _Linear:
    """A ``Linear`` (optionally followed by exact GELU) for inference.

    fp32 weights are pre-packed once into oneDNN's blocked layout, and bias, GELU and a residual
    add run in the GEMM's epilogue (one pass over the output instead of three); without oneDNN
    this is ``F.linear``; any other module (e.g. a dynamically quantized int8 ``Linear``) is
    called as is.
    """

    def __init__(self, weight: Any = None, bias: Any = None, *, module: Any = None, gelu: bool = False,
                 mkldnn: bool = False):
        import torch  # heavy

        self.module = module
        self.gelu = gelu
        self.weight = None if weight is None else weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach().contiguous()
        self.packed = None
        if module is None and mkldnn:
            with torch.inference_mode():
                self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight)
            self.weight = None  # only the packed copy is used

    def __call__(self, x: Any, residual: Any = None) -> Any:
        """``act(x @ W.T + b)`` (``+ residual`` when given; not with GELU)."""
        import torch  # heavy
        from torch.nn import functional as F  # heavy

        if self.packed is not None:
            if self.gelu:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu", [], "none")
            if residual is not None:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.packed, self.bias, "add")
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        y = self.module(x) if self.module is not None else F.linear(x, self.weight, self.bias)
        if self.gelu:
            y = F.gelu(y)
        return y if residual is None else y + residual


class _FastEncoder:
    """Exact CPU inference forward of a BERT / (XLM-)RoBERTa sequence classifier.

    Computes what ``model(**batch).logits`` computes, with less work:

    * **fused projections**: one GEMM for Q, K and V (fp32); bias, GELU and the residual add run
      in the GEMM epilogue; weights are pre-packed once for oneDNN; the attention mask is built
      once per batch, not once per layer. Fewer, larger kernels also matter on a busy CPU, where
      every parallel kernel can wait for a descheduled thread;
    * **the last layer only for [CLS]**: the classifier reads position 0 of the last layer, so
      there only [CLS] queries attend (keys/values of all tokens are still computed) and the
      output projection, feed-forward and layer norms run on one row per sequence.

    The result equals the Hugging Face forward up to float rounding (checked at build time on a
    probe batch; the fast path is dropped when the check fails). Built by :meth:`build`, which
    returns ``None`` for anything it does not cover (other architectures, GPU, half precision,
    relative position embeddings, decoders). Exact GELU is fused into its GEMM; another
    activation runs as the model's own function. Dynamically quantized (int8) ``Linear`` layers
    are called as they are, one per projection; their per-tensor activation ranges are then
    measured on the rows actually computed (e.g. [CLS] only in the last layer), so int8 scores
    differ from the model's own int8 forward at the level of quantization noise.
    """

    def __init__(self, model: Any, kind: str, mkldnn: bool, fuse: bool = True):
        import torch  # heavy

        cfg = model.config
        self.kind = kind
        self.base = model.bert if kind == "bert" else model.roberta
        self.model = model
        self.n_heads = int(cfg.num_attention_heads)
        self.hidden = int(cfg.hidden_size)
        self.head_dim = self.hidden // self.n_heads
        exact_gelu = getattr(cfg, "hidden_act", None) == "gelu"

        def packed(*mods: Any, gelu: bool = False) -> _Linear:  # one GEMM for several Linears of one input
            return _Linear(torch.cat([m.weight for m in mods]), torch.cat([m.bias for m in mods]),
                           gelu=gelu, mkldnn=mkldnn)

        self.layers = []
        n_layers = len(self.base.encoder.layer)
        for n, layer in enumerate(self.base.encoder.layer):
            att, out_att = layer.attention.self, layer.attention.output
            lin = (att.query, att.key, att.value, out_att.dense, layer.intermediate.dense, layer.output.dense)
            qkv = kv = sep = q = None
            if fuse and all(type(m) is torch.nn.Linear for m in lin):
                if n < n_layers - 1:
                    qkv = packed(att.query, att.key, att.value)
                else:  # the last layer computes queries for [CLS] only
                    kv, q = packed(att.key, att.value), packed(att.query)
                o, down = packed(out_att.dense), packed(layer.output.dense)
                up = packed(layer.intermediate.dense, gelu=exact_gelu)
            else:  # e.g. dynamically quantized int8 Linear modules: keep them (and their scales) as they are
                sep = (_Linear(module=att.query), _Linear(module=att.key), _Linear(module=att.value))
                q = sep[0]
                o, down = _Linear(module=out_att.dense), _Linear(module=layer.output.dense)
                up = _Linear(module=layer.intermediate.dense, gelu=exact_gelu)
            act = None if exact_gelu else layer.intermediate.intermediate_act_fn
            self.layers.append((qkv, kv, sep, q, o, out_att.LayerNorm, up, act, down, layer.output.LayerNorm))

    @classmethod
    def build(cls, model: Any, device: Any, dtype: Any, fp32_model: Any = None) -> _FastEncoder | None:
        """A fast forward for ``model``, or ``None`` when it is not covered (see the class notes).

        A model whose ``Linear`` layers were replaced (dynamic int8 quantization) is checked
        through ``fp32_model``, the model before the replacement: the unfused code path (one call
        per projection, as used for the replaced layers) must reproduce its forward; without
        ``fp32_model`` such a model gets no fast path.
        """
        import torch  # heavy

        if os.environ.get("OPTICAL_RERANK_FAST_PATH", "1") == "0":
            return None
        kind = _FAST_ARCHS.get(type(model).__name__)
        cfg = getattr(model, "config", None)
        if kind is None or cfg is None or device.type != "cpu" or dtype != torch.float32:
            return None
        if getattr(cfg, "is_decoder", False) or getattr(cfg, "add_cross_attention", False):
            return None
        if getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute"):
            return None
        base = getattr(model, "bert" if kind == "bert" else "roberta", None)
        if base is None or (kind == "bert" and getattr(base, "pooler", None) is None):
            return None
        if int(cfg.hidden_size) % int(cfg.num_attention_heads):
            return None
        try:
            encoder_linears = [m for m in base.encoder.modules() if isinstance(m, torch.nn.Module)
                               and not list(m.children()) and "Linear" in type(m).__name__]
            if all(type(m) is torch.nn.Linear for m in encoder_linears):
                fast = cls(model, kind, _mkldnn_linear_ok())
                ok = fast._self_check()
            elif fp32_model is not None and type(fp32_model) is type(model):
                ok = cls(fp32_model, kind, mkldnn=False, fuse=False)._self_check()
                fast = cls(model, kind, mkldnn=False)
            else:
                return None
        except Exception as exc:  # noqa: BLE001 - an unexpected layout: use the Hugging Face forward
            logger.debug("fast CPU path unavailable for %s: %s", type(model).__name__, exc)
            return None
        return fast if ok else None

    def _self_check(self) -> bool:
        """Compare with the Hugging Face forward on a probe batch (three lengths, right padding)."""
        import torch  # heavy

        cfg = self.model.config
        vocab = int(cfg.vocab_size)
        pad = int(getattr(cfg, "pad_token_id", 0) or 0)
        gen = torch.Generator().manual_seed(0)
        cap = max(2, min(40, int(getattr(cfg, "max_position_embeddings", 42) or 42) - 2))
        lengths = [cap, max(1, cap // 2 + 3), max(1, cap // 4)]
        ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, n in enumerate(lengths):
            ids[i, :n] = torch.randint(5, vocab, (n,), generator=gen)
            mask[i, :n] = 1
        types = torch.zeros_like(ids)
        if int(getattr(cfg, "type_vocab_size", 1) or 1) > 1:
            types[0, cap // 2:cap] = 1
        with torch.inference_mode():
            ref = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.float()
            got = self(ids, mask, types).float()
        err = float((ref - got).abs().max())
        scale = max(1.0, float(ref.abs().max()))
        if not err <= _FAST_CHECK_TOL * scale:
            logger.warning("fast CPU path disagrees with the model's forward (max |diff| %.2e); not used", err)
            return False
        return True

    def __call__(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        """Logits ``(batch, num_labels)`` of a padded batch, as ``model(...).logits``."""
        import torch  # heavy
        from torch.nn import functional as F  # heavy

        B, L = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        H, nh, dh = self.hidden, self.n_heads, self.head_dim
        mask = attention_mask.bool()
        lengths = mask.sum(1)
        n_real = int(lengths.sum())
        # pack the real tokens when padding is worth removing (right-padded batches only: [CLS] at 0)
        unpad = n_real < _UNPAD_BELOW * B * L and bool(lengths.min() > 0) and torch.equal(
            mask, torch.arange(L, device=mask.device)[None, :] < lengths[:, None])
        kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        emb = self.base.embeddings(input_ids=input_ids, **kw)  # (B, L, H), as the model computes it
        x = emb.reshape(B * L, H)
        idx = buf = starts = None
        if unpad:
            idx = mask.reshape(-1).nonzero().squeeze(1)  # packed row -> padded row
            x = x.index_select(0, idx)
            starts = torch.cumsum(lengths, 0) - lengths  # packed row of each [CLS]
            buf = x.new_zeros(B * L, 3 * H)  # padded Q|K|V for attention; padding rows stay 0
        # additive key mask, built once for all layers: 0 = attend, -inf = padding
        add_mask = torch.zeros((B, 1, 1, L), dtype=x.dtype, device=x.device)
        add_mask.masked_fill_(~mask[:, None, None, :], float("-inf"))

        def heads(parts: Sequence[Any]) -> list[Any]:
            """(rows, g*H) projections -> g views (B, nh, L, dh) each, scattered to padded rows if packed."""
            out, col = [], 0
            for t in parts:
                if unpad:
                    dst = buf[:, col:col + t.shape[1]]
                    dst.index_copy_(0, idx, t)
                    t = dst
                col += t.shape[1]
                out.extend(u.transpose(1, 2) for u in t.view(B, L, t.shape[1] // H, nh, dh).unbind(2))
            return out

        last = len(self.layers) - 1
        for n, (qkv, kv, sep, q_lin, o, ln1, up, act, down, ln2) in enumerate(self.layers):
            if n < last:
                q, k, v = heads([qkv(x)] if qkv is not None else [f(x) for f in sep])
                resid = x
            else:  # the head reads position 0 only: queries, output and feed-forward for [CLS] alone
                k, v = heads([kv(x)] if kv is not None else [sep[1](x), sep[2](x)])
                resid = x.index_select(0, starts) if unpad else x.view(B, L, H)[:, 0].contiguous()
                q = q_lin(resid).view(B, 1, nh, dh).transpose(1, 2)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=add_mask)
            ctx = ctx.transpose(1, 2).reshape(-1, H)
            if unpad and n < last:
                ctx = ctx.index_select(0, idx)
            h = ln1(o(ctx, resid))
            inner = up(h)
            if act is not None:
                inner = act(inner)
            x = ln2(down(inner, h))
        cls_out = x.view(B, 1, H)  # the last layer ran for [CLS] only
        if self.kind == "bert":
            pooled = self.base.pooler(cls_out)
            return self.model.classifier(self.model.dropout(pooled))
        return self.model.classifier(cls_out)

