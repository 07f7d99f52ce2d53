"""roberta_rs: RoBERTa inference in Rust with transformers' ``pipeline()`` interface.

Three lines::

    import roberta_rs
    ner = roberta_rs.pipeline("ner", model="PlanTL-GOB-ES/bsc-bio-ehr-es-pharmaconer", aggregation_strategy="first")
    print(ner("Se pautó tratamiento con amoxicilina-clavulánico."))

``pipeline(task, model=...)`` gives what ``transformers.pipeline`` gives for ``"fill-mask"``,
``"token-classification"`` (``"ner"``), ``"text-classification"`` and ``"feature-extraction"``: on a str the
value transformers returns for a str, on a list a list, with the same keys and types (scores as Python floats,
``start`` / ``end`` as character offsets). ``model`` is an HF model directory or a Hub id ``org/name[@revision]``
(fetched into the cache ``huggingface_hub`` uses). ``Tokenizer.from_pretrained(DIR)`` is an HF-identical tokenizer
whose ``__call__`` returns a ``BatchEncoding``; ``evaluate_ner(model, conll)`` scores a model on a CoNLL file as
seqeval does. ``python -m roberta_rs.dask`` runs a corpus on a Dask cluster.

The computation releases the GIL: one pipeline object may be called from many threads at once. Errors are
Python exceptions with the engine's message: ``ValueError`` (bad input or option, malformed file),
``FileNotFoundError`` (no such model or file), ``RuntimeError`` (the engine: a failed forward pass, no GPU).
"""
from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _native

__version__: str = _native.__version__

__all__ = [
    "pipeline",
    "Pipeline",
    "FillMaskPipeline",
    "TokenClassificationPipeline",
    "TextClassificationPipeline",
    "FeatureExtractionPipeline",
    "Tokenizer",
    "BatchEncoding",
    "evaluate_ner",
]

_EXCEPTIONS = {
    "ValueError": ValueError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "ConnectionError": ConnectionError,
    "RuntimeError": RuntimeError,
}

_UNSET: Any = object()  # a keyword argument not given (text-classification's top_k: None means "every label")


def _device(device: Any) -> str:
    """cpu, cuda or auto from what transformers takes: a str ("cpu", "cuda", "cuda:0", "auto"), an int (-1 is the
    CPU, 0 the first GPU) or None (the CPU)."""
    if device is None:
        return "cpu"
    if isinstance(device, bool):
        raise ValueError(f"device must be 'cpu', 'cuda', 'auto' or a GPU index, not {device!r}")
    if isinstance(device, int):
        if device < 0:
            return "cpu"
        if device == 0:
            return "cuda"
        raise ValueError(f"device {device}: only the first GPU (0) is supported")
    d = str(device).lower()
    if d in ("cpu", "cuda", "auto"):
        return d
    if d == "cuda:0":
        return "cuda"
    raise ValueError(f"device must be 'cpu', 'cuda', 'auto' or a GPU index, not {device!r}")


def _dtype(dtype: Any) -> Optional[str]:
    """f32 or int8 (the CPU's linear layers); torch dtypes and their names are read by name."""
    if dtype is None:
        return None
    name = str(dtype).rsplit(".", 1)[-1].lower()
    if name == "auto":
        return None
    return name


def _raise(kind: str, msg: str, index: Optional[int]) -> None:
    exc = _EXCEPTIONS.get(kind, RuntimeError)
    raise exc(msg if index is None else f"input {index}: {msg}")


def _warn(msg: str, index: Optional[int]) -> None:
    warnings.warn(msg if index is None else f"input {index}: {msg}", UserWarning, stacklevel=4)


def _model_path(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    raise TypeError(f"model must be a model directory or a Hub id (org/name[@revision]), not {type(model).__name__}")


class Pipeline:
    """What every pipeline shares: the loaded model, the task's options (given to ``pipeline()`` and overridable
    per call, as in transformers), and the call conventions: a str gives one result, a list a list of results, an
    iterator (a generator) an iterator of results."""

    task: str = ""
    _defaults: Dict[str, Any] = {}

    def __init__(self, model: "_native.NativeModel", task: str, **kwargs: Any) -> None:
        self._model = model
        self.task = task
        self._lock = threading.Lock()
        self._natives: Dict[Tuple[Any, ...], Any] = {}
        unknown = sorted(set(kwargs) - set(self._defaults))
        if unknown:
            raise TypeError(f"{task} got unexpected keyword argument(s) {', '.join(unknown)} (it takes {', '.join(sorted(self._defaults)) or 'none'})")
        self._params = {**self._defaults, **kwargs}
        self._check(self._params)
        self._native(self._params)  # builds (and checks) the pipeline now, as transformers does

    # -- what the model is
    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda:0 NVIDIA H200 (sm_90)``...)."""
        return self._model.device

    @property
    def model_path(self) -> str:
        """The model's directory (for a Hub id, its snapshot in the HF cache)."""
        return os.fspath(self._model.path)

    @property
    def tokenizer(self) -> "Tokenizer":
        """The model's tokenizer."""
        return Tokenizer(self._model.tokenizer())

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}(task={self.task!r}, model={self.model_path!r}, device={self.device!r}{', ' + opts if opts else ''})"

    # -- calls
    def _merge(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        unknown = sorted(set(kwargs) - set(self._defaults))
        if unknown:
            raise TypeError(f"{self.task} got unexpected keyword argument(s) {', '.join(unknown)} (it takes {', '.join(sorted(self._defaults)) or 'none'})")
        params = {**self._params, **kwargs}
        self._check(params)
        return params

    def _check(self, params: Dict[str, Any]) -> None:
        """Checks options the native pipeline does not see."""

    def _native(self, params: Dict[str, Any]) -> Any:
        key = self._key(params)
        with self._lock:
            p = self._natives.get(key)
            if p is None:
                p = self._make(params)
                self._natives[key] = p
            return p

    def _key(self, params: Dict[str, Any]) -> Tuple[Any, ...]:
        raise NotImplementedError

    def _make(self, params: Dict[str, Any]) -> Any:
        raise NotImplementedError

    def _one(self, x: Any) -> bool:
        """Whether x is one input (else a batch)."""
        return isinstance(x, str)

    def _run(self, inputs: List[Any], params: Dict[str, Any], single: bool) -> List[Any]:
        raise NotImplementedError

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        params = self._merge(kwargs)
        if self._one(inputs):
            return self._run([inputs], params, True)[0]
        if isinstance(inputs, (list, tuple)):
            return self._run(list(inputs), params, False)
        if isinstance(inputs, Iterable) and not isinstance(inputs, (dict, bytes, bytearray)):
            return self._iterate(iter(inputs), params)
        raise TypeError(f"{self.task} takes a str or a list of str, not {type(inputs).__name__}")

    def _iterate(self, it: Iterator[Any], params: Dict[str, Any]) -> Iterator[Any]:
        chunk: List[Any] = []
        for x in it:
            chunk.append(x)
            if len(chunk) >= 64:
                yield from self._run(chunk, params, False)
                chunk = []
        if chunk:
            yield from self._run(chunk, params, False)

    def _rows(self, rows: List[Any], single: bool) -> List[Any]:
        out = []
        for i, (value, warning, err) in enumerate(rows):
            where = None if single else i
            if err is not None:
                _raise(err[0], err[1], where)
            if warning:
                _warn(warning, where)
            out.append(json.loads(value))
        return out


def _texts(task: str, inputs: List[Any]) -> List[str]:
    for i, t in enumerate(inputs):
        if not isinstance(t, str):
            raise TypeError(f"{task}: input {i} is a {type(t).__name__}, not a str")
    return inputs


class FillMaskPipeline(Pipeline):
    """``pipeline("fill-mask", top_k=5)``: per text, the ``top_k`` tokens for its mask as
    ``[{"score", "token", "token_str", "sequence"}]``, or a list of such lists when the text has several masks.
    As transformers, a list of one text gives that text's result, not a list of one."""

    _defaults = {"top_k": 5}

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        out = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return out[0]
        return out

    def _key(self, p: Dict[str, Any]) -> Tuple[Any, ...]:
        return (p["top_k"],)

    def _make(self, p: Dict[str, Any]) -> Any:
        top_k = p["top_k"]
        if not isinstance(top_k, int) or isinstance(top_k, bool):
            raise ValueError(f"top_k must be an int, not {top_k!r}")
        return _native.NativePipeline.fill_mask(self._model, top_k)

    def _run(self, inputs: List[Any], params: Dict[str, Any], single: bool) -> List[Any]:
        native = self._native(params)
        return self._rows(native.run(_texts(self.task, inputs)), single)


class TokenClassificationPipeline(Pipeline):
    """``pipeline("token-classification")`` (alias ``"ner"``): per text, its entities. ``aggregation_strategy``
    none (one entity per token: ``{"entity", "score", "index", "word", "start", "end"}``, transformers' default),
    simple, first, average or max (``{"entity_group", "score", "word", "start", "end"}``); ``stride`` for texts
    longer than the model (overlapping windows, needs an aggregation); ``ignore_labels`` (default ``["O"]``);
    ``words`` (an extension): ``"hf"`` for transformers' word heuristic, ``"pretokenizer"`` for the tokenizer's
    words."""

    _defaults = {"aggregation_strategy": "none", "stride": None, "ignore_labels": None, "words": "hf"}

    def _key(self, p: Dict[str, Any]) -> Tuple[Any, ...]:
        return (self._strategy(p), p["stride"], p["words"])

    @staticmethod
    def _strategy(p: Dict[str, Any]) -> str:
        s = p["aggregation_strategy"]
        s = getattr(s, "value", s)  # transformers' AggregationStrategy enum
        return "none" if s is None else str(s).lower()

    def _make(self, p: Dict[str, Any]) -> Any:
        strategy = self._strategy(p)
        if p["stride"] is not None and strategy == "none":
            raise ValueError(
                "`stride` was provided to process all the text but `aggregation_strategy=\"none\"` was selected: "
                "use simple, first, average or max"
            )
        return _native.NativePipeline.ner(self._model, strategy, p["stride"], p["words"])

    def _run(self, inputs: List[Any], params: Dict[str, Any], single: bool) -> List[Any]:
        native = self._native(params)
        out = self._rows(native.run(_texts(self.task, inputs)), single)
        ignore = params["ignore_labels"]
        if ignore is not None:
            ignore = set(ignore)
            if "O" not in ignore:
                raise ValueError("ignore_labels must include 'O' here (entities labelled O are never returned)")
            if ignore != {"O"}:
                out = [[e for e in ents if e.get("entity", e.get("entity_group")) not in ignore] for ents in out]
        return out


class TextClassificationPipeline(Pipeline):
    """``pipeline("text-classification")``: labels with scores. As transformers: without ``top_k`` a str gives
    ``[{"label", "score"}]`` (the best label), a ``{"text", "text_pair"}`` dict gives the best label's dict, a list
    gives one best dict per input; with ``top_k=None`` (every label) or ``top_k=K`` each input gives a list of
    labels, best first. ``function_to_apply``: ``"softmax"``, ``"sigmoid"`` or ``"none"`` (default: the
    checkpoint's, sigmoid for multi-label or single-logit models)."""

    _defaults = {"top_k": _UNSET, "function_to_apply": None}

    def _key(self, p: Dict[str, Any]) -> Tuple[Any, ...]:
        f = p["function_to_apply"]
        return (None if f is None else str(getattr(f, "value", f)).lower(),)

    def _check(self, p: Dict[str, Any]) -> None:
        top_k = p["top_k"]
        if top_k is not _UNSET and top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, not {top_k!r}")

    def _make(self, p: Dict[str, Any]) -> Any:
        return _native.NativePipeline.classify(self._model, self._key(p)[0])

    def _one(self, x: Any) -> bool:
        return isinstance(x, (str, dict))

    def _run(self, inputs: List[Any], params: Dict[str, Any], single: bool) -> List[Any]:
        native = self._native(params)
        pairs: List[Tuple[str, Optional[str]]] = []
        for i, x in enumerate(inputs):
            if isinstance(x, str):
                pairs.append((x, None))
            elif isinstance(x, dict):
                extra = sorted(set(x) - {"text", "text_pair"})
                if "text" not in x or extra:
                    raise ValueError(f"input {i}: a dict input is {{\"text\": ..., \"text_pair\": ...}}, not keys {sorted(x)}")
                t, tp = x["text"], x.get("text_pair")
                if not isinstance(t, str) or not (tp is None or isinstance(tp, str)):
                    raise TypeError(f"input {i}: text and text_pair must be str")
                pairs.append((t, tp))
            else:
                raise TypeError(f"text-classification: input {i} is a {type(x).__name__}, not a str or a dict")
        rows = native.run_pairs(pairs)
        labels = self._rows(rows, single)
        top_k = params["top_k"]
        out: List[Any] = []
        for x, ls in zip(inputs, labels):
            if top_k is _UNSET:
                best = ls[0]
                out.append(best if isinstance(x, dict) or not single else [best])
            else:
                out.append(ls if top_k is None else ls[:top_k])
        return out


class FeatureExtractionPipeline(Pipeline):
    """``pipeline("feature-extraction")``: without ``pooling``, every token's last hidden state as transformers
    gives it (``[1, tokens, hidden]`` per text, ``<s>`` and ``</s>`` included); with ``pooling="mean"`` (over the
    tokens; long texts in windows) or ``"cls"`` one vector ``[hidden]`` per text, unit-length with
    ``normalize=True``. ``return_tensors="np"`` (or True) gives numpy float32 arrays, else nested lists. Texts
    longer than the model are cut (token states, cls) with a warning."""

    _defaults = {"pooling": None, "normalize": False, "return_tensors": False, "truncation": True}

    def _key(self, p: Dict[str, Any]) -> Tuple[Any, ...]:
        return (p["pooling"], bool(p["normalize"]))

    def _check(self, p: Dict[str, Any]) -> None:
        if p["truncation"] is not True:
            raise ValueError("truncation: texts longer than the model are always cut here (with a warning); only truncation=True is taken")
        rt = p["return_tensors"]
        if rt not in (False, None, True, "np"):
            raise ValueError(f"return_tensors must be 'np', True or False, not {rt!r} (no torch here)")

    def _make(self, p: Dict[str, Any]) -> Any:
        return _native.NativePipeline.embed(self._model, p["pooling"], bool(p["normalize"]))

    def _run(self, inputs: List[Any], params: Dict[str, Any], single: bool) -> List[Any]:
        native = self._native(params)
        rows = native.run_vectors(_texts(self.task, inputs))
        as_np = params["return_tensors"] in (True, "np")
        np = None
        if as_np:
            import numpy as np  # noqa: F811 (only when asked for)
        out: List[Any] = []
        import array

        for i, (data, warning, err) in enumerate(rows):
            where = None if single else i
            if err is not None:
                _raise(err[0], err[1], where)
            if warning:
                _warn(warning, where)
            buf, shape = data
            if as_np:
                out.append(np.frombuffer(buf, dtype="<f4").reshape(shape).copy())
            else:
                flat = array.array("f")
                flat.frombytes(buf)
                out.append(_nest(flat.tolist(), shape))
        return out


def _nest(flat: List[float], shape: Sequence[int]) -> Any:
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


_TASKS = {
    "fill-mask": FillMaskPipeline,
    "token-classification": TokenClassificationPipeline,
    "ner": TokenClassificationPipeline,
    "text-classification": TextClassificationPipeline,
    "sentiment-analysis": TextClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
}


def pipeline(
    task: str,
    model: Union[str, "os.PathLike[str]"],
    device: Any = "cpu",
    dtype: Any = None,
    batch_size: int = 16,
    **kwargs: Any,
) -> Pipeline:
    """A pipeline as ``transformers.pipeline(task, model=...)``.

    task: ``"fill-mask"``, ``"token-classification"`` (or ``"ner"``), ``"text-classification"`` (or
    ``"sentiment-analysis"``), ``"feature-extraction"``.
    model: an HF model directory (config.json, weights, tokenizer files) or a Hub id ``org/name[@revision]``.
    device: ``"cpu"`` (default), ``"cuda"`` (or 0), ``"auto"`` (the GPU when there is one).
    dtype: ``"f32"`` (default) or ``"int8"`` (the CPU's linear layers in int8: about 2x faster, F1 within 0.005).
    batch_size: sequences per forward pass.
    kwargs: the task's options (``top_k``, ``aggregation_strategy``, ``stride``, ``function_to_apply``,
    ``pooling``, ``normalize``, ``return_tensors``...), also accepted per call.
    """
    cls = _TASKS.get(task)
    if cls is None:
        raise ValueError(f"unknown task {task!r}: one of {', '.join(_TASKS)}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
    native = _native.NativeModel.load(_model_path(model), _device(device), _dtype(dtype), batch_size)
    return cls(native, task, **kwargs)


class BatchEncoding(dict):
    """What ``Tokenizer.__call__`` returns, as transformers' ``BatchEncoding``: a dict (``input_ids``,
    ``attention_mask``, ``token_type_ids`` for BERT, ``offset_mapping`` when asked...) whose keys are also
    attributes, plus ``word_ids()``, ``sequence_ids()`` and ``tokens()`` per sequence."""

    def __init__(self, data: Dict[str, Any], encodings: List[Tuple[Any, ...]], tokens: List[List[str]]) -> None:
        super().__init__(data)
        self._encodings = encodings
        self._tokens = tokens

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _enc(self, batch_index: int) -> Tuple[Any, ...]:
        if not -len(self._encodings) <= batch_index < len(self._encodings):
            raise IndexError(f"batch_index {batch_index} is out of range for a batch of {len(self._encodings)}")
        return self._encodings[batch_index]

    def word_ids(self, batch_index: int = 0) -> List[Optional[int]]:
        """The word of each token (None for special and padding tokens)."""
        return list(self._enc(batch_index)[4])

    def sequence_ids(self, batch_index: int = 0) -> List[Optional[int]]:
        """0 or 1 for each token of the first or second text of a pair, None for special and padding tokens."""
        return list(self._enc(batch_index)[6])

    def tokens(self, batch_index: int = 0) -> List[str]:
        """The token strings."""
        self._enc(batch_index)
        return list(self._tokens[batch_index])

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def n_sequences(self) -> int:
        return len(self._encodings)


_SPECIAL_NAMES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


class Tokenizer:
    """An HF tokenizer (RoBERTa's byte-level BPE, BERT's WordPiece, XLM-R's SentencePiece Unigram), giving exactly
    what ``AutoTokenizer.from_pretrained(DIR)`` gives. ``Tokenizer.from_pretrained(DIR or org/name)``."""

    def __init__(self, native: "_native.NativeTokenizer") -> None:
        self._native = native
        self._special = dict(native.special_tokens())

    @classmethod
    def from_pretrained(cls, path: Union[str, "os.PathLike[str]"], **kwargs: Any) -> "Tokenizer":
        """Loads tokenizer.json, or vocab.json + merges.txt, vocab.txt, or sentencepiece.bpe.model (with
        tokenizer_config.json and special_tokens_map.json), from a directory or a Hub id."""
        if kwargs:
            raise TypeError(f"from_pretrained got unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        return cls(_native.NativeTokenizer.load(_model_path(path)))

    # -- properties as transformers names them
    @property
    def vocab_size(self) -> int:
        return self._native.vocab_size

    def __len__(self) -> int:
        return self._native.vocab_size

    @property
    def model_max_length(self) -> Optional[int]:
        return self._native.model_max_length

    @property
    def model_input_names(self) -> List[str]:
        if self._native.model_type == "wordpiece":
            return ["input_ids", "token_type_ids", "attention_mask"]
        return ["input_ids", "attention_mask"]

    @property
    def is_fast(self) -> bool:
        return True

    def _tok(self, name: str) -> str:
        return self._special[name]

    def _tok_id(self, name: str) -> Optional[int]:
        return self._native.tokens_to_ids([self._special[name]])[0]

    bos_token = property(lambda self: self._tok("bos"))
    eos_token = property(lambda self: self._tok("eos"))
    unk_token = property(lambda self: self._tok("unk"))
    sep_token = property(lambda self: self._tok("sep"))
    pad_token = property(lambda self: self._tok("pad"))
    cls_token = property(lambda self: self._tok("cls"))
    mask_token = property(lambda self: self._tok("mask"))
    bos_token_id = property(lambda self: self._tok_id("bos"))
    eos_token_id = property(lambda self: self._tok_id("eos"))
    unk_token_id = property(lambda self: self._tok_id("unk"))
    sep_token_id = property(lambda self: self._tok_id("sep"))
    pad_token_id = property(lambda self: self._native.pad_token_id)
    cls_token_id = property(lambda self: self._tok_id("cls"))
    mask_token_id = property(lambda self: self._tok_id("mask"))

    @property
    def all_special_tokens(self) -> List[str]:
        seen: List[str] = []
        for n in _SPECIAL_NAMES:
            t = self._special[n]
            if t not in seen and self._native.tokens_to_ids([t])[0] is not None:
                seen.append(t)
        return seen

    def __repr__(self) -> str:
        return f"Tokenizer(model_type={self._native.model_type!r}, vocab_size={self.vocab_size}, model_max_length={self.model_max_length})"

    # -- encoding
    def __call__(
        self,
        text: Union[str, List[str], List[List[str]]],
        text_pair: Union[str, List[str], None] = None,
        *,
        add_special_tokens: bool = True,
        padding: Union[bool, str] = False,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
        is_split_into_words: bool = False,
        return_tensors: Optional[str] = None,
        return_token_type_ids: Optional[bool] = None,
        return_attention_mask: Optional[bool] = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Encodes a text, a pair, a batch of either, or pre-split words (``is_split_into_words=True``), as
        transformers' tokenizer ``__call__``: lists for one input, lists of lists for a batch; ``return_tensors="np"``
        for numpy arrays (a batch dimension always). ``offset_mapping`` (character offsets) with
        ``return_offsets_mapping=True``, as in transformers."""
        if is_split_into_words:
            batched = isinstance(text, (list, tuple)) and len(text) > 0 and isinstance(text[0], (list, tuple))
            words = [list(w) for w in text] if batched else [list(text)]  # type: ignore[arg-type]
            if text_pair is not None:
                raise ValueError("text_pair with is_split_into_words is not supported")
            for w in words:
                if not all(isinstance(x, str) for x in w):
                    raise TypeError("is_split_into_words=True takes a list of words (str) or a list of such lists")
            texts: List[str] = [""] * len(words)
            pairs = None
        else:
            batched = isinstance(text, (list, tuple))
            if batched:
                texts = list(text)  # type: ignore[arg-type]
            elif isinstance(text, str):
                texts = [text]
            else:
                raise TypeError(f"text must be a str or a list of str, not {type(text).__name__}")
            for t in texts:
                if not isinstance(t, str):
                    raise TypeError(f"text must be a str or a list of str (use is_split_into_words=True for words), not a list of {type(t).__name__}")
            words = None
            if text_pair is None:
                pairs = None
            elif isinstance(text_pair, str):
                if batched:
                    raise ValueError("a batch of texts takes a list of text pairs")
                pairs = [text_pair]
            else:
                if not batched:
                    raise ValueError("one text takes one str text_pair")
                pairs = list(text_pair)
                if not all(isinstance(p, str) for p in pairs):
                    raise TypeError("text_pair must be a str or a list of str")
        # truncation and padding, with transformers' defaults
        if truncation is None:
            # transformers: max_length without padding and without truncation means truncation, with a warning
            if max_length is not None and padding in (False, None, "do_not_pad"):
                warnings.warn(
                    "Truncation was not explicitly activated but `max_length` is provided a specific value, "
                    "please use `truncation=True` to explicitly truncate examples to max length. Defaulting to "
                    "'longest_first' truncation strategy.",
                    UserWarning,
                    stacklevel=2,
                )
                truncation = "longest_first"
            else:
                truncation = False
        if truncation is True:
            truncation = "longest_first"
        if truncation in (False, "do_not_truncate"):
            trunc_len = None
            strategy = "longest_first"
        elif truncation in ("longest_first", "only_first", "only_second"):
            strategy = str(truncation)
            trunc_len = max_length if max_length is not None else self.model_max_length
        else:
            raise ValueError(f"truncation must be True, False, 'longest_first', 'only_first', 'only_second' or 'do_not_truncate', not {truncation!r}")
        if padding is True or padding == "longest":
            pad, pad_to = True, None
        elif padding in (False, None, "do_not_pad"):
            pad, pad_to = False, None
        elif padding == "max_length":
            pad, pad_to = True, max_length if max_length is not None else self.model_max_length
            if pad_to is None:
                raise ValueError("padding='max_length' needs max_length (the tokenizer has no model_max_length)")
        else:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', not {padding!r}")
        if padding is True and not batched:
            pad = False  # one sequence: nothing to pad to
        encs = self._native.encode_batch(texts, pairs, words, add_special_tokens, trunc_len, strategy, pad, pad_to)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = True
        data: Dict[str, Any] = {"input_ids": [list(e[0]) for e in encs]}
        if return_token_type_ids:
            data["token_type_ids"] = [list(e[1]) for e in encs]
        if return_attention_mask:
            data["attention_mask"] = [list(e[2]) for e in encs]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [list(e[5]) for e in encs]
        if return_offsets_mapping:
            data["offset_mapping"] = [[tuple(o) for o in e[3]] for e in encs]
        if return_length:
            data["length"] = [len(e[0]) for e in encs]
        tokens = [[t if t is not None else "" for t in self._native.ids_to_tokens(e[0])] for e in encs]
        if return_tensors is not None:
            if return_tensors != "np":
                raise ValueError(f"return_tensors must be 'np' (numpy) here, not {return_tensors!r}")
            import numpy as np

            lens = {len(e[0]) for e in encs}
            if len(lens) > 1:
                raise ValueError(
                    "Unable to create tensor, you should probably activate truncation and/or padding with "
                    "'padding=True' 'truncation=True' to have batched tensors with the same length."
                )
            data = {k: np.asarray(v, dtype=np.int64) for k, v in data.items()}
        elif not batched:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, encs, tokens)

    def encode(
        self,
        text: str,
        text_pair: Optional[str] = None,
        add_special_tokens: bool = True,
        truncation: Union[bool, str, None] = None,
        max_length: Optional[int] = None,
    ) -> List[int]:
        """The ids of one text (or pair)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation, max_length=max_length)["input_ids"]

    def tokenize(self, text: str, text_pair: Optional[str] = None, add_special_tokens: bool = False) -> List[str]:
        """The token strings of a text (without special tokens unless asked)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens).tokens()

    def decode(self, token_ids: Union[int, Sequence[int]], skip_special_tokens: bool = False) -> str:
        """Text from ids, as transformers' ``decode``."""
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        return self._native.decode([int(i) for i in token_ids], skip_special_tokens)

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = False) -> List[str]:
        """``decode`` of each sequence."""
        return [self.decode(s, skip_special_tokens) for s in sequences]

    def convert_ids_to_tokens(self, ids: Union[int, Sequence[int]], skip_special_tokens: bool = False) -> Union[Optional[str], List[Optional[str]]]:
        """The token string of an id, or of each id."""
        if isinstance(ids, int):
            return self._native.ids_to_tokens([ids])[0]
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            special = set(self.all_special_tokens)
            return [t for t in self._native.ids_to_tokens(ids) if t not in special]
        return self._native.ids_to_tokens(ids)

    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]) -> Union[Optional[int], List[Optional[int]]]:
        """The id of a token string (the unknown token's id when it is not in the vocabulary), or of each."""
        unk = self.unk_token_id
        if isinstance(tokens, str):
            i = self._native.tokens_to_ids([tokens])[0]
            return unk if i is None else i
        return [unk if i is None else i for i in self._native.tokens_to_ids(list(tokens))]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Token strings back to text."""
        return self._native.tokens_to_string(list(tokens))


def evaluate_ner(
    model: Union[str, "os.PathLike[str]", TokenClassificationPipeline],
    conll_path: Union[str, "os.PathLike[str]"],
    *,
    label_column: Optional[int] = None,
    device: Any = "cpu",
    dtype: Any = None,
    batch_size: int = 16,
) -> Dict[str, Any]:
    """Scores a token-classification model on a CoNLL file (``word<TAB>label`` lines, a blank line between
    sentences) with the protocol of its fine-tuning scripts (each word labelled by its first sub-word; sentences
    longer than the model in word chunks) and seqeval's default (conlleval) matching.

    Returns ``{"micro_f1": float, "report": seqeval's classification_report(output_dict=True) (per type and
    "micro avg", "macro avg", "weighted avg", each {"precision", "recall", "f1-score", "support"}),
    "predictions": one label per word of each sentence, "unknown_labels": {gold label the model lacks: words}}``.
    ``model``: a model directory, a Hub id, or a token-classification pipeline (its loaded model is used)."""
    if isinstance(model, Pipeline):
        native = model._model
    else:
        native = _native.NativeModel.load(_model_path(model), _device(device), _dtype(dtype), batch_size)
    return json.loads(_native.evaluate_ner(native, os.fspath(conll_path), label_column))
