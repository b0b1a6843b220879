"""docs/ingest.md lists the vocabularies, bounds and reasons as the code declares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from openbureau.errors import SpecError
from openbureau.ingest import docgen
from openbureau.ingest.reasons import REASONS
from openbureau.ingest.vocabulary import VOCABULARIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"


def test_the_generated_blocks_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert docgen.render(text) == text, (
        "docs/ingest.md differs from the code: run python -m openbureau.ingest.docgen"
    )


def test_a_drifted_block_is_caught_and_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "ingest.md"
    text = DOC.read_text(encoding="utf-8")
    doc.write_text(text.replace("| `chargeoff` |", "| `charged_off` |"), encoding="utf-8")
    assert docgen.main(["--check", str(doc)]) == 1
    assert docgen.main([str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == text
    with pytest.raises(ValueError, match="no generated block 'reasons'"):
        docgen.render(text.replace("<!-- generated: reasons -->", ""))


def test_every_value_and_reason_is_in_the_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    for v in VOCABULARIES:
        for value in v.values:
            assert f"| `{value}` |" in text
    for code in REASONS:
        assert f"| `{code}` |" in text


def test_every_spec_key_is_in_the_doc() -> None:
    """Each key of every model of the spec language has a row (and so a description)."""
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("<!-- generated: spec keys -->") :]
    block = block[: block.index("<!-- end generated: spec keys -->")]
    models = docgen._spec_models()
    assert {m.__name__ for _, m in models} >= {"SourceSpec", "FieldSpec", "LedgerMapping"}
    for _, model in models:
        for key, field in model.model_fields.items():
            assert f"| `{key}` |" in block, (model.__name__, key)
            assert field.description, (model.__name__, key)


def test_the_spec_example_is_a_valid_spec() -> None:
    from openbureau.ingest import parse_spec
    from openbureau.ingest._yaml import load_yaml

    text = DOC.read_text(encoding="utf-8")
    example = text[text.index("## A source spec") :].split("```yaml\n", 1)[1].split("```")[0]
    spec = parse_spec(load_yaml(example), "docs/ingest.md")
    assert {f.target for f in spec.fields} >= {"account_id", "period", "balance", "national_id"}
    assert spec.field("dob").invalid == "quarantine"
    with_null = example.replace("    type: date", '    invalid: "null"\n    type: date', 1)
    assert parse_spec(load_yaml(with_null)).field("dob").invalid == "null"
    unquoted = with_null.replace('invalid: "null"', "invalid: null")
    with pytest.raises(SpecError) as err:  # the refusal the docs quote, word for word
        parse_spec(load_yaml(unquoted), "my.yaml")
    assert f"`{err.value}`" in text
