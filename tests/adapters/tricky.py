"""Tricky master schemas, each with argument examples the master schema accepts and rejects.

``strict`` says whether the OpenAI strict lowering must stay strict (True) or must fall back (False).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass
class Case:
    name: str
    schema: dict[str, Any]
    valid: list[Any]
    invalid: list[Any]
    strict: bool = True
    null_is_absent: list[Any] = field(default_factory=list)
    """Invalid for the master, but under OpenAI strict a null on an optional field is how the model
    says "absent", so there they mean the call without that field."""


class Zero(BaseModel):
    pass


class Addr(BaseModel):
    street: str
    zip: str | None = None


class WithOptionalModel(BaseModel):
    addr: Addr | None = None
    name: str


class Address(BaseModel):
    street: str
    zip: str | None = None


class Customer(BaseModel):
    name: str
    address: Address
    email: str | None = None


class Order(BaseModel):
    id: int
    customer: Customer
    note: str = ""


class Nested3(BaseModel):
    order: Order


class Item(BaseModel):
    sku: str
    qty: int = Field(ge=1)


class Cart(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=5)


class Card(BaseModel):
    kind: Literal["card"]
    number: str


class Iban(BaseModel):
    kind: Literal["iban"]
    iban: str
    bic: str | None = None


class Payment(BaseModel):
    payment: Annotated[Card | Iban, Field(discriminator="kind")]
    amount: float


class Money(BaseModel):
    amount: int
    currency: str = Field(pattern="^[A-Z]{3}$")


class Priced(BaseModel):
    price: Money = Field(description="the price")
    discount: Money | None = Field(None, description="optional discount")


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Counts(BaseModel):
    counts: dict[str, int]


class Point(BaseModel):
    at: tuple[float, float]


class Bounds(BaseModel):
    ratio: float = Field(gt=0, le=100, multiple_of=0.5)
    level: int = Field(ge=-3, lt=10)


class Patterns(BaseModel):
    code: str = Field(pattern="^[A-Z]{3}$", min_length=3, max_length=3)
    email: str = Field(json_schema_extra={"format": "email"})
    homepage: str = Field("https://x.example", json_schema_extra={"format": "uri"})


class Defaults(BaseModel):
    count: int = 10
    names: list[str] = ["a"]
    mode: Literal["fast", "slow"] = "fast"


class AnyValue(BaseModel):
    payload: Any
    meta: dict[str, Any] = {}


class Tags(BaseModel):
    tags: set[str]


class Renamed(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user_id: int = Field(alias="user-id")
    user_id2: int = Field(0, alias="user_id")
    at_type: str = Field("x", alias="@type")
    first: int = Field(0, alias="1st")
    naive: str | None = Field(None, alias="naïve")
    config: int = 0


class RNode(BaseModel):
    label: str = Field(alias="node-label")
    kids: list[RNode] = Field([], alias="child-nodes")


class Category(BaseModel):
    name: str
    parent: Category | None = Field(None, description="the parent category")
    link: Link | None = None
    kids: list[Category] = Field([], description="sub categories")


class Link(BaseModel):
    target: Category = Field(description="where the link points")  # a $ref with a sibling, in $defs
    weight: int = 1


class CategoryRoot(BaseModel):
    top: Category = Field(description="the top category")  # a recursive $ref with a sibling
    alt: Category | None = Field(None, description="another")


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "object",
        "properties": {"leaf": {"type": "string"}},
        "required": ["leaf"],
    }
    for i in range(levels - 1):
        node = {"type": "object", "properties": {f"l{i}": node}, "required": [f"l{i}"]}
    return node


def deep_value(levels: int, leaf: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": leaf}
    for i in range(levels - 1):
        value = {f"l{i}": value}
    return value


CODES = [f"C{i:03d}" for i in range(300)]

CASES: list[Case] = [
    Case("zero_args", Zero.model_json_schema(), [{}], []),
    Case(
        "optional_scalar",
        {"type": "object", "properties": {"limit": {"type": "integer"}}, "required": []},
        [{}, {"limit": 3}],
        [{"limit": "x"}, {"limit": 1.5}],
        null_is_absent=[{"limit": None}],
    ),
    Case(
        "nullable_type_array",
        {"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "required": ["name"]},
        [{"name": None}, {"name": "a"}],
        [{}, {"name": 1}],
    ),
    Case(
        "optional_nested_model",
        WithOptionalModel.model_json_schema(),
        [{"name": "n"}, {"name": "n", "addr": None}, {"name": "n", "addr": {"street": "s", "zip": "1"}}],
        [{"name": "n", "addr": {"zip": "1"}}, {"name": "n", "addr": {"street": 1}}, {}],
    ),
    Case(
        "nested_3_deep",
        Nested3.model_json_schema(),
        [
            {"order": {"id": 1, "customer": {"name": "a", "address": {"street": "s"}}}},
            {
                "order": {
                    "id": 1,
                    "note": "x",
                    "customer": {"name": "a", "email": None, "address": {"street": "s", "zip": "9"}},
                }
            },
        ],
        [
            {"order": {"id": 1, "customer": {"name": "a", "address": {}}}},
            {"order": {"id": "x", "customer": {}}},
        ],
    ),
    Case(
        "array_of_objects",
        Cart.model_json_schema(),
        [{"items": [{"sku": "a", "qty": 1}]}, {"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 9}]}],
        [{"items": []}, {"items": [{"sku": "a", "qty": 0}]}, {"items": [{"sku": "a", "qty": 1}] * 6}],
    ),
    Case(
        "large_string_enum",
        {
            "type": "object",
            "properties": {"country": {"type": "string", "enum": CODES}},
            "required": ["country"],
        },
        [{"country": "C001"}, {"country": "C299"}],
        [{"country": "ZZZ"}, {"country": 1}],
    ),
    Case(
        "integer_enum_and_const",
        {
            "type": "object",
            "properties": {"level": {"type": "integer", "enum": [1, 2, 3]}, "version": {"const": "v2"}},
            "required": ["level", "version"],
        },
        [{"level": 2, "version": "v2"}],
        [{"level": 4, "version": "v2"}, {"level": "1", "version": "v2"}, {"level": 1, "version": "v3"}],
    ),
    Case(
        "discriminated_union",
        Payment.model_json_schema(),
        [
            {"payment": {"kind": "card", "number": "4"}, "amount": 1.5},
            {"payment": {"kind": "iban", "iban": "DE1"}, "amount": 2},
        ],
        [{"payment": {"kind": "cash"}, "amount": 1}, {"payment": {"kind": "iban"}, "amount": 1}],
    ),
    Case(
        "root_union",
        {
            "anyOf": [
                {"type": "object", "properties": {"create": {"type": "string"}}, "required": ["create"]},
                {"type": "object", "properties": {"delete": {"type": "integer"}}, "required": ["delete"]},
            ]
        },
        [{"create": "x"}, {"delete": 3}],
        [{"delete": "x"}, {}],
    ),
    Case(
        "ref_with_siblings",
        Priced.model_json_schema(),
        [
            {"price": {"amount": 1, "currency": "EUR"}},
            {"price": {"amount": 1, "currency": "EUR"}, "discount": None},
        ],
        [{"price": {"amount": 1, "currency": "eur"}}, {"price": {"amount": 1}}],
    ),
    Case(
        "recursive_tree",
        Node.model_json_schema(),
        [{"name": "a"}, {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}],
        [{"name": "a", "children": [{"children": []}]}, {"name": 1}],
    ),
    Case(
        "free_form_map",
        Counts.model_json_schema(),
        [{"counts": {}}, {"counts": {"a": 1, "b-c": 2}}],
        [{"counts": {"a": "x"}}, {}],
        strict=False,
    ),
    Case(
        "tuple",
        Point.model_json_schema(),
        [{"at": [1.0, 2.5]}],
        [{"at": [1.0]}, {"at": [1, 2, 3]}],
        strict=False,
    ),
    Case(
        "numeric_bounds",
        Bounds.model_json_schema(),
        [{"ratio": 0.5, "level": -3}, {"ratio": 100, "level": 9}],
        [
            {"ratio": 0, "level": 0},
            {"ratio": 0.7, "level": 0},
            {"ratio": 1, "level": 10},
            {"ratio": 101, "level": 0},
        ],
    ),
    Case(
        "patterns_and_formats",
        Patterns.model_json_schema(),
        [
            {"code": "ABC", "email": "a@b.example"},
            {"code": "XYZ", "email": "a@b.example", "homepage": "https://y"},
        ],
        [{"code": "abc", "email": "a@b.example"}, {"code": "ABCD", "email": "x"}],
    ),
    Case(
        "defaults",
        Defaults.model_json_schema(),
        [{}, {"count": 3, "names": [], "mode": "slow"}],
        [{"count": "3"}, {"mode": "medium"}, {"names": [1]}],
    ),
    Case(
        "deep_nesting_12",
        deep(12),
        [deep_value(12, "x")],
        [deep_value(12, 1), deep_value(11, "x")],
        strict=False,
    ),
    Case("deep_nesting_10", deep(10), [deep_value(10, "x")], [deep_value(10, 1)]),
    Case(
        "metadata_and_draft07",
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": "urn:x",
            "title": "T",
            "type": "object",
            "definitions": {
                "Money": {
                    "type": "object",
                    "properties": {"cents": {"type": "integer"}},
                    "required": ["cents"],
                }
            },
            "properties": {
                "price": {
                    "allOf": [{"$ref": "#/definitions/Money"}],
                    "description": "wrapped",
                    "examples": [{"cents": 1}],
                },
                "old": {"type": "string", "deprecated": True, "readOnly": True},
            },
            "required": ["price"],
        },
        [{"price": {"cents": 1}}, {"price": {"cents": 1}, "old": "x"}],
        [{"price": {"cents": "1"}}, {"price": {}}],
    ),
    Case(
        "gemini_rejected_names",
        Renamed.model_json_schema(by_alias=True),
        [{"user-id": 1}, {"user-id": 1, "user_id": 2, "@type": "t", "1st": 3, "naïve": "é", "config": 1}],
        [{"user_id": 1}, {"user-id": "1"}, {"user-id": 1, "@type": 3}],
    ),
    Case(
        "recursive_renamed",
        RNode.model_json_schema(by_alias=True),
        [{"node-label": "a", "child-nodes": [{"node-label": "b"}]}],
        [{"node-label": "a", "child-nodes": [{"label": "b"}]}, {"child-nodes": []}],
    ),
    Case(
        "any_typed_values",
        AnyValue.model_json_schema(),
        [{"payload": 1}, {"payload": {"x": [1]}, "meta": {"k": None}}],
        [{}],
        strict=False,
    ),
    Case(
        "unique_items",
        Tags.model_json_schema(),
        [{"tags": ["a", "b"]}],
        [{"tags": ["a", "a"]}, {"tags": "a"}],
    ),
    Case(
        "multi_allof",
        {
            "type": "object",
            "properties": {
                "v": {
                    "allOf": [
                        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                        {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]},
                    ]
                }
            },
            "required": ["v"],
        },
        [{"v": {"a": 1, "b": "x"}}],
        [{"v": {"a": 1}}, {"v": {"b": "x"}}],
        strict=False,
    ),
    Case(
        "same_key_union",  # OpenAI strict: anyOf objects must not share a first key; these cannot avoid it
        {
            "type": "object",
            "properties": {
                "v": {
                    "anyOf": [
                        {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                        {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                    ]
                }
            },
            "required": ["v"],
        },
        [{"v": {"id": 1}}, {"v": {"id": "a"}}],
        [{"v": {"id": 1.5}}, {"v": {}}],
        strict=False,
    ),
    Case(
        "recursive_ref_with_description",  # OpenAI strict: a $ref must have no sibling keywords
        CategoryRoot.model_json_schema(),
        [
            {"top": {"name": "a"}},
            {"top": {"name": "a", "link": {"target": {"name": "b", "kids": [{"name": "c"}]}}}},
            {"top": {"name": "a", "parent": {"name": "p"}}, "alt": {"name": "z"}},
        ],
        [{"top": {}}, {"top": {"name": "a", "link": {"weight": 2}}}, {"alt": {"name": "z"}}],
        null_is_absent=[
            {"top": {"name": "a", "kids": None, "link": {"target": {"name": "b"}, "weight": None}}}
        ],
    ),
]
