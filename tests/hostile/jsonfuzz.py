"""A structural JSON fuzzer over every JSON endpoint of the house, guided by the answers.

Routes come from the app's OpenAPI (never a hand list). Each body is built from hostile JSON
fragments — wrong types, numbers beyond any column (1e400, 2**70, 2**64-1), 10 000 levels of
nesting, duplicate keys, lone surrogates, NUL, nulls, empty strings, arrays for objects — placed at
the top level, under keys the house's own code reads (collected from its source), and, following the
answers, at the exact FHIRPath a 400 OperationOutcome names: a reader that says `Consent.provision`
is wrong gets that member fed every hostile value next, and a plausible one to reach the member after.

The server must never answer 5xx, and every 4xx must be the protocol's error format.
"""

from __future__ import annotations

import ast
import functools
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from lxml import etree

DEEP = 10_000


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written as is (what Python cannot hold: 1e400, a lone surrogate, duplicate keys)."""

    text: str


HOSTILE: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    Raw("1e400"),
    Raw("-1e400"),
    Raw(str(2**70)),
    Raw(str(2**64 - 1)),
    Raw(str(2**63)),
    Raw(str(-(2**63) - 1)),
    "",
    "x",
    Raw('"\\ud800"'),
    Raw('"\\udc00x"'),
    "\u0000",
    "²٣",
    "9" * 40,
    [],
    {},
    [None],
    [[]],
    [""],
    [{}],
    {"": None},
    Raw("[" * DEEP + "]" * DEEP),
    Raw('{"a":' * DEEP + "1" + "}" * DEEP),
    Raw('{"a":1,"a":[],"a":{}}'),
)
# at a path a reader named: one of each JSON type, the numbers no column holds, and the strings
# that broke readers before
POINTED: tuple[object, ...] = (
    None,
    True,
    1.5,
    Raw(str(2**64 - 1)),
    Raw("1e400"),
    "",
    Raw('"\\ud800"'),
    "²٣",
    [],
    {},
    [None],
    [[]],
    [""],
    Raw("[" * DEEP + "]" * DEEP),
)
PLAUSIBLE: tuple[object, ...] = ("x", {}, [{}], 1)
TOP_LEVEL = (b"", b"not json", b"\xff\xfe", b"{", b'{"a":1,"a":2}')


QUERY_VALUES = (
    "%C2%B2",
    "%D9%A3%D9%A3",
    "%EF%BC%91",
    str(2**64),
    "-1",
    "1e400",
    "%00",
    "%ED%A0%80",
    "%FF",
    "a" * 10_000,
    "",
    "ge%C2%B2%C2%B2%C2%B2%C2%B2",
    "urn:oid:1.2|%C2%B2",
    "%7C%7C%7C",
    "eq2026-13-45",
)
JSON_TYPES = ("application/json", "application/fhir+json", "application/json-patch+json")


def dumps(value: object) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{orjson.dumps(str(k)).decode()}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return orjson.dumps(value).decode()


@functools.cache
def source_keys(root: Path) -> tuple[list[str], list[str]]:
    """The member names the house's code reads (`x.get("k")`, `x["k"]`, `required_text(x, "k")`…) and the
    resource types it compares `resourceType` with: the fuzzer aims where the readers look."""
    keys: set[str] = set()
    types: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                args = node.args[1:2] if name in {"required_text", "_get", "shaped", "member"} else node.args[:1]
                if name in {"get", "required_text", "_get", "shaped", "member", "pop"}:
                    keys.update(a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str))
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                if isinstance(node.slice.value, str):
                    keys.add(node.slice.value)
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Call):
                pass
        types.update(re.findall(r'resourceType["\']?\)?\s*(?:!=|==|:)\s*["\']([A-Z][A-Za-z]+)["\']', path.read_text()))
    good = sorted(k for k in keys if re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{0,40}", k))
    return good, sorted(types)


def _segments(expression: str) -> list[str | int] | None:
    """`Consent.provision.provision[1].type` → ['provision', 'provision', 1, 'type']; None when the
    expression is not a plain path (functions, filters)."""
    if "(" in expression or " " in expression:
        return None
    parts: list[str | int] = []
    for i, token in enumerate(expression.split(".")):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_\-]*|\$?[A-Za-z]+)((?:\[\d+\])*)", token)
        if not m:
            return None
        if not (i == 0 and m.group(1)[:1].isupper() and not m.group(2)):
            parts.append(m.group(1))
        parts += [int(x) for x in re.findall(r"\[(\d+)\]", m.group(2))]
    return parts


def _put(body: object, path: list[str | int], value: object) -> object:
    """A copy of `body` with `value` at `path`, creating objects and arrays on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) else []
        while len(items) <= head:
            items.append({})
        items[head] = _put(items[head], rest, value)
        return items
    obj = dict(body) if isinstance(body, dict) else {}
    obj[head] = _put(obj.get(head, {}), rest, value)
    return obj


@dataclass
class Operation:
    method: str
    path: str  # path parameters filled
    source: Path | None = None  # the package of its endpoint: the keys its readers look for are there
    content_type: str = "application/json"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Finding:
    operation: str
    credential: str
    status: int
    body: str
    answer: str


@dataclass
class Fuzzer:
    base: str
    credentials: dict[str, dict[str, str]]
    keys: list[str]
    resource_types: list[str]
    per_operation: int = 60
    seed: int = 18
    findings: list[Finding] = field(default_factory=list)
    types: dict[str, list[str]] = field(default_factory=dict)  # by operation: the resource types it reads
    sent: int = 0

    def check(self, op: Operation, credential: str, body: str, answer: httpx.Response) -> None:
        if server_failure(op.path, answer) or not proper_error(op.path, answer):
            self.findings.append(Finding(str(op), credential, answer.status_code, body[:300], answer.text[:300]))

    def send(self, client: httpx.Client, op: Operation, credential: str, body: str) -> httpx.Response:
        headers = {**self.credentials[credential], "Content-Type": op.content_type}
        self.sent += 1
        content = body.encode("utf-8", "surrogatepass")
        try:
            answer = client.request(op.method, op.path, content=content, headers=headers)
        except httpx.TransportError:  # a connection the server closed after an earlier error: once more
            try:
                answer = client.request(op.method, op.path, content=content, headers=headers)
            except httpx.TransportError as exc:  # the server dropped this request: as bad as a 500
                answer = httpx.Response(
                    599, text=f"{type(exc).__name__}: {exc}", request=httpx.Request(op.method, op.path)
                )
        self.check(op, credential, body, answer)
        return answer

    def bodies(self, rng: random.Random, types: list[str], near: list[str]) -> Iterator[object]:
        for value in HOSTILE:
            yield value
        while True:
            keys = near if near and rng.random() < 0.8 else self.keys
            key, value = rng.choice(keys), rng.choice(HOSTILE)
            shape = rng.randrange(4)
            body: dict = {"resourceType": rng.choice(types)} if shape else {}
            if shape == 2:
                body[rng.choice(keys)] = [{key: value}]
            elif shape == 3:
                body[rng.choice(keys)] = {key: value}
            else:
                body[key] = value
            yield body

    def run(self, client: httpx.Client, op: Operation, credential: str, deadline: float) -> None:
        rng = random.Random(f"{self.seed}{op}{credential}")
        queue: list[tuple[object, list[str | int]]] = []
        seen: set[str] = set()
        for kind in JSON_TYPES:  # the JSON media type the operation takes
            op.content_type = kind
            if self.send(client, op, credential, "{}").status_code != 415:
                break
        for raw in TOP_LEVEL:
            self.send(client, op, credential, raw.decode("latin-1"))
        if str(op) not in self.types:
            self.types[str(op)] = self._types(client, op, credential, queue, seen) or self.resource_types
        else:
            for t in self.types[str(op)][:3]:
                self._learn(client, op, credential, {"resourceType": t}, queue, seen)
        near = source_keys(op.source)[0] if op.source else []
        generated = self.bodies(rng, self.types[str(op)], near)
        budget = self.per_operation
        while budget > 0 and time.monotonic() < deadline:
            budget -= 1
            if queue:
                parent, path = queue.pop(0)
                for value in (*POINTED, *PLAUSIBLE):
                    self._learn(client, op, credential, _put(parent, path, value), queue, seen)
                continue
            self._learn(client, op, credential, next(generated), queue, seen)

    def run_query(self, client: httpx.Client, op: Operation, credential: str, deadline: float) -> None:
        """Hostile query strings: the parameters the endpoint's package reads, each given values no
        reader of text should choke on (Unicode digits, 2^64, NUL, undecodable bytes, 10 000 chars)."""
        rng = random.Random(f"{self.seed}{op}{credential}?")
        near = source_keys(op.source)[0] if op.source else self.keys
        for _ in range(self.per_operation):
            if time.monotonic() > deadline:
                return
            pairs = [(rng.choice(near), rng.choice(QUERY_VALUES)) for _ in range(rng.randint(1, 3))]
            query = "&".join(f"{k}={v}" for k, v in pairs)
            self.sent += 1
            try:
                answer = client.request(op.method, f"{op.path}?{query}", headers=self.credentials[credential])
            except httpx.TransportError:
                try:
                    answer = client.request(op.method, f"{op.path}?{query}", headers=self.credentials[credential])
                except httpx.TransportError as exc:
                    answer = httpx.Response(599, text=str(exc), request=httpx.Request(op.method, op.path))
            self.check(op, credential, query, answer)

    def _types(
        self,
        client: httpx.Client,
        op: Operation,
        credential: str,
        queue: list[tuple[object, list[str | int]]],
        seen: set[str],
    ) -> list[str]:
        """The resource types this operation reads: those answered otherwise than an unknown one."""
        unknown = _signature(self.send(client, op, credential, '{"resourceType":"Zzz"}'))
        return [
            t
            for t in self.resource_types
            if _signature(self._learn(client, op, credential, {"resourceType": t}, queue, seen)) != unknown
        ]

    def _learn(
        self,
        client: httpx.Client,
        op: Operation,
        credential: str,
        body: object,
        queue: list[tuple[object, list[str | int]]],
        seen: set[str],
    ) -> httpx.Response:
        answer = self.send(client, op, credential, dumps(body))
        if answer.status_code != 400 or "fhir+json" not in answer.headers.get("content-type", ""):
            return answer
        for issue in answer.json().get("issue", []):
            named = re.findall(
                r"\b[A-Z][A-Za-z]+(?:\.[A-Za-z_$][A-Za-z0-9_\-]*(?:\[\d+\])*)+", issue.get("diagnostics", "")
            )
            for expression in [*(issue.get("expression") or []), *named]:
                path = _segments(expression)
                if path is not None and expression not in seen and len(seen) < 40:
                    seen.add(expression)
                    queue.append((body if isinstance(body, dict) else {}, path))
        return answer


def _signature(answer: httpx.Response) -> tuple[int, str]:
    try:
        codes = [c.get("code") for i in answer.json().get("issue", []) for c in i["details"]["coding"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        codes = []
    return answer.status_code, str(codes)


SOAP12 = "{http://www.w3.org/2003/05/soap-envelope}"
REFUSALS = ("Sender", "VersionMismatch", "MustUnderstand")  # the caller's fault: SOAP 1.2 part 1 §5.4.6


def insi_refusal(path: str, answer: httpx.Response) -> bool:
    """INSi's SOAP endpoint answers every refusal on HTTP 500, with a fault naming the caller's fault,
    as the national teleservice does (issue 20 §1.1): that 500 is the protocol's own refusal. A fault
    of ours (`soap:Receiver`, a technical error) is still a server failure."""
    if not (path.startswith("/insi/lps") and answer.request.method == "POST" and answer.status_code == 500):
        return False
    try:
        root = etree.fromstring(answer.content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    value = root.findtext(f"{SOAP12}Body/{SOAP12}Fault/{SOAP12}Code/{SOAP12}Value") or ""
    return value.rpartition(":")[2] in REFUSALS


def server_failure(path: str, answer: httpx.Response) -> bool:
    """A 5xx that is not INSi's own refusal (`insi_refusal`): what no input may cause."""
    return answer.status_code >= 500 and not insi_refusal(path, answer)


def proper_error(path: str, answer: httpx.Response) -> bool:
    """A 4xx is an OperationOutcome, or the protocol's own error: OAuth JSON on Pro Santé Connect's
    endpoints (an HTML error page on its browser-facing login), a SOAP fault on INSi's SOAP endpoint."""
    if answer.status_code < 400:
        return True
    kind = answer.headers.get("content-type", "")
    if (
        path.startswith("/psc/")
        and ("/openid-connect/auth" in path or path.endswith("/logout"))
        and kind.startswith("text/html")
    ):
        return True
    if path.startswith("/insi/lps") and answer.request.method == "POST":
        return "xml" in kind and b"Fault" in answer.content
    try:
        data = answer.json()
    except ValueError:
        return False
    if path.startswith("/psc/") and isinstance(data, dict) and isinstance(data.get("error"), str):
        return True
    return isinstance(data, dict) and data.get("resourceType") == "OperationOutcome" and bool(data.get("issue"))
