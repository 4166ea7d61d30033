"""What a conformance server's model "says": deterministic message contents for the three levels of enforcement.

A real server that enforces a schema can only emit text that the schema accepts; one that enforces "JSON" emits some
JSON, which a small model often gets wrong in shape; one that enforces nothing emits whatever the model likes. The
stand-ins answer each level with the harshest content that level allows, so a client is tested on what it must
survive:

- ``schema``: a JSON object valid against the request's schema (checked here with ``jsonschema``);
- ``json``: JSON that parses but does NOT validate against the schema the request carried anywhere (a label outside
  the enum, a missing required key, ...), or against sxhub's answer shape when no schema came along;
- ``none``: a prose sentence that holds no JSON object at all.

Every choice is a function of the last user message (hashed), so two runs over the same texts get the same answers.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import jsonschema

UNSUPPORTED_KEYWORDS = ("pattern", "format", "allOf", "not", "if", "$ref", "patternProperties", "dependentRequired")
WORDS = ("calm", "bright", "plain", "odd", "steady", "brisk", "mild", "sharp")


class StandInError(RuntimeError):
    """The stand-in cannot honour a request the real server would (a schema feature it does not model)."""


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message (string content, or the text parts of a content list)."""
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    content = users[-1].get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def digest(*parts: str) -> int:
    """A stable integer from strings (sha256; the same across runs, processes and machines)."""
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest(), 16)


def valid_instance(schema: dict[str, Any], seed: str) -> Any:
    """A value that ``schema`` accepts, chosen by ``seed``; raises StandInError where the schema is out of reach."""
    value = _instance(schema, seed, "#")
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        raise StandInError(
            f"conformance stand-in built an invalid instance ({exc.message}) for schema {schema}"
        ) from exc
    except jsonschema.SchemaError as exc:
        raise StandInError(f"conformance stand-in got a schema jsonschema rejects: {exc.message}") from exc
    return value


def _instance(schema: Any, seed: str, path: str) -> Any:
    if not isinstance(schema, dict):
        return "stub" if schema is not False else None
    for keyword in UNSUPPORTED_KEYWORDS:
        if keyword in schema:
            raise StandInError(f"conformance stand-in does not model the JSON schema keyword {keyword!r} (at {path})")
    h = digest(seed, path)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][h % len(schema["enum"])]
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return _instance(schema[keyword][0], seed, f"{path}/{keyword}/0")
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return {name: _instance(sub, seed, f"{path}/{name}") for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return _array(schema, seed, path, h)
    if kind == "string":
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 40))
        text = f"stub {WORDS[h % len(WORDS)]} {h % 1000}"
        text = (text + " x" * low)[: max(low, min(high, len(text)))]
        return text
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return min(int(low), int(schema.get("maximum", low)))
    if kind == "boolean":
        return bool(h % 2)
    if kind == "null":
        return None
    raise StandInError(f"conformance stand-in does not model JSON schema type {kind!r} (at {path})")


def _array(schema: dict[str, Any], seed: str, path: str, h: int) -> list[Any]:
    items = schema.get("items") or {}
    low = int(schema.get("minItems", 0))
    pool = items.get("enum") if isinstance(items, dict) else None
    if pool and schema.get("uniqueItems"):
        high = min(int(schema.get("maxItems", len(pool))), len(pool))
        first = max(low, 1) if high >= 1 else 0
        n = first + (h % (high - first + 1) if high >= first else 0)
        start = h % len(pool)
        return [pool[(start + i) % len(pool)] for i in range(n)]
    n = max(low, 1)
    if "maxItems" in schema:
        n = min(n, int(schema["maxItems"]))
    return [_instance(items, seed, f"{path}/{i}") for i in range(n)]


def invalid_instance(schema: dict[str, Any] | None, seed: str) -> Any:
    """JSON that does NOT validate against ``schema`` (sxhub's answer shape when ``schema`` is None)."""
    h = digest(seed, "invalid")
    outsider = f"not-a-label-{h % 10_000}"
    if not schema:
        return {"label": outsider, "labels": outsider}  # fits neither a single- nor a multi-label answer
    try:
        base = valid_instance(schema, seed)
    except StandInError:
        base = None
    for candidate in _mutations(schema, base, outsider):
        if not jsonschema.Draft202012Validator(schema).is_valid(candidate):
            return candidate
    raise StandInError(f"conformance stand-in found no JSON that schema {schema} rejects")


def _mutations(schema: dict[str, Any], base: Any, outsider: str) -> list[Any]:
    """Candidate invalid values, most realistic first (what small models get wrong: labels, then shape)."""
    out: list[Any] = []
    props = schema.get("properties") or {}
    if isinstance(base, dict):
        for name, sub in props.items():
            if not isinstance(sub, dict):
                continue
            if "enum" in sub:
                out.append({**base, name: outsider})
            items = sub.get("items")
            if isinstance(items, dict) and "enum" in items:
                out.append({**base, name: [outsider]})
        for name in schema.get("required") or []:
            dropped = copy.deepcopy(base)
            dropped.pop(name, None)
            out.append(dropped)
        out.append({**base, "unexpected": True})
    out.extend([[base], "just a string", 12345])
    return out


def prose(seed: str) -> str:
    """A sentence with no JSON in it (what an unconstrained model often answers)."""
    h = digest(seed, "prose")
    return f"Having read it twice, I would call this text {WORDS[h % len(WORDS)]}; it is hard to say more."


def content_for(enforced: str, schema: dict[str, Any] | None, body: dict[str, Any]) -> str:
    """The assistant message content for a request the server accepted with ``enforced`` in schema|json|none."""
    seed = user_text(body)
    if enforced == "schema":
        if schema is None:
            raise StandInError("conformance stand-in: 'schema' enforcement without a schema")
        return json.dumps(valid_instance(schema, seed), ensure_ascii=False)
    if enforced == "json":
        return json.dumps(invalid_instance(schema, seed), ensure_ascii=False)
    if enforced == "none":
        return prose(seed)
    raise ValueError(f"unknown enforcement {enforced!r}")


def schema_hint(body: dict[str, Any]) -> dict[str, Any] | None:
    """Any JSON schema the request carries in any known form (used to make JSON-only answers invalid against it)."""
    fmt = body.get("response_format")
    candidates: list[Any] = []
    if isinstance(fmt, dict):
        wrapper = fmt.get("json_schema")
        value = fmt.get("value")
        candidates += [fmt.get("schema"), wrapper.get("schema") if isinstance(wrapper, dict) else None]
        candidates += [value.get("schema") if isinstance(value, dict) and "schema" in value else value]
    so = body.get("structured_outputs")
    candidates += [so.get("json") if isinstance(so, dict) else None, body.get("guided_json"), body.get("json_schema")]
    candidates.append(body.get("format"))
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                candidate = json.loads(candidate)
            except ValueError:
                continue
        if isinstance(candidate, dict) and candidate:
            return candidate
    return None
