"""Everything that touches Splink: the model, training, scoring pairs, clustering.

Splink runs on the warehouse's own DuckDB connection, but with a scratch in-memory catalog in
use, so its working tables never land in the warehouse. Callers pass and receive plain table
names in that scratch catalog.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.exceptions import SplinkException  # not re-exported publicly

from openbureau.engine import DuckDBEngine, Engine
from openbureau.errors import UserError

SCRATCH = "link_scratch"
MODEL_VERSION_KEY = "openbureau_model_version"
# Whether birth dates far apart may split a cluster (see link.CONFLICT_SQL): only when training
# on pairs that share a national ID found birth dates agree almost always for one person.
DOB_DECISIVE_KEY = "openbureau_birth_dates_decisive"
DOB_DECISIVE_MIN_EXACT_M = 0.97

# Columns Splink compares; identity_records provides them (see link.INPUT_SQL).
COLUMNS = ["first_name", "last_name", "name_suffix", "dob", "national_id_token", "address_line1",
           "postcode", "phone", "email"]

# Splink narrates training at length (levels EM could not see, untrained u values); the model
# file records what was estimated, so only its errors reach the user.
logging.getLogger("splink").setLevel(logging.ERROR)


# Candidate pairs: records equal on every field of one of these keys. Several independent field
# sets, so a record with one field wrong (a typo in the surname, a move, a new phone) is still
# found by another.
BLOCKING_KEYS: list[tuple[str, ...]] = [
    ("national_id_token",),
    ("dob",),
    ("last_name", "postcode"),
    ("first_name", "last_name"),
    ("address_line1", "postcode"),
    ("house_number", "postcode"),
    ("last_name", "city"),
    ("phone",),
    ("email",),
]


def _address() -> ComparisonCreator:
    """Street line and postcode as one comparison: they are not independent evidence, and
    counting both would let a shared household address outweigh a different first name."""
    same_line = cll.ExactMatchLevel("address_line1")
    same_zip = cll.ExactMatchLevel("postcode")
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.And(cll.NullLevel("address_line1"), cll.NullLevel("postcode")),
            cll.And(same_line, same_zip),
            cll.Or(same_line, cll.And(cll.JaroWinklerLevel("address_line1", 0.9), same_zip)),
            cll.Or(cll.JaroWinklerLevel("address_line1", 0.8),
                   cll.And(cll.ExactMatchLevel("house_number"), same_zip)),
            same_zip,
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.55, 0.1, 0.04, 0.03, 0.28])


def settings() -> SettingsCreator:
    """The linkage model's structure: comparisons and the rules that find candidate pairs.

    m-probabilities given here are priors for levels that EM may see too rarely to estimate
    (a birth date decades apart, Jr against Sr, phones and emails, which only one feed has):
    EM replaces them wherever the training pairs inform them.
    """
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1e-5,
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.ExactMatch("name_suffix").configure(m_probabilities=[0.99, 0.01]),
            cl.DateOfBirthComparison("dob", input_is_string=False).configure(
                m_probabilities=[0.95, 0.02, 0.015, 0.01, 0.004, 0.001]),
            cl.ExactMatch("national_id_token").configure(m_probabilities=[0.98, 0.02]),
            _address(),
            cl.ExactMatch("phone").configure(m_probabilities=[0.8, 0.2]),
            cl.EmailComparison("email").configure(
                m_probabilities=[0.8, 0.05, 0.05, 0.05, 0.05]),
        ],
        blocking_rules_to_generate_predictions=[block_on(*key) for key in BLOCKING_KEYS],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


TF_COLUMNS = ["first_name", "last_name", "email"]


@contextmanager
def scratch(engine: Engine) -> Iterator[tuple[DuckDBAPI, str]]:
    """Use an in-memory catalog for Splink's tables; yield Splink's API and the warehouse name."""
    if not isinstance(engine, DuckDBEngine):
        raise UserError(f"identity linking needs the duckdb engine, not {engine.name}")
    warehouse = engine.catalog
    engine.execute(f"ATTACH ':memory:' AS {SCRATCH}")
    engine.execute(f"USE {SCRATCH}")
    try:
        yield DuckDBAPI(connection=engine.connection), warehouse
    finally:
        engine.execute(f"USE {warehouse}")
        engine.execute(f"DETACH {SCRATCH}")


def train(db_api: DuckDBAPI, input_table: str, *, seed: int, max_pairs: float,
          national_id_pairs: bool) -> Linker:
    """Estimate the model without labels: u by random sampling, m by EM on several blocks.

    ``national_id_pairs`` says whether any two records share a national-ID token; without
    them the steps that need them are left out. A step the data is too small for is skipped
    and the priors in ``settings`` stand."""
    linker = Linker(db_api.register(input_table), settings(), log_level=logging.ERROR)
    by_token = [block_on("national_id_token")] if national_id_pairs else []
    _attempt(lambda: linker.training.estimate_probability_two_random_records_match(
        [*by_token, block_on("first_name", "last_name", "dob")], recall=0.7))
    _attempt(lambda: linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs,
                                                                      seed=seed))
    # EM blocks chosen so that households (same surname and address, sometimes the same birth
    # date: twins, Jr/Sr) do not pass for matches: pairs sharing a national-ID token, pairs
    # sharing full name and birth date, pairs sharing birth date and postcode, and pairs
    # sharing full name and postcode, which estimates how often one person's birth date is
    # wrong where there are no national IDs (a Jr/Sr pair passing it costs little next to that).
    def em(rule: Any) -> bool:
        return _attempt(lambda: linker.training
                        .estimate_parameters_using_expectation_maximisation(
                            rule, fix_probability_two_random_records_match=True))

    # Birth dates are decisive (link.CONFLICT_SQL) only if pairs sharing a national ID, the
    # one evidence free of households, show one person's birth date hardly ever differs.
    decisive = bool(national_id_pairs and em(block_on("national_id_token"))
                    and _dob_exact_m(linker.misc.save_model_to_json(out_path=None))
                    >= DOB_DECISIVE_MIN_EXACT_M)
    for rule in (block_on("first_name", "last_name", "dob"), block_on("dob", "postcode"),
                 block_on("first_name", "last_name", "postcode")):
        em(rule)
    linker._openbureau_dob_decisive = decisive  # type: ignore[attr-defined]
    return linker


def _attempt(step: Any) -> bool:
    try:
        step()
    except SplinkException as exc:
        logging.getLogger(__name__).warning("linkage training step skipped: %s",
                                            str(exc).splitlines()[0])
        return False
    return True


PROBABILITY_FLOOR = 1e-6


def _floor(model: dict[str, Any]) -> dict[str, Any]:
    """A level never seen in training gets a tiny probability rather than zero, whose log
    weight would be infinite (this happens on small workspaces)."""
    p = model.get("probability_two_random_records_match") or PROBABILITY_FLOOR
    model["probability_two_random_records_match"] = min(max(p, PROBABILITY_FLOOR), 0.5)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                if key in level and not level[key]:
                    level[key] = PROBABILITY_FLOOR
    return model


@dataclass(frozen=True)
class LinkageModel:
    """A trained model as saved in the workspace: Splink's settings plus our metadata."""

    settings: dict[str, Any]
    version: int
    birth_dates_decisive: bool


def _dob_exact_m(model: dict[str, Any]) -> float:
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] == "dob":
            exact = next(lv for lv in comparison["comparison_levels"]
                         if not lv.get("is_null_level"))
            return float(exact.get("m_probability") or 0.0)
    return 0.0


def save_model(linker: Linker, path: Path, version: int) -> None:
    model = _floor(linker.misc.save_model_to_json(out_path=None))
    model[MODEL_VERSION_KEY] = version
    model[DOB_DECISIVE_KEY] = bool(getattr(linker, "_openbureau_dob_decisive", False))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def load_model(path: Path) -> LinkageModel:
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the linkage model: {exc}") from None
    version = int(model.pop(MODEL_VERSION_KEY, 0))
    decisive = bool(model.pop(DOB_DECISIVE_KEY, False))
    return LinkageModel(model, version, decisive)


def linker_for(db_api: DuckDBAPI, input_table: str, model: dict[str, Any]) -> Linker:
    linker = Linker(db_api.register(input_table), model, log_level=logging.ERROR)
    for col in TF_COLUMNS:
        linker.table_management.compute_tf_table(col)
    return linker


def predict_all(linker: Linker, threshold: float) -> str:
    """Score all candidate pairs; return the scratch table of edges above ``threshold``."""
    pred = linker.inference.predict(threshold_match_probability=threshold)
    return str(pred.physical_name)


def predict_new(db_api: DuckDBAPI, linker: Linker, new_table: str, old_table: str,
                threshold: float) -> list[str]:
    """Score new records against existing ones and among themselves."""
    new = db_api.register(new_table)
    old = db_api.register(old_table)
    between = linker.inference.predict_between(new, old, threshold_match_probability=threshold,
                                               warning_mode="never")
    within = linker.inference.predict_within(new, threshold_match_probability=threshold,
                                             warning_mode="never")
    return [str(between.physical_name), str(within.physical_name)]


def cluster(db_api: DuckDBAPI, nodes: str, edges: str, threshold: float) -> str:
    """Connected components over ``edges`` (unique_id_l, unique_id_r, match_probability)."""
    result = cluster_pairwise_predictions_at_threshold(
        nodes, edges, db_api, node_id_column_name="unique_id",
        threshold_match_probability=threshold,
    )
    return str(result.physical_name)


def waterfall(db_api: DuckDBAPI, input_table: str, model: dict[str, Any],
              left_table: str, right_table: str) -> list[dict[str, Any]]:
    """Per comparison: each side's values, the level reached and its match weight (bits).

    ``left_table`` and ``right_table`` hold one input record each."""
    model = {**model, "retain_intermediate_calculation_columns": True,
             "retain_matching_columns": True}
    linker = linker_for(db_api, input_table, model)
    scored = linker.inference.score_pair(db_api.register(left_table),
                                         db_api.register(right_table)).as_record_list()[0]
    comparisons = linker._settings_obj.comparisons
    # what the comparisons do not explain is the prior: log2 of the odds two records match
    prior = float(scored["match_weight"]) - sum(
        float(scored.get(f"mw_{c.output_column_name}") or 0.0)
        + float(scored.get(f"mw_tf_adj_{c.output_column_name}") or 0.0) for c in comparisons)
    steps: list[dict[str, Any]] = [{"comparison": "prior",
                                    "level": "", "left": "", "right": "", "match_weight": prior}]
    for comparison in comparisons:
        name = comparison.output_column_name
        gamma = scored.get(f"gamma_{name}")
        level = next((lv for lv in comparison.comparison_levels
                      if lv.comparison_vector_value == gamma), None)
        columns = [c.input_name for c in comparison._input_columns_used_by_case_statement]
        steps.append({
            "comparison": name,
            "left": ", ".join(str(scored.get(f"{c}_l")) for c in columns),
            "right": ", ".join(str(scored.get(f"{c}_r")) for c in columns),
            "level": level.label_for_charts if level else "",
            "match_weight": float(scored.get(f"mw_{name}") or 0.0)
                            + float(scored.get(f"mw_tf_adj_{name}") or 0.0),
        })
    steps.append({"comparison": "total", "level": "", "left": "", "right": "",
                  "match_weight": float(scored["match_weight"]),
                  "match_probability": float(scored["match_probability"])})
    return steps
