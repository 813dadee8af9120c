"""Planted secrets of every detected shape are replaced; ordinary text survives untouched."""

import pytest

from tollhouse.gate.redact import Redactor

GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabcdef==\n-----END RSA PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"token is {GH} ok", GH, "github-token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG", "github-token"),
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws-secret-access-key",
        ),
        (f"before\n{PEM}\nafter", "MIIEowIBAAKCAQEA7", "private-key"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA",
            "b3BlbnNzaC1rZXktdjEAAAA",
            "private-key",
        ),
        (f"Authorization: Bearer {JWT}", "dozjgNryP4J3jVmNHl0w5N", "jwt"),
        ("Authorization: token abcdefgh12345678", "abcdefgh12345678", "authorization"),
        ("https://alice:s3cr3t-pass@example.com/x", "s3cr3t-pass", "url-password"),
        ("PASSWORD=hunter2hunter2 next", "hunter2hunter2", "password"),
        ("curl -d token=abcd1234efgh", "abcd1234efgh", "password"),
        ('{"api_key": "zzz-123-abc"}', "zzz-123-abc", "password"),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz", "openai-key"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz", "anthropic-key"),
        ("xoxb-123456789012-abcdefghij", "xoxb-123456789012", "slack-token"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890", "google-api-key"),
    ],
)
def test_detectors_replace_the_secret_span(text: str, secret: str, kind: str) -> None:
    out = Redactor().redact_text(text)
    assert secret not in out
    assert f"[REDACTED:{kind}]" in out


def test_surrounding_text_is_kept() -> None:
    out = Redactor().redact_text("PASSWORD=hunter2hunter2 next")
    assert out == "PASSWORD=[REDACTED:password] next"


def test_exact_secrets_and_nested_data() -> None:
    r = Redactor(secrets=["canary-Value-42"])
    r.add_secret("abc")  # too short to register: would shred ordinary text
    data = {"cmd": ["echo", "x canary-Value-42 y"], "n": 3, "note": "abc", "token": "plain"}
    assert r.redact(data) == {
        "cmd": ["echo", "x [REDACTED:secret] y"],
        "n": 3,
        "note": "abc",
        "token": "[REDACTED:by-key]",
    }


def test_ordinary_text_is_untouched() -> None:
    text = "def read(path):\n    return open(path).read()  # password policy doc, see keys.md\n"
    assert Redactor().redact_text(text) == text


def test_custom_patterns_from_config() -> None:
    r = Redactor(patterns=[r"ACME-[0-9]{6}", r"^[0-9]{4}$"])
    assert r.redact_text("id ACME-123456.") == "id [REDACTED:custom]."
    assert r.redact_text("1234") == "[REDACTED:custom]"  # shorter than any built-in secret, still found


def test_anchors_never_change_what_is_redacted() -> None:
    """The anchor pre-check is only a shortcut: redacting with every regex run gives the same text."""
    import dataclasses

    from tollhouse.gate import redact

    samples = [
        f"x {GH} y",
        PEM,
        JWT,
        "AKIAIOSFODNN7EXAMPLE",
        "Api_Key: 'abcd1234'",
        "Authorization: BASIC dXNlcjpwYXNzd29yZA==",
        "postgres://u:p4ss@db/x",
        "CLIENT_SECRET=shhh-123",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ]
    fast = Redactor()
    slow = Redactor()
    slow._detectors = [dataclasses.replace(d, anchors=()) for d in redact.DETECTORS]
    for text in samples + [("padding " * 600) + t for t in samples]:  # both scan strategies
        assert fast.redact_text(text) == slow.redact_text(text) != text


def test_values_under_secret_looking_keys_are_redacted_whatever_the_key_length() -> None:
    from tollhouse.gate.redact import Redactor, _sensitive_short_key

    r = Redactor()
    long_key = "x" * 100
    out = r.redact(
        {"password": "hunter22", "Token": "abc", long_key: "visible", "nested": [{"api_key": "k"}]}
    )
    assert out == {
        "password": "[REDACTED:by-key]",
        "Token": "[REDACTED:by-key]",
        long_key: "visible",
        "nested": [{"api_key": "[REDACTED:by-key]"}],
    }
    before = _sensitive_short_key.cache_info().currsize
    r.redact({("k" * 65) + str(i): "v" for i in range(50)})  # long client keys are not remembered
    assert _sensitive_short_key.cache_info().currsize == before


# -- one pass, shapes inside words, keys, encoded forms (issue 14) --------------------------------

ANT = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0"
SLACK = "xoxb-" + "123456789012-abcdefghijKLMN"
GLPAT = "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7"
FINE_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
OPENAI = "sk-" + "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0n"


@pytest.mark.parametrize("secret", [GH, ANT, SLACK, GLPAT, FINE_PAT, AKIA, JWT, OPENAI])
@pytest.mark.parametrize("glue", [("x", "x"), ("_", "_"), ("9", ""), ("", "Z"), ("ab", "")])
def test_token_shapes_are_found_glued_inside_words(secret: str, glue: tuple[str, str]) -> None:
    before, after = glue
    out = Redactor().redact_text(f"value={before}{secret}{after} end")
    assert secret not in out
    assert secret[4:20] not in out, out  # no recognisable half is left either
    assert "[REDACTED:" in out


@pytest.mark.parametrize("text", [f"x{PEM}x", f"key:{PEM}", PEM.replace("RSA ", "EC ")])
def test_private_key_blocks_glued_to_text(text: str) -> None:
    out = Redactor().redact_text(text)
    assert "MIIEowIBAAKCAQEA7" not in out and "[REDACTED:private-key]" in out


def test_the_end_of_a_key_whose_start_was_cut_off_is_redacted() -> None:
    tail = "owIBAAKCAQEA7\nabcdef==\n-----END RSA PRIVATE KEY-----\n$ next"
    out = Redactor().redact_text(tail)
    assert out == "[REDACTED:private-key]\n$ next"


@pytest.mark.parametrize(
    "text",
    [
        "task-runner-configuration-file-name and desk-lamp-and-other-words",
        "tests/x.py::test_a PASSED\n" * 50,
        "passwordless login is supported; tokens=5; secretary",
        "ASIA pacific",
    ],
)
def test_words_that_merely_contain_a_prefix_are_kept(text: str) -> None:
    assert Redactor().redact_text(text) == text


@pytest.mark.parametrize(
    "text", ["DB_PASSWORD=hunter2hunter2", "export MY_API_KEY=abcdef123", "x_token: qwerty12"]
)
def test_key_words_glued_to_a_prefix(text: str) -> None:
    out = Redactor().redact_text(text)
    assert out.endswith("[REDACTED:password]"), out


def test_dict_keys_are_redacted_and_never_collapse() -> None:
    r = Redactor(secrets=["known-value-123"])
    data = {GH: 1, "env": {"known-value-123": "a", ANT: "b"}, "ok": "fine"}
    out = r.redact(data)
    text = repr(out)
    for secret in (GH, ANT, "known-value-123"):
        assert secret not in text
    assert out["ok"] == "fine" and len(out["env"]) == 2  # both keys kept, under distinct names
    assert set(out["env"].values()) == {"a", "b"}


def test_nothing_changed_is_the_same_object() -> None:
    r = Redactor(secrets=["known-value-123"])
    clean = {"a": ["x", {"b": 1.5, "c": None}], "d": "text"}
    assert r.redact(clean) is clean
    dirty = {"a": ["x", {"b": "known-value-123"}]}
    out = r.redact(dirty)
    assert out is not dirty and dirty["a"][1]["b"] == "known-value-123"  # the input is not mutated


@pytest.mark.parametrize(
    "secret", ['quo"te-secret', "back\\slash-secret", "tab\there-secret", "ünïcode-sécret"]
)
def test_exact_values_are_found_in_json_encoded_text(secret: str) -> None:
    import json

    from tollhouse.gate.digest import canonical_json

    r = Redactor(secrets=[secret])
    for encoded in (
        json.dumps({"v": secret}),
        canonical_json({"v": secret}),
        json.dumps([secret], ensure_ascii=False),
    ):
        out = r.redact_text(encoded)
        assert "[REDACTED:secret]" in out
        assert json.loads(out)  # still valid JSON


def test_a_long_value_after_a_rare_anchor_is_redacted_whole() -> None:
    """Windows around anchors only save time: a value longer than the window is still all replaced."""
    value = "v" * 10_000
    text = ("filler line\n" * 50_000) + f"token={value} end\n" + ("filler line\n" * 50_000)
    out = Redactor().redact_text(text)
    assert value[:50] not in out and out.count("[REDACTED:password]") == 1


def test_redaction_is_idempotent() -> None:
    r = Redactor(secrets=["known-value-123"])
    text = f"a {GH} b token=known-value-123 {PEM} c x{AKIA}"
    once = r.redact_text(text)
    assert r.redact_text(once) == once
