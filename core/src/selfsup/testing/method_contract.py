"""The contract every selfsup method passes (see :mod:`selfsup.testing.contract`).

One class kept whole (~410 lines): a plugin subclasses it once per method, and its checks read
as one list of what a method promises.
"""

from __future__ import annotations

import fnmatch
import inspect
import io
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from selfsup.checks import iter_tensors as _tensors
from selfsup.experiment.method import Method
from selfsup.testing._contract_base import _Contract, _fail

__all__ = ["MethodContract"]


class MethodContract(_Contract):
    """Checks of a :class:`~selfsup.experiment.method.Method` on tiny synthetic batches.

    Class attributes:
        method_cls: The method class under test.
        modality: The modality the method must declare (the plugin's modality).
        seed: Seed for batches and for ``torch.manual_seed`` before every call.
        unused_parameters: ``fnmatch`` patterns of trainable parameter names that
            may legitimately receive no gradient from ``"loss"`` (default: none).
        exports_encoder: Whether ``export_encoder()`` must give an encoder that
            survives a ``save_pretrained`` / ``load_pretrained`` round trip (default
            ``True``; a method with nothing to export sets ``False`` and says why).

    Hooks:
        make_method(): a small instance (default ``method_cls()``).
        make_batch(generator): a small training batch drawn with ``generator``
            (required; at least 2 samples for in-batch negatives).
        malformed_batches(): ``[(batch, regex), ...]``: batches that
            ``training_losses`` must reject with a ``ValueError`` (e.g.
            :class:`~selfsup.experiment.method.MalformedBatchError`) whose message
            matches ``regex``. At least one is required.
        make_embed_inputs(generator): ``(inputs, rows)`` for ``embed``; ``rows``
            is the expected number of output rows or ``None`` to skip that check.
            Default: ``(make_batch(generator), None)``.
        make_encoder_inputs(generator): positional arguments of the exported encoder's
            ``forward`` (a tuple), to check that the reloaded encoder computes the same
            outputs; ``None`` (default) checks the weights only.
    """

    method_cls: ClassVar[type[Method] | None] = None
    modality: ClassVar[str] = ""
    seed: ClassVar[int] = 0
    unused_parameters: ClassVar[tuple[str, ...]] = ()
    exports_encoder: ClassVar[bool] = True

    # -- hooks ---------------------------------------------------------------
    def _method_cls(self) -> type[Method]:
        cls = self.method_cls
        if not isinstance(cls, type):
            _fail(f"{type(self).__name__} must set method_cls = YourMethod (got {cls!r}).")
        return cls  # type: ignore[return-value]

    def make_method(self) -> Method:
        """A small instance of the method under test."""
        return self._method_cls()()

    def make_batch(self, generator: torch.Generator) -> Any:
        """A small training batch drawn with ``generator``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_batch(self, generator) returning a small "
            "training batch in the method's documented format."
        )

    def malformed_batches(self) -> list[tuple[Any, str]]:
        """``(batch, regex)`` pairs that ``training_losses`` must reject."""
        return []

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        """Inputs for ``embed`` and the expected number of output rows (or ``None``)."""
        return self.make_batch(generator), None

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...] | None:
        """Positional ``forward`` arguments of the exported encoder, or ``None``."""
        return None

    # -- helpers -------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def _batch(self) -> Any:
        return self.make_batch(self._generator())

    def _losses(self, method: Method, batch: Any) -> dict[str, Tensor]:
        torch.manual_seed(self.seed)
        out = method.training_losses(batch)
        name = type(method).__name__
        if not isinstance(out, Mapping):
            _fail(f"{name}.training_losses must return a dict, got {type(out).__name__}.")
        if "loss" not in out:
            _fail(f"{name}.training_losses must return a 'loss' entry, got keys {sorted(out)}.")
        for key, value in out.items():
            if not isinstance(key, str):
                _fail(f"{name}.training_losses keys must be strings, got {key!r}.")
            if not isinstance(value, Tensor):
                _fail(
                    f"{name}.training_losses()[{key!r}] must be a tensor, got "
                    f"{type(value).__name__}."
                )
            if value.dim() != 0:
                _fail(
                    f"{name}.training_losses()[{key!r}] must be a 0-dim scalar, got shape "
                    f"{tuple(value.shape)}; reduce it (e.g. .mean())."
                )
        return dict(out)

    # -- checks --------------------------------------------------------------
    def test_is_a_method(self) -> None:
        """The instance is a :class:`Method` of ``method_cls`` declaring ``modality``."""
        cls = self._method_cls()
        method = self.make_method()
        if not isinstance(method, Method):
            _fail(
                f"{type(method).__name__} must subclass selfsup.experiment.method.Method, "
                f"its bases are {[b.__name__ for b in type(method).__mro__[1:]]}."
            )
        if not isinstance(method, cls):
            _fail(f"make_method() returned {type(method).__name__}, not a {cls.__name__}.")
        if not self.modality:
            _fail(f"{type(self).__name__} must set modality = '<the plugin's modality>'.")
        if type(method).modality != self.modality:
            _fail(
                f"{type(method).__name__}.modality is {type(method).modality!r}, expected "
                f"{self.modality!r}; set the class attribute modality = {self.modality!r}."
            )

    def test_constructor_is_configurable(self) -> None:
        """Every ``__init__`` argument is typed with a default; jsonargparse round-trips it."""
        cls = self._method_cls()
        problems: list[str] = []
        for pname, param in inspect.signature(cls.__init__).parameters.items():
            if pname == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                problems.append(f"*{pname}/**{pname} cannot be configured; list the arguments")
                continue
            if param.annotation is param.empty:
                problems.append(f"{pname} has no type annotation")
            if param.default is param.empty:
                problems.append(f"{pname} has no default")
        if problems:
            _fail(
                f"{cls.__name__}.__init__ is not configurable from a config: {'; '.join(problems)}."
            )
        from jsonargparse import ArgumentParser

        parser = ArgumentParser(exit_on_error=False)
        try:
            parser.add_class_arguments(cls, "method", fail_untyped=True)
            cfg = parser.parse_args([])
            dumped = parser.dump(cfg)
            again = parser.parse_string(dumped)
        except Exception as err:
            _fail(f"jsonargparse cannot configure {cls.__name__}: {type(err).__name__}: {err}")
        if again != cfg:
            _fail(f"{cls.__name__}'s default config does not survive dump/parse:\n{dumped}")
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        built = instantiate(again).method
        if not isinstance(built, cls):
            _fail(f"jsonargparse built {type(built).__name__}, not {cls.__name__}.")

    def test_training_losses_are_finite_scalars(self) -> None:
        """``training_losses`` gives finite 0-dim tensors and a differentiable ``loss``."""
        method = self.make_method().train()
        out = self._losses(method, self._batch())
        name = type(method).__name__
        for key, value in out.items():
            if value.is_floating_point() and not bool(torch.isfinite(value)):
                _fail(f"{name}.training_losses()[{key!r}] is not finite: {value.item()}.")
        loss = out["loss"]
        if not loss.is_floating_point():
            _fail(f"{name}'s loss must be floating point, got {loss.dtype}.")
        if not loss.requires_grad:
            _fail(
                f"{name}'s loss does not require grad: it is detached from the parameters "
                "(torch.no_grad, .detach() or .item() somewhere on the way)."
            )

    def test_backward_gives_finite_gradients(self) -> None:
        """``loss.backward()`` reaches every trainable parameter with finite, not all-zero grads."""
        method = self.make_method().train()
        name = type(method).__name__
        loss = self._losses(method, self._batch())["loss"]
        if not loss.requires_grad:
            _fail(f"{name}'s loss does not require grad; nothing to back-propagate.")
        trainable = [(n, p) for n, p in method.named_parameters() if p.requires_grad]
        if not trainable:
            _fail(f"{name} has no trainable parameters.")
        loss.backward()
        allowed = self.unused_parameters
        missing = [
            n
            for n, p in trainable
            if p.grad is None and not any(fnmatch.fnmatchcase(n, pat) for pat in allowed)
        ]
        if missing:
            _fail(
                f"{name}: trainable parameters without a gradient from 'loss': {missing[:10]}; "
                "freeze them (requires_grad_(False)) or list them in unused_parameters."
            )
        nonfinite = [
            n for n, p in trainable if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if nonfinite:
            _fail(f"{name}: NaN/inf gradients in {nonfinite[:10]}.")
        if not any(p.grad is not None and bool(p.grad.ne(0).any()) for _, p in trainable):
            _fail(f"{name}: every gradient is zero; the loss does not depend on the parameters.")

    def test_batch_is_not_modified_in_place(self) -> None:
        """``training_losses`` leaves the batch's tensors unchanged."""
        method = self.make_method().train()
        batch = self._batch()
        before = [(path, t.detach().clone()) for path, t in _tensors(batch)]
        self._losses(method, batch)
        after = list(_tensors(batch))
        if [p for p, _ in before] != [p for p, _ in after]:
            _fail(f"{type(method).__name__}.training_losses changed the batch's structure.")
        changed = [
            p
            for (p, old), (_, new) in zip(before, after, strict=True)
            if old.shape != new.shape or not torch.equal(old, new)
        ]
        if changed:
            _fail(
                f"{type(method).__name__}.training_losses modified the batch in place: {changed}; "
                "clone before in-place ops (loaders may reuse pinned buffers)."
            )

    def test_state_dict_round_trip(self) -> None:
        """A ``torch.save``/``torch.load(weights_only=True)`` round trip keeps the losses."""
        batch = self._batch()
        torch.manual_seed(self.seed)
        original = self.make_method().train()
        name = type(original).__name__
        buffer = io.BytesIO()
        torch.save(original.state_dict(), buffer)
        buffer.seek(0)
        try:
            state = torch.load(buffer, weights_only=True)
        except Exception as err:
            _fail(
                f"{name}.state_dict() does not load with weights_only=True ({err}); keep only "
                "tensors and plain values in the state dict."
            )
        torch.manual_seed(self.seed + 1)
        fresh = self.make_method().train()
        try:
            fresh.load_state_dict(state, strict=True)
        except Exception as err:
            _fail(f"a fresh {name} cannot load the saved state dict: {err}")
        first = self._losses(original, batch)
        second = self._losses(fresh, batch)
        if sorted(first) != sorted(second):
            _fail(f"{name}: loss keys differ after reload: {sorted(first)} vs {sorted(second)}.")
        diff = {
            k: (first[k].item(), second[k].item())
            for k in first
            if not torch.equal(first[k].detach(), second[k].detach())
        }
        if diff:
            _fail(
                f"{name}: losses differ after a state-dict round trip with the same seed: {diff}; "
                "state that affects the loss must be a parameter or a persistent buffer, and "
                "randomness must come from torch's global RNG."
            )

    def test_malformed_batches_raise(self) -> None:
        """Malformed batches raise ``ValueError`` (``MalformedBatchError``) matching a regex."""
        cases = self.malformed_batches()
        if not cases:
            _fail(
                f"{type(self).__name__}.malformed_batches() returned no cases; return at least one "
                "(batch, regex) pair, e.g. a batch of the wrong shape."
            )
        method = self.make_method().train()
        name = type(method).__name__
        problems: list[str] = []
        for i, (batch, pattern) in enumerate(cases):
            torch.manual_seed(self.seed)
            try:
                method.training_losses(batch)
            except ValueError as err:
                if not re.search(pattern, str(err)):
                    problems.append(f"case {i}: message {str(err)!r} does not match {pattern!r}")
            except Exception as err:
                problems.append(
                    f"case {i}: raised {type(err).__name__} ({err}) instead of a ValueError; "
                    "validate the batch and raise selfsup.experiment.method.MalformedBatchError"
                )
            else:
                problems.append(
                    f"case {i}: accepted silently (expected an error matching {pattern!r})"
                )
        if problems:
            _fail(f"{name}.training_losses on malformed batches:\n  " + "\n  ".join(problems))

    def test_representations_are_none_or_finite_matrix(self) -> None:
        """``representations`` of a training batch is ``None`` or detached finite ``(B, D)``."""
        method = self.make_method().train()
        name = type(method).__name__
        torch.manual_seed(self.seed)
        rep = method.representations(self._batch())
        if rep is None:
            return
        if not isinstance(rep, Tensor) or rep.dim() != 2 or not rep.is_floating_point():
            got = tuple(rep.shape) if isinstance(rep, Tensor) else type(rep).__name__
            _fail(f"{name}.representations must return None or floating (B, D), got {got}.")
        if rep.requires_grad:
            _fail(f"{name}.representations must be detached (monitors only read them).")
        if not bool(torch.isfinite(rep).all()):
            _fail(f"{name}.representations returned NaN/inf features.")

    def _embed(self, method: Method) -> tuple[Tensor, int | None]:
        if type(method).embed is Method.embed:
            pytest.skip(f"{type(method).__name__} does not implement embed()")
        inputs, rows = self.make_embed_inputs(self._generator())
        method.eval()
        with torch.no_grad():
            out = method.embed(inputs)
        return out, rows

    def test_embed_returns_finite_matrix(self) -> None:
        """``embed`` returns finite floating ``(B, D)`` features (skipped if not implemented)."""
        method = self.make_method()
        name = type(method).__name__
        torch.manual_seed(self.seed)
        out, rows = self._embed(method)
        if not isinstance(out, Tensor):
            _fail(f"{name}.embed must return a tensor, got {type(out).__name__}.")
        if out.dim() != 2 or out.shape[1] == 0:
            _fail(f"{name}.embed must return (B, D) features, got shape {tuple(out.shape)}.")
        if rows is not None and out.shape[0] != rows:
            _fail(f"{name}.embed returned {out.shape[0]} rows, expected {rows}.")
        if not out.is_floating_point():
            _fail(f"{name}.embed must return floating-point features, got {out.dtype}.")
        if not bool(torch.isfinite(out).all()):
            _fail(f"{name}.embed returned NaN/inf features.")

    def test_embed_is_deterministic_in_eval_mode(self) -> None:
        """In eval mode ``embed`` does not depend on the global RNG (no random views)."""
        method = self.make_method()
        torch.manual_seed(self.seed)
        first, _ = self._embed(method)
        torch.manual_seed(self.seed + 12345)
        second, _ = self._embed(method)
        if first.shape != second.shape or not torch.equal(first, second):
            _fail(
                f"{type(method).__name__}.embed gives different features for the same inputs; "
                "evaluation features must not use random augmentation or dropout in eval mode."
            )

    def test_encoder_export_round_trip(self) -> None:
        """``export_encoder()`` writes a folder that ``load_pretrained`` rebuilds exactly."""
        import tempfile

        from selfsup.export import export_config, is_exportable, load_pretrained, save_pretrained

        if not self.exports_encoder:
            pytest.skip(f"{type(self).__name__} declares exports_encoder = False")
        method = self.make_method().eval()
        name = type(method).__name__
        try:
            encoder = method.export_encoder()
        except NotImplementedError:
            _fail(
                f"{name} does not implement export_encoder(); return the trained encoder (an "
                "@selfsup.export.exportable module registered in the plugin's components), or "
                "set exports_encoder = False in the contract with a reason."
            )
        if not is_exportable(encoder):
            _fail(
                f"{name}.export_encoder() returned a {type(encoder).__name__}, which is not "
                "@selfsup.export.exportable."
            )
        with torch.no_grad():  # weights unlike a fresh init, so a load that did nothing fails
            gen = torch.Generator().manual_seed(self.seed + 7)
            for tensor in encoder.state_dict().values():
                if tensor.is_floating_point():
                    tensor.add_(0.01 * torch.randn(tensor.shape, generator=gen).to(tensor))
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_pretrained(encoder, f"{tmp}/encoder")
            loaded = load_pretrained(folder)
        if type(loaded) is not type(encoder):
            _fail(f"the folder rebuilt a {type(loaded).__name__}, not a {type(encoder).__name__}.")
        if export_config(loaded) != export_config(encoder):
            _fail(f"{type(encoder).__name__}'s config changed in the round trip.")
        before, after = encoder.state_dict(), loaded.state_dict()
        if sorted(before) != sorted(after):
            _fail(f"{type(encoder).__name__}'s state dict keys changed in the round trip.")
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        if changed:
            _fail(f"{type(encoder).__name__}: {changed[:6]} differ after the round trip.")
        inputs = self.make_encoder_inputs(self._generator())
        if inputs is not None:
            encoder.eval()
            with torch.no_grad():
                first, second = encoder(*inputs), loaded(*inputs)
            for a, b in zip(_tensors(first, "out"), _tensors(second, "out"), strict=True):
                if not torch.equal(a[1], b[1]):
                    _fail(f"{type(encoder).__name__}: the reloaded encoder's {a[0]} differs.")
