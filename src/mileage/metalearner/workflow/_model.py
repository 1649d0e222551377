"""Workflows: DAGs of named operators whose outputs carry exact fingerprints.

An operator is a function of its inputs' outputs with fixed parameters. Its output
fingerprint covers the operator's code (kind and version), its parameters and the
fingerprints of its inputs, recursively down to a content hash of the data, so two runs
produce the same fingerprint for an output exactly when nothing it depends on changed.
That is what lets the cache reuse it and the trace store record what changed.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mileage.metalearner._errors import WorkflowError
from mileage.platform.fingerprint import fingerprint
from mileage.platform.pipelines import OperatorSpec

#: Roles an operator plays; the next-change model and the chain generator use them.
ROLES = ("data", "preprocessing", "model", "evaluation")


@dataclass(frozen=True)
class Operator:
    """One node of a workflow.

    Attributes:
        name: Unique name within the workflow (``scaler``, ``pre__num__impute``).
        func: Called as ``func(*input_values)``; parameters are already bound. It must not
            modify its inputs (they may be shared with other operators or the cache).
        inputs: Names of the operators or workflow sources whose outputs it reads.
        params: JSON-ready description of the parameters (part of the fingerprint).
        kind: Qualified name of the code (``sklearn.preprocessing.StandardScaler``).
        version: Version of that code (library version or a hash of the source).
        role: One of :data:`ROLES`.
    """

    name: str
    func: Callable[..., Any] = field(compare=False, repr=False)
    inputs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: str = ""
    version: str = ""
    role: str = "preprocessing"

    @classmethod
    def function(
        cls,
        name: str,
        func: Callable[..., Any],
        inputs: Sequence[str],
        params: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        role: str = "preprocessing",
    ) -> Operator:
        """Declare a plain Python function as an operator.

        Args:
            name: Operator name.
            func: Called as ``func(*input_values, **params)``.
            inputs: Operator or source names, in the order ``func`` takes them.
            params: Keyword arguments bound to ``func``; they must be JSON-ready values.
            version: Code version; by default a hash of the function's source, so editing
                the function invalidates its cached outputs.
            role: One of :data:`ROLES`.

        Example:
            >>> def add_ratio(frame, *, num, den):
            ...     return frame.assign(ratio=frame[num] / frame[den])
            >>> op = Operator.function("ratio", add_ratio, ["data"], {"num": "a", "den": "b"})
            >>> op.kind.endswith("add_ratio")
            True
        """
        params = dict(params or {})
        return cls(
            name=name,
            func=functools.partial(func, **params),
            inputs=tuple(inputs),
            params=describe(params),
            kind=qualified_name(func),
            version=version if version is not None else source_version(func),
            role=role,
        )

    @property
    def code(self) -> str:
        """``kind@version`` (short), the identity of the code that runs."""
        return f"{self.kind}@{self.version}" if self.version else self.kind

    def spec(self) -> OperatorSpec:
        """The operator as the trace store records it (inputs by name, code in ``kind``)."""
        return OperatorSpec(
            name=self.name, kind=self.code, params=dict(self.params), inputs=self.inputs
        )


class Workflow:
    """A DAG of operators over named data sources.

    Args:
        operators: The operators, in any order; inputs must name sources or other operators.
        sources: Names of the data the workflow reads (``run`` receives them).
        name: The workflow's name; iterations of one workflow by one user form a chain.

    Raises:
        WorkflowError: A name is duplicated or clashes with a source, an input is unknown,
            a role is unknown, or the graph has a cycle.
    """

    def __init__(self, operators: Iterable[Operator], *, sources: Sequence[str], name: str) -> None:
        ops = list(operators)
        self.name = name
        self.sources = tuple(sources)
        by_name: dict[str, Operator] = {}
        for op in ops:
            if op.name in by_name or op.name in self.sources:
                raise WorkflowError(
                    f"workflow {name!r}: operator name {op.name!r} is used twice (or is also a "
                    "source name); give every operator and source a distinct name."
                )
            if op.role not in ROLES:
                raise WorkflowError(
                    f"workflow {name!r}: operator {op.name!r} has role {op.role!r}; use one of "
                    f"{list(ROLES)}."
                )
            by_name[op.name] = op
        for op in ops:
            unknown = [i for i in op.inputs if i not in by_name and i not in self.sources]
            if unknown:
                raise WorkflowError(
                    f"workflow {name!r}: operator {op.name!r} reads {unknown}, which is neither "
                    f"an operator nor a source (sources: {list(self.sources)}); fix the input "
                    "names."
                )
        self._ops = by_name
        self.order = self._topological(ops)
        self.consumers: dict[str, list[str]] = {n: [] for n in self.order}
        for n in self.order:
            for i in dict.fromkeys(by_name[n].inputs):
                if i in by_name:
                    self.consumers[i].append(n)
        self.sinks = [n for n in self.order if not self.consumers[n]]

    def _topological(self, ops: list[Operator]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, path: tuple[str, ...]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                raise WorkflowError(
                    f"workflow {self.name!r} has a cycle: {' -> '.join((*path, n))}; "
                    "an operator cannot depend on its own output."
                )
            state[n] = 1
            for i in self._ops[n].inputs:
                if i in self._ops:
                    visit(i, (*path, n))
            state[n] = 2
            order.append(n)

        for op in ops:
            visit(op.name, ())
        return order

    def __getitem__(self, name: str) -> Operator:
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(
                f"workflow {self.name!r} has no operator {name!r}; it has {self.order}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Any:
        return (self._ops[n] for n in self.order)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, operators={self.order}, sources={list(self.sources)})"

    def operator_inputs(self, name: str) -> list[str]:
        """Inputs of ``name`` that are operators (sources left out)."""
        return [i for i in dict.fromkeys(self._ops[name].inputs) if i in self._ops]

    def ancestors(self, name: str) -> set[str]:
        """Operators ``name`` depends on, directly or not."""
        out: set[str] = set()
        stack = self.operator_inputs(name)
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.operator_inputs(n))
        return out

    def descendants(self, name: str) -> set[str]:
        """Operators that depend on ``name``, directly or not."""
        out: set[str] = set()
        stack = list(self.consumers[name])
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.consumers[n])
        return out

    def depth(self) -> dict[str, int]:
        """Longest path from the sources to each operator (sources' readers have depth 0)."""
        out: dict[str, int] = {}
        for n in self.order:
            parents = self.operator_inputs(n)
            out[n] = 1 + max(out[p] for p in parents) if parents else 0
        return out

    def specs(self) -> list[OperatorSpec]:
        """The operators as the trace store records them, in execution order."""
        return [self._ops[n].spec() for n in self.order]

    def fingerprints(self, source_fingerprints: Mapping[str, str]) -> dict[str, str]:
        """Output fingerprint of every operator.

        Args:
            source_fingerprints: Content fingerprint of each source (:func:`data_fingerprint`).

        Raises:
            WorkflowError: A source has no fingerprint.
        """
        missing = [s for s in self.sources if s not in source_fingerprints]
        if missing:
            raise WorkflowError(
                f"workflow {self.name!r}: no data given for sources {missing}; pass them to run()."
            )
        out: dict[str, str] = {}
        for n in self.order:
            op = self._ops[n]
            out[n] = fingerprint(
                {
                    "kind": op.kind,
                    "version": op.version,
                    "params": dict(op.params),
                    "inputs": [
                        out[i] if i in out else f"source:{source_fingerprints[i]}"
                        for i in op.inputs
                    ],
                }
            )
        return out

    def with_operator(self, op: Operator) -> Workflow:
        """A copy with ``op`` replacing the operator of the same name (or added)."""
        ops = [op if o.name == op.name else o for o in self]
        if op.name not in self._ops:
            ops.append(op)
        return Workflow(ops, sources=self.sources, name=self.name)

    def without(self, name: str) -> Workflow:
        """A copy without operator ``name``; its consumers read its inputs instead."""
        removed = self[name]
        ops = []
        for o in self:
            if o.name == name:
                continue
            if name in o.inputs:
                inputs: list[str] = []
                for i in o.inputs:
                    inputs.extend(removed.inputs if i == name else [i])
                o = replace(o, inputs=tuple(dict.fromkeys(inputs)))
            ops.append(o)
        return Workflow(ops, sources=self.sources, name=self.name)


# -- describing code and parameters -----------------------------------------------------


def qualified_name(obj: Any) -> str:
    """``module.QualName`` of a function or class (of an instance, its class)."""
    target: Any = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    if isinstance(obj, functools.partial):
        target = obj.func
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', type(target).__name__)}"


@functools.lru_cache(maxsize=1024)
def _source_hash(func: Callable[..., Any]) -> str:
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        text = qualified_name(func)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def source_version(func: Callable[..., Any]) -> str:
    """A short hash of the function's source (of its qualified name when the source is unknown)."""
    while isinstance(func, functools.partial):
        func = func.func
    return _source_hash(func)


def describe(value: Any) -> Any:
    """A JSON-ready, process-independent description of a parameter value.

    Functions and classes become their qualified names, estimators their class plus
    parameters, arrays a content hash; nothing includes a memory address.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((describe(v) for v in value), key=repr)
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return {"callable": qualified_name(value)}
    if isinstance(value, functools.partial):
        return {
            "partial": qualified_name(value.func),
            "args": describe(list(value.args)),
            "kwargs": describe(dict(value.keywords)),
        }
    get_params = getattr(value, "get_params", None)
    if callable(get_params):
        return {"class": qualified_name(value), "params": describe(get_params(deep=False))}
    module = type(value).__module__
    if module == "numpy" or module.startswith("numpy."):
        import numpy as np

        if isinstance(value, np.generic):
            return describe(value.item())
        if isinstance(value, np.ndarray):
            return {"ndarray": hash_value(value)}
    text = repr(value)
    if " at 0x" in text:
        return {"object": qualified_name(value)}
    return {"repr": text}


# -- data fingerprints --------------------------------------------------------------------


def hash_value(value: Any) -> str:
    """Content hash of data (arrays, frames, sparse matrices, scalars, dicts, sequences).

    Raises:
        WorkflowError: The value is of a type whose content cannot be hashed.
    """
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    import numpy as np

    if value is None or isinstance(value, bool | int | float | str | bytes):
        h.update(f"scalar:{type(value).__name__}:{value!r};".encode())
        return
    if isinstance(value, np.generic):
        h.update(f"np:{value.dtype.str}:{value!r};".encode())
        return
    if isinstance(value, Mapping):
        h.update(b"map{")
        for k in sorted(value, key=str):
            h.update(f"{k!s}=".encode())
            _feed(h, value[k])
        h.update(b"}")
        return
    if isinstance(value, list | tuple):
        h.update(f"seq{len(value)}[".encode())
        for v in value:
            _feed(h, v)
        h.update(b"]")
        return
    if isinstance(value, np.ndarray):
        h.update(f"nd:{value.dtype.str}:{value.shape};".encode())
        if value.dtype.hasobject:
            import pandas as pd

            h.update(pd.util.hash_array(value.ravel(order="C")).tobytes())
        else:
            h.update(np.ascontiguousarray(value).tobytes())
        return
    module = type(value).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            h.update(f"df:{value.shape};".encode())
            h.update(repr([(str(c), str(t)) for c, t in value.dtypes.items()]).encode())
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
            return
        if isinstance(value, pd.Series):
            h.update(f"series:{value.name!r}:{value.dtype};".encode())
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
            return
    if module.startswith("scipy.sparse"):
        csr = value.tocsr()
        h.update(f"sparse:{value.format}:{csr.shape}:{csr.dtype.str};".encode())
        for part in (csr.data, csr.indices, csr.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
        return
    raise WorkflowError(
        f"cannot fingerprint data of type {type(value).__module__}.{type(value).__qualname__}; "
        "pass NumPy arrays, pandas frames or series, SciPy sparse matrices, scalars, or "
        "dicts and lists of them."
    )


def data_fingerprint(value: Any) -> str:
    """Fingerprint of one source's data (a content hash)."""
    return hash_value(value)


__all__ = [
    "ROLES",
    "Operator",
    "Workflow",
    "data_fingerprint",
    "describe",
    "hash_value",
    "qualified_name",
    "source_version",
]
