"""Liberty boolean functions ("!(A1 & A2)", "(A ^ B)", "A B + C'") as a small AST that can be
evaluated bit-parallel on numpy words, rendered as Verilog, or enumerated as a truth table.

Grammar (Liberty reference, "function" attribute), lowest to highest precedence:
``|`` or ``+``; ``^``; ``&``, ``*`` or juxtaposition; prefix ``!`` and postfix ``'``;
parentheses, pin names, and the constants ``0`` / ``1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bitwave.core.errors import BitwaveError

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\[\]\.]*)|(?P<const>[01])|(?P<op>[!'&*|+^()]))"
)


@dataclass(frozen=True)
class Expr:
    """One node: op is "var", "const", "not", "and", "or" or "xor"."""

    op: str
    args: tuple[Expr, ...] = ()
    name: str = ""
    value: int = 0

    def variables(self) -> list[str]:
        """Pin names used, in order of first appearance."""
        seen: list[str] = []
        stack: list[Expr] = [self]
        while stack:
            node = stack.pop(0)
            if node.op == "var" and node.name not in seen:
                seen.append(node.name)
            stack[0:0] = list(node.args)
        return seen

    def to_verilog(self) -> str:
        if self.op == "var":
            return self.name
        if self.op == "const":
            return "1'b1" if self.value else "1'b0"
        if self.op == "not":
            return f"~({self.args[0].to_verilog()})"
        joiner = {"and": " & ", "or": " | ", "xor": " ^ "}[self.op]
        return "(" + joiner.join(arg.to_verilog() for arg in self.args) + ")"

    def evaluate(self, env: Mapping[str, object], ones: object) -> object:
        """Evaluate with any operands that support ``~ & | ^`` (numpy uint64 arrays, Python
        ints). ``ones`` is the all-ones value used for the constant 1."""
        if self.op == "var":
            try:
                return env[self.name]
            except KeyError:
                raise BitwaveError(
                    f"boolean function uses pin {self.name!r} that has no value"
                ) from None
        if self.op == "const":
            return ones if self.value else ones ^ ones
        if self.op == "not":
            return ~self.args[0].evaluate(env, ones)
        values = [arg.evaluate(env, ones) for arg in self.args]
        result = values[0]
        for value in values[1:]:
            if self.op == "and":
                result = result & value
            elif self.op == "or":
                result = result | value
            else:
                result = result ^ value
        return result

    def truth_table(self, inputs: Sequence[str]) -> int:
        """The function over ``inputs`` as an integer with bit i = f(input bits of i)."""
        n = len(inputs)
        env = {}
        for position, name in enumerate(inputs):
            # Bit-parallel trick: variable k toggles with period 2^(k+1) over the 2^n rows.
            word = 0
            for row in range(1 << n):
                if (row >> position) & 1:
                    word |= 1 << row
            env[name] = word
        mask = (1 << (1 << n)) - 1
        return self.evaluate(env, mask) & mask

    def compile_numpy(self, inputs: Sequence[str]) -> Callable[..., object]:
        """A function f(*arrays) evaluating this expression with the arrays bound to
        ``inputs`` in order (numpy uint64 arrays; constant 1 = all ones)."""
        code = self._python(list(inputs))
        namespace: dict[str, object] = {}
        args = ", ".join(f"a{i}" for i in range(len(inputs)))
        exec(f"def f({args}):\n    return {code}\n", namespace)  # noqa: S102 - generated from a parsed AST
        return namespace["f"]  # type: ignore[return-value]

    def _python(self, inputs: list[str]) -> str:
        if self.op == "var":
            if self.name not in inputs:
                raise BitwaveError(f"boolean function uses pin {self.name!r}, not one of {inputs}")
            return f"a{inputs.index(self.name)}"
        if self.op == "const":
            # Shapes follow the first operand; a constant alone is broadcast by the caller.
            first = "a0" if inputs else "0"
            return f"({first} | ~{first})" if self.value else f"({first} & ~{first})"
        if self.op == "not":
            return f"(~{self.args[0]._python(inputs)})"
        joiner = {"and": " & ", "or": " | ", "xor": " ^ "}[self.op]
        return "(" + joiner.join(arg._python(inputs) for arg in self.args) + ")"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN.match(stripped, position)
            if not match or match.end() == position:
                raise BitwaveError(f"cannot parse liberty function {text!r} at column {position}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Expr:
        expr = self.parse_or()
        if self.peek() is not None:
            raise BitwaveError(f"unexpected {self.peek()[1]!r} in liberty function {self.text!r}")
        return expr

    def parse_or(self) -> Expr:
        terms = [self.parse_xor()]
        while self.peek() in (("op", "|"), ("op", "+")):
            self.take()
            terms.append(self.parse_xor())
        return terms[0] if len(terms) == 1 else Expr("or", tuple(terms))

    def parse_xor(self) -> Expr:
        terms = [self.parse_and()]
        while self.peek() == ("op", "^"):
            self.take()
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else Expr("xor", tuple(terms))

    def parse_and(self) -> Expr:
        terms = [self.parse_unary()]
        while True:
            token = self.peek()
            if token in (("op", "&"), ("op", "*")):
                self.take()
                terms.append(self.parse_unary())
            elif token is not None and (token[0] in ("name", "const") or token[1] in ("(", "!")):
                terms.append(self.parse_unary())  # juxtaposition means AND
            else:
                break
        return terms[0] if len(terms) == 1 else Expr("and", tuple(terms))

    def parse_unary(self) -> Expr:
        token = self.peek()
        if token is None:
            raise BitwaveError(f"liberty function {self.text!r} ends early")
        if token == ("op", "!"):
            self.take()
            expr = Expr("not", (self.parse_unary(),))
        elif token == ("op", "("):
            self.take()
            expr = self.parse_or()
            if self.peek() != ("op", ")"):
                raise BitwaveError(f"missing ')' in liberty function {self.text!r}")
            self.take()
        elif token[0] == "name":
            self.take()
            expr = Expr("var", name=token[1])
        elif token[0] == "const":
            self.take()
            expr = Expr("const", value=int(token[1]))
        else:
            raise BitwaveError(f"unexpected {token[1]!r} in liberty function {self.text!r}")
        while self.peek() == ("op", "'"):
            self.take()
            expr = Expr("not", (expr,))
        return expr


def parse_function(text: str) -> Expr:
    """Parse a liberty ``function`` / ``next_state`` / ``clear`` string."""
    return _Parser(text.strip().strip('"')).parse()
