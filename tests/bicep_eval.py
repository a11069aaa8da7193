"""A small evaluator of pycep's parse of Bicep variables, for the expressions infra/main.bicep computes from
its parameters (the TARGETS loops, the production groups, the drill group guard). No Bicep CLI here: this
evaluates the template's own expressions with given parameter values, as ARM would at deployment.

Only what main.bicep uses: literals, parameters, variables, for-expressions, lambdas (map, filter), property
access (always null-safe, as `.?` is: pycep drops the `?`), `x[i]` (a missing property stops the deployment,
as ARM does), `??`, `?:`, `&&`, `||`, `!`, `==`, `!=`, and the functions union, map, filter, toLower,
contains, json, empty, length, split, trim, last, intersection, any, subscription and fail.
pycep writes a name and a string literal alike: a string that names a parameter, variable or lambda
variable is that value, any other string is itself.
"""
from __future__ import annotations

import json
import re
from typing import Any


class BicepFail(Exception):
    """fail('...') was reached, or a missing property read: the deployment stops with this message."""


class Evaluator:
    def __init__(self, doc: dict, params: dict[str, Any], subscription_id: str = "SUB"):
        defaults = {k: v.get("default") for k, v in doc["parameters"].items()}
        self.params = defaults | params
        self.doc, self.subscription_id = doc, subscription_id
        self.cache: dict[str, Any] = {}

    def var(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = self.eval(self.doc["variables"][name]["value"], {})
        return self.cache[name]

    def name(self, text: str, scope: dict[str, Any]) -> Any:
        if text in scope:
            return scope[text]
        if text in self.params:
            return self.params[text]
        if text in self.doc.get("variables", {}):
            return self.var(text)
        if "${" in text:
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.interpolate(m.group(1), scope)), text)
        return text

    def interpolate(self, expr: str, scope: dict[str, Any]) -> Any:
        if expr == "subscription().id":
            return f"/subscriptions/{self.subscription_id}"
        call = re.fullmatch(r"toLower\(([\w.]+)\)", expr)
        if call:
            return str(self.interpolate(call.group(1), scope)).lower()
        value = self.name(expr.split(".")[0], scope)
        for key in expr.split(".")[1:]:
            value = (value or {}).get(key)
        return value

    def eval(self, node: Any, scope: dict[str, Any]) -> Any:
        if isinstance(node, str):
            return self.name(node, scope)
        if isinstance(node, list):
            return [self.eval(n, scope) for n in node]
        if not isinstance(node, dict):
            return node
        if "operator" in node:
            return self.operator(node["operator"]["type"], node["operator"]["operands"], scope)
        if "function" in node:
            return self.function(node["function"]["type"], list(node["function"]["parameters"].values()), scope)
        if "loop_type" in node:  # [for item in array: value]
            item, array = node["loop_type"]["detail"]["item_name"], node["loop_type"]["detail"]["array_name"]
            return [self.eval(node["config"], scope | {item: x}) for x in self.eval(array, scope)]  # a name or an expression
        if node.get("type") == "lambda_expression":
            return node["detail"]
        return {k: self.eval(v, scope) for k, v in node.items()}

    def access(self, value: Any, path: Any, scope: dict[str, Any]) -> Any:
        """`value.path` where pycep nests a.b.c as accessor(a, accessor(b, c))."""
        if isinstance(path, str):
            return value.get(path) if isinstance(value, dict) else None
        ops = path["operator"]["operands"]
        return self.access(self.access(value, ops["operand_1"], scope), ops["operand_2"], scope)

    def operator(self, kind: str, ops: dict, scope: dict[str, Any]) -> Any:
        if kind == "property_accessor":
            if isinstance(ops["operand_1"], dict) and "function" in ops["operand_1"] and \
                    ops["operand_1"]["function"]["type"] == "subscription":
                return {"subscriptionId": self.subscription_id, "id": f"/subscriptions/{self.subscription_id}"}[
                    ops["operand_2"]]
            return self.access(self.eval(ops["operand_1"], scope), ops["operand_2"], scope)
        if kind == "index_accessor":
            value, key = self.eval(ops["operand_1"], scope), self.eval(ops["operand_2"], scope)
            if isinstance(value, dict) and key not in value:
                raise BicepFail(f"The language expression property '{key}' doesn't exist, available properties are "
                                f"'{', '.join(value)}'.")
            return value[key]
        if kind == "coalesce":
            first = self.eval(ops["operand_1"], scope)
            return first if first is not None else self.eval(ops["operand_2"], scope)
        if kind == "conditional":
            chosen = "true_value" if self.eval(ops["condition"], scope) else "false_value"
            return self.eval(ops[chosen], scope)
        if kind == "and":
            return bool(self.eval(ops["operand_1"], scope)) and bool(self.eval(ops["operand_2"], scope))
        if kind == "or":
            return bool(self.eval(ops["operand_1"], scope)) or bool(self.eval(ops["operand_2"], scope))
        if kind == "not":
            return not self.eval(ops["bool_value"], scope)
        if kind in ("equals", "not_equals"):
            same = self.eval(ops["operand_1"], scope) == self.eval(ops["operand_2"], scope)
            return same if kind == "equals" else not same
        raise NotImplementedError(kind)

    def call(self, lam: dict, scope: dict[str, Any], item: Any) -> Any:
        return self.eval(lam["expression"], scope | {lam["var_1"]: item})

    def function(self, kind: str, args: list, scope: dict[str, Any]) -> Any:
        if kind == "fail":
            raise BicepFail(self.eval(args[0], scope))
        if kind == "subscription":
            return {"subscriptionId": self.subscription_id, "id": f"/subscriptions/{self.subscription_id}"}
        values = [self.eval(a, scope) for a in args]
        if kind == "map":
            return [self.call(values[1], scope, x) for x in values[0]]
        if kind == "filter":
            return [x for x in values[0] if self.call(values[1], scope, x)]
        if kind == "union":
            out: list = []  # ARM's union: each distinct value once, also within one array
            for x in (x for value in values for x in value):
                if x not in out:
                    out.append(x)
            return out
        if kind == "intersection":
            return [x for x in values[0] if all(x in v for v in values[1:])]
        simple = {"any": lambda v: v, "to_lower": lambda v: v.lower(), "contains": lambda c, i: i in c, "json": json.loads,
                  "empty": lambda v: not v, "length": len, "split": lambda s, d: s.split(d), "trim": lambda s: s.strip(),
                  "last": lambda v: v[-1]}
        return simple[kind](*values)
