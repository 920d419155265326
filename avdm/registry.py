"""One registry type for every pluggable family of avdm.

A registry maps a short key (the word a config names, e.g. ``score_model: ncsnpp_lite``) to a
class or factory, with a one-line description that ``avdm-list`` prints.  Components register
themselves with a decorator::

    @SCORE_MODELS.register("ncsnpp_lite")
    class NCSNppLite(AbsScoreModel):
        '''NCSN++ with few channels: the CPU demo scorer.'''

and are built from a key plus a ``conf`` dict::

    model = SCORE_MODELS.build("ncsnpp_lite", {"channels": 32})

Third-party packages add components by registering into these instances; packages that declare
an ``avdm.plugins`` entry point are imported by :func:`load_all` so their keys show up in the
ESPnet ``ClassChoices`` of the task and in ``avdm-list``.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import logging
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

logger = logging.getLogger(__name__)


NO_COMPONENT = ("none", "null", "nil")  # values meaning "no component" (ESPnet's optional choices)


class UnknownKeyError(ValueError):
    """A registry key that is not registered; the message lists the known keys."""


class Registry:
    """A named mapping ``key -> class or factory`` with descriptions."""

    def __init__(self, name: str, description: str = ""):
        self.name = name
        self.description = description
        self._entries: Dict[str, Tuple[Callable[..., Any], str]] = {}

    # ------------------------------------------------------------------ registration
    def register(self, key: str, description: Optional[str] = None):
        """Decorator registering a class or function under ``key``."""
        if not isinstance(key, str) or not key or key != key.strip():
            raise ValueError(f"registry '{self.name}': invalid key {key!r}")

        def decorator(obj):
            if key in self._entries and self._entries[key][0] is not obj:
                raise ValueError(
                    f"registry '{self.name}': key '{key}' is already registered "
                    f"to {_qualname(self._entries[key][0])}"
                )
            self._entries[key] = (obj, description or _first_doc_line(obj))
            return obj

        return decorator

    # ------------------------------------------------------------------ look-up
    def get(self, key: str) -> Callable[..., Any]:
        try:
            return self._entries[key][0]
        except KeyError:
            raise UnknownKeyError(self.unknown_key_message(key)) from None

    def unknown_key_message(self, key: Any) -> str:
        known = sorted(self._entries)
        msg = f"unknown {self.name} '{key}'; known keys: {', '.join(known) or '(none)'}"
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
        if close:
            msg += f". Did you mean '{close[0]}'?"
        return msg

    def describe(self, key: str) -> str:
        self.get(key)
        return self._entries[key][1]

    def build(self, key: str, conf: Optional[Mapping[str, Any]] = None, **extra) -> Any:
        """Instantiate ``key`` with ``conf`` (a dict from YAML) plus ``extra`` keyword arguments.

        A conf entry that the constructor does not accept raises a ``TypeError`` naming the
        registry, the key and the accepted arguments, rather than Python's bare message.
        """
        factory = self.get(key)
        kwargs = dict(conf or {})
        kwargs.update(extra)
        _check_kwargs(self.name, key, factory, kwargs)
        return factory(**kwargs)

    def keys(self):
        return sorted(self._entries)

    def items(self) -> Iterator[Tuple[str, Callable[..., Any], str]]:
        for key in sorted(self._entries):
            obj, desc = self._entries[key]
            yield key, obj, desc

    def as_dict(self) -> Dict[str, Callable[..., Any]]:
        return {k: v[0] for k, v in self._entries.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, keys={self.keys()})"

    # ------------------------------------------------------------------ ESPnet bridge
    def class_choices(self, default: Optional[str] = None, optional: bool = False,
                      type_check: Optional[type] = None, option_name: Optional[str] = None):
        """An espnet2 ``ClassChoices`` exposing ``--<name>`` and ``--<name>_conf``.

        ESPnet reserves the value ``none`` for "no component" (``optional=True``); a registry
        entry keyed ``none`` is therefore left out of the choices and the model maps ``None``
        back to it.  Unknown values fail with this registry's message (known keys, closest match).
        """
        from espnet2.train.class_choices import ClassChoices

        registry = self
        classes = {k: v for k, v in self.as_dict().items() if k not in NO_COMPONENT}

        class RegistryClassChoices(ClassChoices):
            def get_class(self, name):
                if name is None or (optional and str(name).lower() in NO_COMPONENT):
                    return None
                if str(name).lower() in self.classes:
                    return self.classes[str(name).lower()]
                raise ValueError(f"--{self.name}: " + registry.unknown_key_message(name))

        return RegistryClassChoices(
            name=option_name or self.name,
            classes=classes,
            type_check=type_check,
            default=default,
            optional=optional,
        )


def _first_doc_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _check_kwargs(registry_name: str, key: str, factory, kwargs: Mapping[str, Any]) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.name != "self"
                and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, accepted, n=1, cutoff=0.5)
            hints.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise TypeError(
            f"{registry_name} '{key}' got unknown option(s) {', '.join(hints)}; "
            f"accepted: {', '.join(accepted) or '(none)'}"
        )


# ---------------------------------------------------------------------- the families
SDES = Registry("sde", "forward diffusion processes (drift towards the noisy mean or zero)")
SCORE_MODELS = Registry("score_model", "diffusion scorers: networks estimating the score")
VISUAL_ENCODERS = Registry("visual_encoder", "lip ROI video -> frame embeddings")
SAMPLERS = Registry("sampler", "reverse-time samplers; each returns the sample and its NFE")
LANDMARK_DETECTORS = Registry("landmark_detector", "face / mouth localisers for lip ROI extraction")
NOISE_TYPES = Registry("noise_type", "generated noise signals of the noise bank")

ALL: Dict[str, Registry] = {
    r.name: r for r in (SDES, SCORE_MODELS, VISUAL_ENCODERS, SAMPLERS, LANDMARK_DETECTORS, NOISE_TYPES)
}

# modules whose import registers the built-in components
_BUILTIN_MODULES = (
    "avdm.sde",
    "avdm.score",
    "avdm.visual",
    "avdm.sampling",
    "avdm.video.detectors",
    "avdm.data.noise_bank",
)

_loaded = False


def load_all(strict: bool = True) -> Dict[str, Registry]:
    """Import the built-in components and every ``avdm.plugins`` entry point; return ``ALL``."""
    global _loaded
    if _loaded:
        return ALL
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            # a family whose package is not written yet must not hide the others
            if strict and e.name and not mod.startswith(e.name):
                raise
            logger.debug("registry: %s not importable (%s)", mod, e)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="avdm.plugins"):
            try:
                ep.load()
            except Exception as e:  # a broken plugin is reported, not fatal
                logger.warning("avdm plugin %s failed to load: %s", ep.name, e)
    except Exception as e:  # pragma: no cover - importlib.metadata always exists on 3.11
        logger.debug("entry points unavailable: %s", e)
    _loaded = True
    return ALL
