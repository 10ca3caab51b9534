"""The scenario file (``apiVersion: kube-netsim/v1``, ``kind: Scenario``): load and check it.

:func:`load_scenario` reads a scenario and the manifest files it names, with YAML's safe loader
only (the C loader when available), checks the file against the shipped JSON Schema
(``sim/scenario/schema/scenario.schema.json``, the same file editors use), turns
``spec.cluster`` and ``spec.kubeProxy`` into :class:`~sim.model.ClusterConfig` and
:class:`~sim.model.KubeProxyConfig` (upstream KubeProxyConfiguration names and defaults), and
keeps the Kubernetes manifests in apply order with the file and line each starts at. Errors
name the file, the line and the field path; the YAML node tree is kept so an apiserver error
deep inside a manifest (``spec.ports[0].nodePort``) points at its own line.

``spec.network``, ``spec.traffic``, ``spec.events``, ``spec.expect`` and ``spec.dns`` are kept
as plain data; :mod:`sim.scenario.sections` checks the first four when a run is planned, and
``spec.dns`` is checked here with :func:`sim.dns.config.parse_dns_options`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sim.api.apiserver import ApiServer, gc_paused
from sim.api.fielderrors import invalid, not_supported, required, unknown_field
from sim.dns.config import parse_dns_options
from sim.model.cluster import ClusterState
from sim.model.config import ClusterConfig, ConntrackConfig, IPVSConfig, KubeProxyConfig
from sim.model.errors import FieldError, SimError, ValidationError
from sim.model.frozen import FrozenDict
from sim.scenario.inputfile import MAX_YAML_BYTES, read_input

SCHEMA_PATH = Path(__file__).with_name("schema") / "scenario.schema.json"
API_VERSION = "kube-netsim/v1"

_constructor = yaml.constructor.SafeConstructor()
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_NULL_TAG = "tag:yaml.org,2002:null"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

Source = tuple[str, "int | None"]

# First characters a plain scalar must start with for any of the safe loader's implicit
# resolvers (bool, int, float, null, timestamp, merge, value) to apply.
_IMPLICIT_FIRST = frozenset("0123456789-+.~nNtTfFyYoO<=")
# go-yaml (what kubectl and the apiserver decode YAML with) reads any plain scalar that
# strconv.ParseFloat accepts in this form as a float (yaml.v2 resolve.go, yamlStyleFloat):
# "1e3" and "1.5e3" are numbers there, strings to PyYAML's YAML 1.1 resolver, which wants a
# dot and a signed exponent. JSON reads "1e1" as a number too.
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")

# Alias expansion is capped as go-yaml caps it since CVE-2019-11253 (yaml.v2 decode.go,
# allowedAliasRatio): past 100 aliased and 1,000 decoded nodes, the share of nodes that come
# from alias expansion may be at most 99 % up to 400,000 decoded nodes, falling linearly to
# 10 % at 4,000,000.
_ALIAS_RATIO_LOW = 400_000
_ALIAS_RATIO_HIGH = 4_000_000

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pure-Python PyYAML
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class _Loader(_Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """The safe loader (libyaml's parser when present) with a quicker tag resolver.

    Tags are resolved exactly as ``yaml.SafeLoader`` resolves them; plain scalars whose first
    character no implicit resolver accepts are strings at once, and path resolvers (which the
    safe loader never registers) are skipped. This keeps a 10,000-object manifest file well
    inside the load-time budget.
    """

    def __init__(self, stream) -> None:
        _Parser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def descend_resolver(self, current_node, current_index) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and (not implicit[0] or (value and value[0] not in _IMPLICIT_FIRST)):
            return _STR_TAG
        tag = yaml.resolver.Resolver.resolve(self, kind, value, implicit)
        if tag == _STR_TAG and kind is yaml.ScalarNode and implicit[0] and _GO_FLOAT.fullmatch(value):
            return _FLOAT_TAG
        return tag


# ------------------------------------------------------------------ YAML with line numbers


def read_documents(path: Path, display: str | None = None,
                   duplicates: list[FieldError] | None = None) -> list[tuple[Any, yaml.Node]]:
    """Every document of a YAML (or JSON) file as ``(data, node)``; safe loading only.

    A key repeated in a mapping is refused (:class:`ValidationError`); when a ``duplicates``
    list is given, its errors go there instead and the last value is kept, so that a caller
    collecting every problem can carry on.

    Raises
    ------
    SimError
        Missing or unreadable file, or malformed YAML (with line and column).
    """
    name = display or str(path)
    text = read_input(path, name, MAX_YAML_BYTES)
    with gc_paused():
        return _documents(text, name, duplicates)


def _documents(text: bytes, name: str,
               duplicates: list[FieldError] | None) -> list[tuple[Any, yaml.Node]]:
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=_Loader) if not _empty(n)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise SimError(f"{where}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        # Bytes that are not text (bad UTF-8, control characters): say where, on one line.
        # libyaml reports the offset in bytes.
        line = text.count(b"\n", 0, exc.position) + 1
        raise SimError(f"{name}:{line}: malformed YAML: at byte offset {exc.position}: "
                       f"{exc.reason} (the file must be UTF-8 text)") from None
    except yaml.YAMLError as exc:
        raise SimError(f"{name}: malformed YAML: {exc}") from None
    out = []
    for node in nodes:
        nonfinite = _check_document(node, name)
        if nonfinite:
            raise ValidationError(nonfinite)
        try:
            try:
                data = construct(node)
            except DuplicateKeyError:
                if duplicates is None:
                    raise ValidationError(duplicate_keys(node, name)) from None
                duplicates.extend(duplicate_keys(node, name))
                # Last value wins, as yaml.safe_load builds it (only on this error path).
                data = yaml.constructor.SafeConstructor().construct_document(node)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            where = f"{name}:{mark.line + 1}" if mark else name
            raise SimError(f"{where}: malformed YAML: {exc.problem}") from None
        out.append((data, node))
    return out


def allowed_alias_ratio(decoded: int) -> float:
    """The share of decoded nodes that may come from alias expansion (go-yaml's rule).

    >>> allowed_alias_ratio(1_000), round(allowed_alias_ratio(2_200_000), 3), allowed_alias_ratio(10**7)
    (0.99, 0.545, 0.1)
    """
    if decoded <= _ALIAS_RATIO_LOW:
        return 0.99
    if decoded >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


def _check_document(root: yaml.Node, file: str) -> list[FieldError]:
    """Refuse a document whose aliases expand too far or refer to themselves, and return a
    field error for every non-finite number (``.inf``, ``.nan``, ``1e999``).

    One pass over the distinct nodes computes each node's size once aliases are expanded
    (aliases share the node they name, so this is linear in the file), which is what any
    consumer of the data (schema checks, the apiserver, a JSON dump) would walk.
    """
    # Scalars are counted where their parent is expanded (most nodes are scalars, so they
    # never go through the stack); a collection is pushed twice: to expand, then to sum.
    scalar, seq = yaml.ScalarNode, yaml.SequenceNode
    size: dict[int, int] = {}  # collection id -> expanded size
    scalars: set[int] = set()  # distinct scalar nodes
    on_path: set[int] = set()
    bad: list[yaml.Node] = []
    if type(root) is scalar:
        return [_nonfinite_error(root, root, file)] if _nonfinite(root) else []
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = node.value if type(node) is seq else [c for kv in node.value for c in kv]
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(1 if type(c) is scalar else size[id(c)] for c in children)
            continue
        if key in size:
            continue
        if key in on_path:
            raise SimError(f"{file}:{node.start_mark.line + 1}: malformed YAML: an anchor's "
                           "value contains an alias to itself (a recursive alias)")
        on_path.add(key)
        stack.append((node, True))
        for c in reversed(children):
            if type(c) is scalar:
                ck = id(c)
                if ck not in scalars:
                    scalars.add(ck)
                    if c.tag == _FLOAT_TAG and _nonfinite(c):
                        bad.append(c)
            elif id(c) not in size:
                stack.append((c, False))
    decoded = size[id(root)]
    written = len(size) + len(scalars)
    aliased = decoded - written
    if aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded):
        raise SimError(
            f"{file}: document contains excessive aliasing: {decoded:,} nodes once aliases are "
            f"expanded from {written:,} written, {aliased / decoded:.1%} from aliases "
            f"(limit {allowed_alias_ratio(decoded):.0%}, as kubectl and the apiserver cap it "
            "since CVE-2019-11253)")
    return [_nonfinite_error(root, n, file) for n in bad]


def _nonfinite(node: yaml.ScalarNode) -> bool:
    """A float scalar that is NaN or infinite (``.inf``, ``.nan``, ``1e999``)."""
    if node.tag != _FLOAT_TAG:
        return False
    try:
        return not math.isfinite(float(_constructor.construct_object(node)))
    except (ValueError, TypeError, OverflowError):
        return True


def _nonfinite_error(root: yaml.Node, target: yaml.Node, file: str) -> FieldError:
    path = _path_to(root, target)
    detail = "must be a finite number (JSON, and so the apiserver, has no NaN or infinity)"
    return replace(invalid(path, _Written(target.value), detail), file=file,
                   line=target.start_mark.line + 1)


def _path_to(root: yaml.Node, target: yaml.Node) -> str:
    """The field path of ``target`` under ``root`` (first occurrence, depth first)."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((c, f"{path}[{i}]") for i, c in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                stack.append((v, f"{path}.{name}" if path else name))
    return ""


class _Written:
    """A value shown in a message exactly as the file writes it (``.inf``, not ``"inf"``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _empty(node: yaml.Node | None) -> bool:
    """An empty document (``---`` with nothing after it) composes to a null scalar."""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG)


def construct(node: yaml.Node, _memo: dict[int, Any] | None = None) -> Any:
    """Plain Python data from a composed node (what ``yaml.safe_load`` would give).

    >>> construct(yaml.compose("a: [1, x, true]"))
    {'a': [1, 'x', True]}
    """
    memo = {} if _memo is None else _memo
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR_TAG:
            return node.value
        v = node.value
        if node.tag == _INT_TAG and v.isdigit() and (v[0] != "0" or v == "0"):
            return int(v)  # plain decimal; octal, hex, signs and "_" go the general way
        if node.tag == _FLOAT_TAG:
            # "1e3", "443.0": go-yaml's float64 becomes a JSON number on the way to the
            # apiserver (sigs.k8s.io/yaml; kubectl's unstructured JSON likewise), and Go
            # prints an integral float64 without a fraction: 1000, 443. So an integral value
            # is an integer, as an int field of the API accepts it.
            f = float(_constructor.construct_object(node))
            return int(f) if f.is_integer() and abs(f) < 2**53 else f
        return _constructor.construct_object(node)
    hit = memo.get(id(node))
    if hit is not None:
        return hit
    if node.tag not in (_SEQ_TAG, _MAP_TAG):
        # As yaml.safe_load: explicit tags such as !!python/object are refused, never built.
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark)
    if isinstance(node, yaml.SequenceNode):
        seq: list[Any] = []
        memo[id(node)] = seq
        seq.extend(construct(n, memo) for n in node.value)
        return seq
    mapping: dict[Any, Any] = {}
    memo[id(node)] = mapping
    pairs = node.value
    if any(k.tag == _MERGE_TAG for k, _ in pairs):
        merged, pairs = _merge(node, memo), [(k, v) for k, v in pairs if k.tag != _MERGE_TAG]
        own = {}
        for k, v in pairs:
            key = construct(k, memo)
            if key in own:
                raise DuplicateKeyError(None, None, f"key {json.dumps(str(key))} already set in map",
                                        k.start_mark)
            own[key] = v
        mapping.update(merged)
        mapping.update((key, construct(v, memo)) for key, v in own.items())
        return mapping
    for k, v in pairs:
        key = construct(k, memo)
        if isinstance(key, list | dict):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", k.start_mark)
        if key in mapping:
            # Strict decoding (sigs.k8s.io/yaml YAMLToJSONStrict, as kubectl and the apiserver
            # use) refuses a repeated key instead of letting the last one win.
            raise DuplicateKeyError(None, None, f"key {json.dumps(str(key))} already set in map",
                                    k.start_mark)
        mapping[key] = construct(v, memo)
    return mapping


def _merge(node: yaml.MappingNode, memo: dict[int, Any]) -> dict[Any, Any]:
    """The keys a mapping's ``<<`` entries bring in, as ``yaml.safe_load`` merges them: a
    mapping, or a sequence of mappings where an earlier one wins; the mapping's own keys
    (applied by the caller) win over all of them."""
    out: dict[Any, Any] = {}
    for k, v in node.value:
        if k.tag != _MERGE_TAG:
            continue
        sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
        for src in reversed(sources):
            if not isinstance(src, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a merge key (<<) needs a mapping or a list of mappings",
                    src.start_mark)
            value = construct(src, memo)
            out.update(value)
    return out


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key (refused as strict decoding refuses it)."""


def duplicate_keys(node: yaml.Node, file: str) -> list[FieldError]:
    """Every repeated mapping key under ``node`` as a field error with its line and path.

    >>> [str(e) for e in duplicate_keys(yaml.compose("a:\\n  b: 1\\n  b: 2\\n"), "f.yaml")]
    ['f.yaml:3: a.b: Duplicate value: "b": strict decoding error: yaml: key "b" already set in map (first set at line 2)']
    """
    out: list[FieldError] = []
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    seen_nodes: set[int] = set()
    while stack:
        n, path = stack.pop()
        if id(n) in seen_nodes:
            continue
        seen_nodes.add(id(n))
        if isinstance(n, yaml.SequenceNode):
            stack.extend((c, f"{path}[{i}]") for i, c in reversed(list(enumerate(n.value))))
        elif isinstance(n, yaml.MappingNode):
            first: dict[str, int] = {}
            children = []
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                p = f"{path}.{k.value}" if path else k.value
                line = k.start_mark.line + 1
                if k.value in first:
                    detail = (f"strict decoding error: yaml: key {json.dumps(k.value)} "
                              f"already set in map (first set at line {first[k.value]})")
                    out.append(FieldError(p, "Duplicate value", detail, k.value, True, file, line))
                else:
                    first[k.value] = line
                children.append((v, p))
            stack.extend(reversed(children))
    return sorted(out, key=lambda e: e.line or 0)


def line_of(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of ``path`` (``spec.ports[0].nodePort``) inside ``node``, or of the
    deepest part of it that exists.

    >>> n = yaml.compose("spec:\\n  ports:\\n  - port: 80\\n    nodePort: 80\\n")
    >>> line_of(n, "spec.ports[0].nodePort"), line_of(n, "spec.missing")
    (4, 1)
    """
    if node is None:
        return None
    line = node.start_mark.line + 1
    for name, idx in _PATH_TOKEN.findall(path):
        token = name or idx
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == token:
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
            node = node.value[int(token)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# ---------------------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario. ``manifests`` are ``(manifest, (file, line))`` in apply order:
    ``spec.objects`` first, then each file of ``spec.manifests`` in order."""

    name: str
    path: Path
    seed: int
    cluster: ClusterConfig
    kube_proxy: KubeProxyConfig
    manifests: tuple[tuple[dict, Source], ...]
    # The run sections as written (empty mapping/list when absent): checked by
    # sim.scenario.sections and sim.dns, not here.
    network: dict = field(default_factory=dict)
    traffic: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    expect: list = field(default_factory=list)
    dns: dict = field(default_factory=dict)
    sha256: str = ""
    _nodes: tuple = field(default=(), compare=False, repr=False)
    _config_ok: bool = field(default=True, compare=False, repr=False)

    def api(self, seed: int | None = None) -> ApiServer:
        """An :class:`ApiServer` with every manifest applied.

        Raises
        ------
        ValidationError
            At the first manifest the apiserver refuses, with file, line and field path.
        """
        api = ApiServer(self.cluster, self.kube_proxy, self.seed if seed is None else seed)
        with gc_paused():
            for i, (manifest, source) in enumerate(self.manifests):
                try:
                    api.apply(manifest, source)
                except ValidationError as exc:
                    raise ValidationError(self._locate(i, exc.errors)) from None
        return api

    def state(self, seed: int | None = None) -> ClusterState:
        """The cluster state after applying every manifest."""
        return self.api(seed).snapshot()

    def check(self, progress=None) -> tuple[list[FieldError], list[str]]:
        """Apply every manifest, collecting every error (a refused object is skipped, as
        ``kubectl apply`` carries on with the next) and every warning. ``progress(text)`` is
        told every 1,000 objects."""
        api = ApiServer(self.cluster, self.kube_proxy, self.seed)
        errors: list[FieldError] = []
        total = len(self.manifests)
        with gc_paused():
            for i, (manifest, source) in enumerate(self.manifests):
                if progress is not None and i % 1000 == 999:
                    progress(f"applied {i + 1:,}/{total:,} objects")
                try:
                    api.apply(manifest, source)
                except ValidationError as exc:
                    errors.extend(self._locate(i, exc.errors))
        return errors, list(api.warnings)

    def _locate(self, i: int, errors: list[FieldError]) -> list[FieldError]:
        node = self._nodes[i] if i < len(self._nodes) else None
        if node is None:
            return errors
        return [replace(e, line=line_of(node, e.field) or e.line) for e in errors]


@lru_cache(maxsize=1)
def schema() -> dict:
    """The shipped JSON Schema of the scenario format."""
    return json.loads(SCHEMA_PATH.read_text())


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file and its manifest files.

    Raises
    ------
    SimError
        Missing file, malformed YAML, or a scenario that does not match the schema
        (a :class:`ValidationError` listing every problem with its line).
    """
    problems: list[FieldError | str] = []
    with gc_paused():
        scenario = _load(Path(path), problems)
    if problems:
        if all(isinstance(p, FieldError) for p in problems):
            raise ValidationError(problems)  # type: ignore[arg-type]
        raise SimError("\n".join(str(p) for p in problems))
    assert scenario is not None
    return scenario


@dataclass
class CheckResult:
    """What :func:`check_scenario` found: every error (a :class:`FieldError`, or the text of
    a file-level problem such as a missing manifest file) and every warning, in file order."""

    errors: list[FieldError | str]
    warnings: list[str]
    scenario: Scenario | None


def check_scenario(path: str | Path, progress=None) -> CheckResult:
    """Check a scenario as ``validate`` does: every problem at once.

    Schema and strict-decoding errors are collected; the objects that decoded are then applied
    to the simulated apiserver when ``spec.cluster`` itself is valid (the apiserver cannot be
    configured otherwise), so a file with an unknown field and a
    refused nodePort reports both, as issue 2 asks.
    """
    problems: list[FieldError | str] = []
    with gc_paused():
        try:
            scenario = _load(Path(path), problems, progress)
        except SimError as exc:
            return CheckResult(problems + _as_problems(exc), [], None)
    warnings: list[str] = []
    if scenario is None:
        return CheckResult(problems, warnings, None)
    if scenario._config_ok:
        errors, warnings = scenario.check(progress)
        problems.extend(errors)
    elif scenario.manifests:
        warnings.append(f"{path}: objects not checked by the apiserver until spec.cluster is valid")
    return CheckResult(problems, warnings, scenario)


def _as_problems(exc: SimError) -> list[FieldError | str]:
    if isinstance(exc, ValidationError):
        return list(exc.errors)
    return [str(exc)]


def _load(path: Path, problems: list[FieldError | str], progress=None) -> Scenario | None:
    """Load ``path``, appending every problem to ``problems``; ``None`` when nothing past the
    top level could be read. Raises :class:`SimError` only when the file itself is unusable."""
    duplicates: list[FieldError] = []
    docs = read_documents(path, duplicates=duplicates)
    problems.extend(duplicates)
    duplicates.clear()
    display = str(path)
    if docs and all(_is_manifest(d) for d, _ in docs) and not (
            len(docs) == 1 and _is_list(docs[0][0])):
        first = docs[0][0]
        what = (f"a Kubernetes {first.get('kind')} manifest" if len(docs) == 1
                else f"{len(docs)} Kubernetes manifests")
        raise SimError(
            f"{display}: {what}, not a scenario: list the file in a scenario's spec.manifests "
            f"(apiVersion: kube-netsim/v1, kind: Scenario, metadata: {{name: NAME}}, "
            f"spec: {{manifests: [{path.name}]}}), or give it as one kind: List "
            "(what kubectl get -o yaml prints), which is read as a scenario on a default cluster")
    if len(docs) != 1:
        raise SimError(f"{display}: expected exactly one YAML document, found {len(docs)}")
    data, root = docs[0]
    if not isinstance(data, dict):
        raise SimError(f"{display}:{root.start_mark.line + 1}: a scenario must be a mapping "
                       "with apiVersion, kind, metadata and spec")
    items_root = None
    if _is_list(data):
        # kubectl get -o yaml output given where a scenario is expected: its items are the
        # scenario's objects, on a default cluster (spec.cluster and spec.kubeProxy defaults).
        items_root = _child(root, "items")
        data = {"apiVersion": API_VERSION, "kind": "Scenario", "metadata": {"name": path.stem},
                "spec": {"objects": data.get("items") or []}}
    schema_errors = _schema_errors(data, root, display)
    problems.extend(schema_errors)
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return None
    bad = {e.field for e in schema_errors}

    def broken(prefix: str) -> bool:
        return any(f == prefix or f.startswith(prefix + ".") or f.startswith(prefix + "[") for f in bad)

    config_ok = True
    cluster, kube_proxy = ClusterConfig(), KubeProxyConfig()
    for prefix, build in (("spec.cluster", _cluster), ("spec.kubeProxy", _kube_proxy)):
        if broken(prefix):
            # Only spec.cluster configures the apiserver; kubeProxy is carried alongside.
            config_ok = config_ok and prefix != "spec.cluster"
            continue
        try:
            value = build(spec.get(prefix.split(".")[1]) or {}, root, display)
        except ValidationError as exc:
            problems.extend(exc.errors)
            config_ok = config_ok and prefix != "spec.cluster"
            continue
        if prefix == "spec.cluster":
            cluster = value
        else:
            kube_proxy = value

    if config_ok and not broken("spec.kubeProxy"):
        problems.extend(_overlap_errors(cluster, kube_proxy, root, display))

    if isinstance(spec.get("dns"), dict) and not broken("spec.dns"):
        try:
            parse_dns_options(spec["dns"], display)
        except ValidationError as exc:
            problems.extend(replace(e, line=line_of(root, e.field)) for e in exc.errors)

    manifests: list[tuple[dict, Source]] = []
    nodes: list[yaml.Node] = []
    digest = hashlib.sha256(read_input(path))
    obj_nodes = items_root if items_root is not None else _child(_child(root, "spec"), "objects")
    objects = spec.get("objects") if isinstance(spec.get("objects"), list) else []
    for i, obj in enumerate(objects):
        node = obj_nodes.value[i] if obj_nodes is not None else None
        if isinstance(obj, dict):  # the schema reported the others
            _add_manifest(obj, node, display, manifests, nodes, problems)
    files = spec.get("manifests") if isinstance(spec.get("manifests"), list) else []
    for i, rel in enumerate(files):
        if not isinstance(rel, str) or not rel:
            continue  # the schema reported it
        mpath = (path.parent / rel)
        shown = str(mpath) if not Path(rel).is_absolute() else rel
        try:
            mdocs = read_documents(mpath, shown, duplicates)
            problems.extend(duplicates)
            duplicates.clear()
        except SimError as exc:
            line = line_of(root, f"spec.manifests[{i}]")
            if isinstance(exc, ValidationError):
                problems.extend(exc.errors)
            else:
                problems.append(f"{display}:{line}: spec.manifests[{i}]: {exc}")
            continue
        digest.update(b"\x00" + rel.encode() + b"\x00" + read_input(mpath, shown))
        for obj, node in mdocs:
            _add_manifest(obj, node, shown, manifests, nodes, problems)
        if progress is not None:
            progress(f"read {shown}: {len(mdocs):,} documents")

    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return Scenario(
        name=str(metadata.get("name") or ""),
        path=path,
        seed=spec["seed"] if "spec.seed" not in bad and isinstance(spec.get("seed"), int) else 0,
        cluster=cluster,
        kube_proxy=kube_proxy,
        manifests=tuple(manifests),
        network=_section(spec, "network", dict, bad),
        traffic=_section(spec, "traffic", dict, bad),
        events=_section(spec, "events", list, bad),
        expect=_section(spec, "expect", list, bad),
        dns=_section(spec, "dns", dict, bad),
        sha256=digest.hexdigest(),
        _nodes=tuple(nodes),
        _config_ok=config_ok,
    )


def _is_list(data: Any) -> bool:
    """``kind: List`` (``apiVersion: v1``), as ``kubectl get -o yaml`` prints several objects."""
    return (isinstance(data, dict) and data.get("kind") == "List" and data.get("apiVersion") == "v1"
            and isinstance(data.get("items"), list | None))


def _is_manifest(data: Any) -> bool:
    """A Kubernetes object (an apiVersion other than kube-netsim's, and a kind)."""
    return (isinstance(data, dict) and isinstance(data.get("apiVersion"), str)
            and data.get("apiVersion") != API_VERSION and isinstance(data.get("kind"), str)
            and data.get("kind") != "Scenario")


def _overlap_errors(cluster: ClusterConfig, kube_proxy: KubeProxyConfig, root: yaml.Node,
                    file: str) -> list[FieldError]:
    """kube-proxy's clusterCIDR (the pod network) overlapping the service CIDR: a cluster that
    cannot exist (pod and Service addresses would collide)."""
    out = []
    services = [ipaddress.ip_network(c, strict=False) for c in cluster.service_cidrs]
    for part in filter(None, (p.strip() for p in kube_proxy.cluster_cidr.split(","))):
        net = ipaddress.ip_network(part, strict=False)
        for sc, snet in zip(cluster.service_cidrs, services):
            if snet.version == net.version and net.overlaps(snet):
                path = "spec.kubeProxy.clusterCIDR"
                out.append(replace(invalid(path, kube_proxy.cluster_cidr,
                                           f'overlaps the service CIDR "{sc}" (spec.cluster.serviceCIDR): '
                                           "pod and Service addresses would collide"),
                                   file=file, line=line_of(root, path)))
    return out


def _section(spec: dict, name: str, kind: type, bad: set[str]) -> Any:
    value = spec.get(name)
    return value if isinstance(value, kind) and f"spec.{name}" not in bad else kind()


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _add_manifest(obj: Any, node: yaml.Node | None, file: str,
                  manifests: list[tuple[dict, Source]], nodes: list,
                  problems: list[FieldError | str]) -> None:
    """Queue one manifest; a ``kind: List`` is expanded so each item keeps its own line."""
    line = node.start_mark.line + 1 if node is not None else None
    if not isinstance(obj, dict):
        problems.append(f"{file}:{line}: a manifest must be a mapping, not {type(obj).__name__}")
        return
    items_node = _child(node, "items")
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list) and items_node is not None:
        for j, item in enumerate(obj["items"]):
            _add_manifest(item, items_node.value[j], file, manifests, nodes, problems)
        return
    manifests.append((obj, (file, line)))
    nodes.append(node)


# The words users see for the schema's patterns, as the apiserver words the same checks
# (apimachinery validation.IsDNS1123Label; metav1.Duration's time.ParseDuration;
# utilnet.ParsePortRange) instead of the regular expression itself.
_PATTERN_WORDS = {
    "duration": 'must be a duration such as "1s", "500ms", "2m"',
    "nodePortRange": "must be a port range such as 30000-32767 (base-max or base+size)",
    "name": ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name', or "
             "'123-abc')"),
}
_TYPE_WORDS = {"array": "an array", "object": "an object", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "a boolean"}


class _Json:
    """A list or mapping value shown compactly in a message, as JSON."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        text = json.dumps(self.value, separators=(",", ":"), default=str)
        return text if len(text) <= 60 else text[:57] + "..."


def _shown(value: Any) -> Any:
    return _Json(value) if isinstance(value, list | dict) else value


def _schema_error(err: jsonschema.ValidationError, path: str) -> FieldError:
    """One schema error in the apiserver's words (``field.Invalid``/``NotSupported``/...)."""
    v, rule, value = err.validator, err.validator_value, _shown(err.instance)
    if v == "const":
        return not_supported(path, value, [rule])
    if v == "enum":
        return not_supported(path, value, [x for x in rule if x != ""])
    if v == "type":
        kinds = rule if isinstance(rule, list) else [rule]
        return invalid(path, value, "must be " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds))
    if v == "pattern":
        if err.schema is schema()["$defs"]["duration"]:
            return invalid(path, value, _PATTERN_WORDS["duration"])
        last = path.rsplit(".", 1)[-1]
        return invalid(path, value, _PATTERN_WORDS.get(last, "is not in the expected format"))
    if v == "minimum":
        return invalid(path, value, f"must be greater than or equal to {rule}")
    if v == "maximum":
        return invalid(path, value, f"must be less than or equal to {rule}")
    if v == "minLength":
        return required(path) if rule == 1 else invalid(path, value, f"must be at least {rule} characters")
    if v == "maxLength":
        return FieldError(path, "Too long", f"may not be more than {rule} bytes")
    return invalid(path, value, "is not valid here (see sim/scenario/schema/scenario.schema.json)")


def _schema_errors(data: dict, root: yaml.Node, file: str) -> list[FieldError]:
    validator = jsonschema.Draft202012Validator(schema())
    out: list[FieldError] = []
    for err in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = _json_path(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = set(err.schema.get("properties", {}))
            for extra in sorted(k for k in err.instance if k not in allowed):
                p = f"{path}.{extra}" if path else extra
                out.append(replace(unknown_field(p), file=file, line=line_of(root, p)))
            continue
        if err.validator == "required":
            missing = err.message.split("'")[1]
            p = f"{path}.{missing}" if path else missing
            out.append(replace(required(p), file=file, line=line_of(root, path)))
            continue
        out.append(replace(_schema_error(err, path), file=file, line=line_of(root, path)))
    return sorted(out, key=lambda e: e.line or 0)


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _refuse(root: yaml.Node, file: str, path: str, value: object, detail: str) -> SimError:
    return ValidationError([replace(invalid(path, value, detail), file=file, line=line_of(root, path))])


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (as ``metav1.Duration`` fields take it), in seconds.

    >>> parse_duration("1m30s"), parse_duration("250ms"), parse_duration("0")
    (90.0, 0.25, 0.0)
    """
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}")
    return total


def _cluster(c: dict, root: yaml.Node, file: str) -> ClusterConfig:
    base = "spec.cluster"
    defaults = ClusterConfig()
    cidrs: tuple[str, ...] = defaults.service_cidrs
    if "serviceCIDR" in c:
        raw = [s.strip() for s in str(c["serviceCIDR"]).split(",")]
        nets = []
        for s in raw:
            try:
                nets.append(ipaddress.ip_network(s, strict=False))
            except ValueError:
                raise _refuse(root, file, f"{base}.serviceCIDR", c["serviceCIDR"],
                              "must be a CIDR, or two CIDRs of different families separated by a comma") from None
        if len(nets) > 2 or (len(nets) == 2 and nets[0].version == nets[1].version):
            raise _refuse(root, file, f"{base}.serviceCIDR", c["serviceCIDR"],
                          "may hold at most one CIDR per IP family (as --service-cluster-ip-range)")
        cidrs = tuple(str(n) for n in nets)
    port_range = defaults.node_port_range
    if "nodePortRange" in c:
        port_range = _port_range(str(c["nodePortRange"]), root, file)
    pool = tuple(c.get("loadBalancerPool") or defaults.load_balancer_pool)
    for i, p in enumerate(pool):
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise _refuse(root, file, f"{base}.loadBalancerPool[{i}]", p, "must be a CIDR") from None
    dns_ip = c.get("dnsServiceIP") or ""
    if dns_ip:
        try:
            ipaddress.ip_address(dns_ip)
        except ValueError:
            raise _refuse(root, file, f"{base}.dnsServiceIP", dns_ip, "must be an IP address") from None
    return ClusterConfig(
        service_cidrs=cidrs,
        node_port_range=port_range,
        cluster_domain=c.get("clusterDomain") or defaults.cluster_domain,
        feature_gates=FrozenDict({k: ("true" if v else "false") for k, v in (c.get("featureGates") or {}).items()}),
        load_balancer_pool=pool,
        dns_service_ip=dns_ip,
    )


def _port_range(text: str, root: yaml.Node, file: str) -> tuple[int, int]:
    """``utilnet.ParsePortRange``: ``base-max`` or ``base+size``, inclusive."""
    m = re.fullmatch(r"\s*(\d+)\s*([-+])\s*(\d+)\s*", text)
    if m:
        low, op, other = int(m.group(1)), m.group(2), int(m.group(3))
        high = other if op == "-" else low + other
        if 0 < low <= high <= 65535:
            return low, high
    raise _refuse(root, file, "spec.cluster.nodePortRange", text,
                  "must be a port range such as 30000-32767 (base-max or base+size, within 1-65535)")


def _kube_proxy(k: dict, root: yaml.Node, file: str) -> KubeProxyConfig:
    """KubeProxyConfiguration fields onto :class:`KubeProxyConfig` (upstream defaults for
    everything not given, from ``pkg/proxy/apis/config/v1alpha1/defaults.go``)."""
    d = KubeProxyConfig()
    mode = k.get("mode") or d.mode
    # The masquerade and sync settings come from the section of the running mode: nftables.*
    # in nftables mode; iptables.* otherwise (the IPVS proxier reads its masquerade settings
    # from iptables.* too, and its sync periods from ipvs.*).
    ipt = (k.get("nftables") if mode == "nftables" else k.get("iptables")) or {}
    sync_section, sync_path = (k.get("ipvs") or {}, "ipvs") if mode == "ipvs" else (ipt, "iptables" if mode != "nftables" else "nftables")
    ct = k.get("conntrack") or {}
    ipvs = k.get("ipvs") or {}
    dc = d.conntrack

    def dur(section: dict, name: str, path: str, default: float) -> float:
        if section.get(name) in (None, ""):
            return default
        try:
            return parse_duration(str(section[name]))
        except ValueError:
            raise _refuse(root, file, path, section[name],
                          'must be a duration such as "1s", "250ms" or "1m0s"') from None

    for i, cidr in enumerate(k.get("nodePortAddresses") or []):
        if cidr == "primary":
            continue
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise _refuse(root, file, f"spec.kubeProxy.nodePortAddresses[{i}]", cidr,
                          'must be a CIDR or "primary"') from None
    for part in filter(None, (s.strip() for s in (k.get("clusterCIDR") or "").split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise _refuse(root, file, "spec.kubeProxy.clusterCIDR", k["clusterCIDR"],
                          "must be a CIDR or a comma-separated pair") from None
    # conntrack.udpTimeout / udpStreamTimeout of 0 mean "leave the kernel's value".
    udp = dur(ct, "udpTimeout", "spec.kubeProxy.conntrack.udpTimeout", 0.0) or dc.udp_timeout_s
    udp_stream = dur(ct, "udpStreamTimeout", "spec.kubeProxy.conntrack.udpStreamTimeout", 0.0) or dc.udp_stream_timeout_s
    return KubeProxyConfig(
        mode=mode,
        cluster_cidr=k.get("clusterCIDR") or "",
        node_port_addresses=tuple(k.get("nodePortAddresses") or ()),
        masquerade_all=bool(ipt.get("masqueradeAll", d.masquerade_all)),
        masquerade_bit=int(ipt["masqueradeBit"]) if ipt.get("masqueradeBit") is not None else d.masquerade_bit,
        min_sync_period_s=dur(sync_section, "minSyncPeriod", f"spec.kubeProxy.{sync_path}.minSyncPeriod", d.min_sync_period_s),
        sync_period_s=dur(sync_section, "syncPeriod", f"spec.kubeProxy.{sync_path}.syncPeriod", d.sync_period_s),
        localhost_node_ports=bool(ipt.get("localhostNodePorts", d.localhost_node_ports)),
        detect_local_mode=k.get("detectLocalMode") or d.detect_local_mode,
        conntrack=ConntrackConfig(
            max_per_core=int(ct.get("maxPerCore", dc.max_per_core)),
            min=int(ct.get("min", dc.min)),
            tcp_established_timeout_s=dur(ct, "tcpEstablishedTimeout", "spec.kubeProxy.conntrack.tcpEstablishedTimeout", dc.tcp_established_timeout_s),
            tcp_close_wait_timeout_s=dur(ct, "tcpCloseWaitTimeout", "spec.kubeProxy.conntrack.tcpCloseWaitTimeout", dc.tcp_close_wait_timeout_s),
            tcp_be_liberal=bool(ct.get("tcpBeLiberal", dc.tcp_be_liberal)),
            udp_timeout_s=udp,
            udp_stream_timeout_s=udp_stream,
        ),
        mark_format=k.get("markFormat") or d.mark_format,
        masquerade_random_fully=bool(k.get("masqueradeRandomFully", d.masquerade_random_fully)),
        ipvs=IPVSConfig(
            scheduler=ipvs.get("scheduler") or "",
            exclude_cidrs=tuple(ipvs.get("excludeCIDRs") or ()),
            strict_arp=bool(ipvs.get("strictARP", False)),
            tcp_timeout_s=dur(ipvs, "tcpTimeout", "spec.kubeProxy.ipvs.tcpTimeout", 0.0),
            tcp_fin_timeout_s=dur(ipvs, "tcpFinTimeout", "spec.kubeProxy.ipvs.tcpFinTimeout", 0.0),
            udp_timeout_s=dur(ipvs, "udpTimeout", "spec.kubeProxy.ipvs.udpTimeout", 0.0),
        ),
        port_range=str(k.get("portRange") or ""),
        udp_idle_timeout_s=dur(k, "udpIdleTimeout", "spec.kubeProxy.udpIdleTimeout", 0.0),
    )
