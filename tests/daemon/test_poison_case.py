"""A case whose timeout cannot be taken is set aside, shown to operators, retried by them."""

from __future__ import annotations

import json

import pytest

from tests.daemon.helpers import Db, run_cli, seed_due_reviews

pytestmark = pytest.mark.postgres

BAD_ACTION = "CP000007"  # refund_only pending_review told to time out with pod_timeout
BAD_POLICY = "CP000123"  # pinned to a policy version this database never stored


def test_poison_cases_are_quarantined_listed_skipped_and_fire_once_retried_after_a_fix(
    pg_url: str, pg: Db
) -> None:
    case_ids = seed_due_reviews(pg_url, 300, prefix="P")
    bad_action, bad_policy = BAD_ACTION, BAD_POLICY
    assert {bad_action, bad_policy} <= set(case_ids)
    pg.execute("UPDATE cases SET deadline_action = 'pod_timeout' WHERE case_id = :c", c=bad_action)
    pg.execute("UPDATE cases SET policy_version = 'gone-000000' WHERE case_id = :c", c=bad_policy)
    once = ("daemon", "--once", "--db", pg_url, "--remind-before", "0", "--batch", "1000")

    first = run_cli(*once)  # one batch holds all 300: the two must not hold up the rest
    assert first.returncode == 0, first.stderr
    assert '"fired": 298' in first.stderr and '"quarantined": 2' in first.stderr, first.stderr
    fired = pg.per_case("review_timeout")
    assert sorted(fired) == sorted(set(case_ids) - {bad_action, bad_policy})
    assert set(fired.values()) == {1}

    shown = run_cli("status", "--db", pg_url, "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    quarantined = {entry["case_id"]: entry["error"] for entry in status["quarantined"]}
    assert set(quarantined) == {bad_action, bad_policy}
    assert "pod_timeout" in quarantined[bad_action]
    assert "gone-000000" in quarantined[bad_policy]
    assert status["overdue"] == 0  # quarantined cases are not counted as a backlog

    again = run_cli(*once)  # skipped, not retried in a loop
    assert again.returncode == 0, again.stderr
    assert '"fired": 0' in again.stderr and '"quarantined": 0' in again.stderr, again.stderr
    assert pg.transitions() == 298

    # retried without a fix: it goes back, fails again, and is set aside again
    assert "back in the sweep" in run_cli("case", "retry", bad_action, "--db", pg_url).stdout
    assert '"quarantined": 1' in run_cli(*once).stderr
    assert pg.transitions() == 298

    # the operator fixes the data, then retries both: the next --once fires each, once
    pg.execute(
        "UPDATE cases SET deadline_action = 'review_timeout' WHERE case_id = :c", c=bad_action
    )
    pg.execute(
        "UPDATE cases SET policy_version = (SELECT policy_version FROM cases WHERE case_id = :ok) "
        "WHERE case_id = :c",
        c=bad_policy,
        ok=case_ids[0],
    )
    for case_id in (bad_action, bad_policy):
        retried = run_cli("case", "retry", case_id, "--db", pg_url)
        assert retried.returncode == 0 and "back in the sweep" in retried.stdout, retried
    last = run_cli(*once)
    assert last.returncode == 0 and '"fired": 2' in last.stderr, last.stderr
    per_case = pg.per_case("review_timeout")
    assert sorted(per_case) == sorted(case_ids) and set(per_case.values()) == {1}
    assert json.loads(run_cli("status", "--db", pg_url, "--json").stdout)["quarantined"] == []
    assert pg.states() == {"refunded": 300}
