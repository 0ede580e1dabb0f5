"""The validation report: self-contained HTML an approver can trust to say what it lacks."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from finmlops.config import Config
from finmlops.contracts import ApprovalRecord
from finmlops.gates import GATES
from finmlops.governance.bundle import Decision, EvidenceBundle, gate_rows
from finmlops.governance.evidence import write_evidence
from finmlops.governance.report import (
    BANNER_INCOMPLETE,
    missing_evidence,
    record_decision,
    render_validation_report,
)
from finmlops.modelbuild import LocalBuild, run_local

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"


@pytest.fixture(scope="module")
def complete_html(config: Config, complete_bundle: EvidenceBundle) -> str:
    return render_validation_report(config, complete_bundle, generated_at="2026-11-28T10:00:00Z")


def _text(html: str) -> str:
    """The visible text, one space between elements."""
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def _without(evaluation: dict[str, Any], *paths: str) -> dict[str, Any]:
    pruned = copy.deepcopy(evaluation)
    for path in paths:
        *parents, leaf = path.split(".")
        node = pruned
        for part in parents:
            node = node[part]
        del node[leaf]
    return pruned


def test_complete_evidence_says_so_and_has_no_incomplete_banner(complete_html: str) -> None:
    assert BANNER_INCOMPLETE not in complete_html
    assert "Evidence complete." in complete_html
    assert '<meta name="evidence-status" content="complete">' in complete_html


def test_every_gate_appears_with_its_threshold_value_and_result(
    config: Config, complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    gates = _section(complete_html, "gates").split("</table>")[0]  # the gates' own table
    rows = re.findall(r"<tr>(.*?)</tr>", gates, flags=re.S)[1:]
    assert len(rows) == len(GATES)
    for gate, row, result in zip(GATES, rows, gate_rows(config, complete_bundle), strict=True):
        cells = [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        assert cells[0].startswith(gate.name)
        assert cells[3] == gate.comparison
        assert cells[4] == f"{gate.threshold(config):g}"
        assert cells[5] == gate.parameter
        assert cells[6] == "pass"
        assert result.value is not None
    auc = complete_bundle.evaluation["binary_classification_metrics"]["auc"]["value"]  # type: ignore[index]
    assert f"{auc:.4f}" in gates


def test_a_failed_gate_is_shown_failed_with_the_threshold_the_run_used(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    bundle = replace(complete_bundle, threshold_overrides={"MinAuc": 0.99})
    html = render_validation_report(config, bundle)
    row = next(
        r
        for r in re.findall(r"<tr>(.*?)</tr>", _section(html, "gates"), flags=re.S)
        if "min-auc" in r
    )
    assert '<td class="num">0.99</td>' in row
    assert '<span class="FAIL">FAIL</span>' in row
    assert "1 release gate(s) failed: min-auc." in html


def _curve(svg: str) -> tuple[list[str], str]:
    """The points of a chart's `curve` line (matplotlib's path commands) and its group."""
    group = re.search(r'<g id="curve">(.*?)</g>\s*</g>', svg, flags=re.S)
    assert group, "no curve in the chart"
    path = re.search(r'<path d="([^"]+)"', group.group(1))
    assert path
    return re.findall(r"[ML] [-\d.]+ [-\d.]+", path.group(1)), group.group(1)


def test_plots_are_inline_svg_drawn_from_the_curves(
    complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    performance = _section(complete_html, "performance")
    svgs = re.findall(r"<svg\b.*?</svg>", performance, flags=re.S)
    labels = [re.search(r'aria-label="([^"]+)"', s).group(1) for s in svgs]  # type: ignore[union-attr]
    assert labels[0].startswith("ROC curve (AUC 0.7")
    assert "Calibration by score decile" in labels
    metrics = complete_bundle.evaluation["binary_classification_metrics"]  # type: ignore[index]
    roc_points, _ = _curve(svgs[0])
    # Every point of evaluation.json is drawn: nothing simplified away.
    assert len(roc_points) == len(
        metrics["receiver_operating_characteristic_curve"]["false_positive_rates"]
    )
    calibration_points, group = _curve(svgs[labels.index("Calibration by score decile")])
    assert len(calibration_points) == len(metrics["calibration"])
    assert group.count("<use ") == len(metrics["calibration"])  # one marker per decile
    assert any(label.endswith("intervals (bootstrap)") for label in labels)
    assert re.search(r"<svg\b", _section(complete_html, "fairness"))
    explanation = _section(complete_html, "explanation")
    assert 'aria-label="Global importance (top 10)"' in explanation
    assert 'aria-label="Dependence: ' in explanation


def test_report_loads_nothing_from_the_network(complete_html: str) -> None:
    assert "http://" not in complete_html
    assert "https://" not in complete_html
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", complete_html)
    assert not re.search(r"\bsrc\s*=", complete_html)
    assert "@import" not in complete_html
    # Only references to this document's own fragments (the charts' clip paths and markers).
    assert re.findall(r"url\(([^)]*)\)", complete_html)
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", complete_html))
    assert "default-src 'none'" in complete_html
    hrefs = re.findall(r'href="([^"]*)"', complete_html)
    assert hrefs and all(h.startswith("#") for h in hrefs)


def test_same_evidence_gives_the_same_bytes(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    first = render_validation_report(config, complete_bundle, generated_at="x")
    again = render_validation_report(config, copy.deepcopy(complete_bundle), generated_at="x")
    assert first == again


def test_written_evidence_files_are_byte_identical_across_runs(
    config: Config, local_build: LocalBuild, baseline_dir: Path, tmp_path: Path
) -> None:
    def write(folder: Path) -> dict[str, Path]:
        return write_evidence(
            config, local_build, folder, git_commit="abc1234", training_image=IMAGE,
            baseline_statistics=baseline_dir / "statistics.json",
            baseline_constraints=baseline_dir / "constraints.json",
        )  # fmt: skip

    first, second = write(tmp_path / "a"), write(tmp_path / "b")
    assert sorted(first) == ["model_card", "model_card_html", "registry_card", "validation_report"]
    assert first["validation_report"].name == "validation_report.html"
    assert first["model_card"].name == "model_card.json"
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()
    assert BANNER_INCOMPLETE not in first["validation_report"].read_text()


def test_missing_evaluation_gives_an_incomplete_banner_naming_what_is_missing(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    bundle = replace(complete_bundle, evaluation=None)
    html = render_validation_report(config, bundle)
    missing = missing_evidence(config, bundle)
    assert missing[0].startswith("evaluation.json (evaluate output: model metrics, ROC")
    banner = re.search(r'<div class="banner incomplete"[^>]*>(.*?)</div>', html, flags=re.S)
    assert banner, "no INCOMPLETE EVIDENCE banner"
    assert BANNER_INCOMPLETE in banner.group(1)
    items = [unescape(i) for i in re.findall(r"<li>(.*?)</li>", banner.group(1))]
    assert items == missing
    model_gates = [g.name for g in GATES if g.source == "evaluation"]
    assert [i for i in items if i.startswith("gate ")] == [
        f"gate {name}: not evaluated (evaluation.json is missing)" for name in model_gates
    ]
    # The banner comes before any section, and the empty sections say what they lack.
    assert html.index("incomplete-evidence") < html.index("<section")
    assert "Missing:" in _section(html, "performance")
    assert "Missing:" in _section(html, "fairness")
    assert "<svg" not in _section(html, "performance")
    assert '<meta name="evidence-status" content="incomplete">' in html


def test_evaluation_without_curves_lists_each_missing_part(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    evaluation = _without(
        dict(complete_bundle.evaluation or {}),
        "binary_classification_metrics.receiver_operating_characteristic_curve",
        "binary_classification_metrics.calibration",
        "fairness.groups",
    )
    bundle = replace(complete_bundle, evaluation=evaluation)
    missing = missing_evidence(config, bundle)
    assert len(missing) == 3
    assert missing[0].startswith("ROC curve")
    assert missing[1].startswith("calibration table")
    assert missing[2].startswith("fairness by protected group")
    html = render_validation_report(config, bundle)
    assert BANNER_INCOMPLETE in html
    assert "Missing: ROC curve" in _text(_section(html, "performance"))


def test_missing_drift_baseline_is_reported_unless_the_deployment_waives_it(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    bundle = replace(complete_bundle, baseline_statistics=None, baseline_constraints=None)
    assert missing_evidence(config, bundle) == [
        "drift baseline statistics.json (baseline step output)"
    ]
    assert missing_evidence(config, bundle, require_drift_baseline=False) == []
    waived = render_validation_report(config, bundle, require_drift_baseline=False)
    assert BANNER_INCOMPLETE not in waived


def test_unknown_lineage_is_missing_evidence(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    lineage = replace(complete_bundle.lineage, git_commit="unknown", training_image="")
    missing = missing_evidence(config, replace(complete_bundle, lineage=lineage))
    assert missing == ["lineage: git commit", "lineage: training image"]


def test_build_stopped_by_data_quality_gates_has_an_incomplete_report(
    config: Config, tmp_path: Path
) -> None:
    strict = config.model_copy(
        update={
            "gates": config.gates.model_copy(
                update={
                    "data_quality": config.gates.data_quality.model_copy(
                        update={"min_rows": 100_000}
                    )
                }
            )
        }
    )
    build = run_local(strict, tmp_path / "build")
    assert build.failed_gates == ["min-rows"]
    files = write_evidence(
        strict, build, tmp_path / "evidence", git_commit="abc1234", training_image=IMAGE,
        baseline_statistics=None,
    )  # fmt: skip
    html = files["validation_report"].read_text()
    text = _text(html)
    assert BANNER_INCOMPLETE in html
    assert "evaluation.json (evaluate output" in text
    assert "1 release gate(s) failed: min-rows." in text
    gates = _text(_section(html, "gates"))
    assert "min-rows enough rows to train on" in gates
    # Every evaluation gate (the champion's too) is reported, not evaluated.
    assert gates.count("not evaluated") == 5


def test_report_shows_data_summary_fingerprint_and_split(
    complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    data = _text(_section(complete_html, "data"))
    fingerprint = complete_bundle.data_quality["data_fingerprint"]  # type: ignore[index]
    assert f"Data fingerprint {fingerprint}" in data
    assert "Rows 9,857" in data
    assert "Positive share 5.25%" in data
    assert "Split train 6,407, validation 1,479, test 1,971" in data
    lineage = _text(_section(complete_html, "lineage"))
    assert fingerprint in lineage
    assert "0123456789abcdef0123456789abcdef01234567" in lineage
    assert IMAGE in lineage


def test_fairness_section_has_a_row_per_group(
    complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    fairness = _section(complete_html, "fairness")
    (attribute,) = complete_bundle.evaluation["fairness"]["attributes"]  # type: ignore[index]
    table = fairness[fairness.index("<h3>By value of <code>emp_length</code></h3>") :]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(yes|no)</td>", table)
    assert rows == [(g["group"], "yes" if g["protected"] else "no") for g in attribute["by_value"]]
    groups = fairness[fairness.index("<h3>By protected group</h3>") :]
    assert "<td><code>emp_length</code></td>" in groups
    assert str(escape('emp_length in ["emp_lt_1", "emp_unk"]')) in groups
    assert ">pass</td>" in groups


def test_the_reason_a_protected_attribute_is_a_model_input_is_in_the_report(
    config: Config, complete_html: str
) -> None:
    (attribute,) = config.model.fairness.protected_attributes
    assert attribute.used_as_feature_because
    fairness = _text(_section(complete_html, "fairness"))
    assert "Used as a model input because: " + attribute.used_as_feature_because in fairness


def test_data_quality_and_drift_baseline_are_summarised(complete_html: str) -> None:
    section = _text(_section(complete_html, "data-quality"))
    assert "9,857 rows; largest missing share 0.00%" in section
    assert "6,407 baseline rows, 2 features" in section
    assert "int_rate Fractional 6,407 0.00% mean 12.6100, sd 4.7100" in section
    assert "term String 6,400 0.11% 2 distinct values" in section  # a count, not 2.0000
    assert "distribution comparison threshold 0.1000" in section


def test_undecided_version_says_it_waits_and_a_decision_is_recorded(
    config: Config, complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    assert "No decision yet" in _section(complete_html, "decision")
    record = ApprovalRecord(
        "arn:aws:iam::111111111111:user/bob", "2026-11-29T09:00:00Z", "meets policy"
    )
    html = render_validation_report(
        config, replace(complete_bundle, decision=Decision("Approved", record))
    )
    decision = _text(_section(html, "decision"))
    assert "Decision Approved" in decision
    assert "By arn:aws:iam::111111111111:user/bob" in decision
    assert "Reason meets policy" in decision
    assert "Registry status Approved" in _text(_section(html, "summary"))


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_recording_a_decision_in_a_stored_report_equals_rendering_it_with_the_decision(
    config: Config, complete_bundle: EvidenceBundle, complete_html: str, status: str
) -> None:
    """The renderer is the oracle: filling a pending report changes exactly what rendering the
    same evidence with the decision changes, and nothing else."""
    decision = Decision(
        status, ApprovalRecord("arn:aws:iam::1:user/bob", "2026-11-29T09:00:00Z", "a <b> & c")
    )
    expected = render_validation_report(
        config,
        replace(complete_bundle, decision=decision),
        generated_at="2026-11-28T10:00:00Z",
    )
    assert record_decision(complete_html, decision) == expected
    with_record = record_decision(complete_html, decision, audit_record="2026/11/29/x-approve-1")
    assert "Audit record 2026/11/29/x-approve-1" in _text(_section(with_record, "decision"))


def test_the_decision_names_the_validators_signoff_it_checked_and_only_then(
    config: Config, complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    record = ApprovalRecord("bob", "2026-11-29T09:00:00Z", "ok")
    signed = Decision("Approved", record, signoff="dana <v> (audit record g/000000000002)")

    filled = _text(_section(record_decision(complete_html, signed), "decision"))
    unsigned = _text(
        _section(record_decision(complete_html, Decision("Approved", record)), "decision")
    )

    assert "Validator sign-off dana <v> (audit record g/000000000002)" in filled
    assert "Validator sign-off" not in unsigned
    assert record_decision(complete_html, signed) == render_validation_report(
        config, replace(complete_bundle, decision=signed), generated_at="2026-11-28T10:00:00Z"
    )


def test_a_report_that_is_not_pending_is_not_filled_again(
    complete_html: str,
) -> None:
    decision = Decision("Approved", ApprovalRecord("bob", "2026-11-29T09:00:00Z", "ok"))
    filled = record_decision(complete_html, decision)
    for document in (filled, "<html>not a report</html>"):
        with pytest.raises(ValueError, match="not a pending report"):
            record_decision(document, decision)


def test_configured_text_is_escaped_not_interpreted(
    config: Config, complete_bundle: EvidenceBundle
) -> None:
    model = config.model.model_copy(update={"description": '<script>alert("x")</script> & co'})
    html = render_validation_report(config.model_copy(update={"model": model}), complete_bundle)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in html


def test_the_report_shows_the_tiers_required_evidence_and_what_is_missing(
    config: Config, complete_bundle: EvidenceBundle, complete_html: str
) -> None:
    """Validation depth by tier (governance.tiers.<tier>.required_evidence): each section the
    tier requires, present or missing, as approval will judge it (gatecheck.evidence_present)."""
    assert config.governance.risk_tier == "high"
    shown = _text(_section(complete_html, "gates"))
    assert "Evidence required by risk tier high" in shown
    for name in config.governance.tier.required_evidence:
        assert f"{name} " in shown
    assert "MISSING" not in shown
    evaluation = _without(complete_bundle.evaluation or {}, "explanation")
    html = render_validation_report(config, replace(complete_bundle, evaluation=evaluation))
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td>[^<]*</td><td>(.*?)</td></tr>",
                      _section(html, "gates"))  # fmt: skip
    assert {name: "MISSING" in result for name, result in rows} == {
        name: name == "explanations" for name in config.governance.tier.required_evidence
    }
