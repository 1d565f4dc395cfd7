"""`crm test` runs the workflow steps (move, approve, reject, convert) and the approval_pending check."""
from __future__ import annotations

from engine.metadata.loader import load_config
from engine.runtime.scenarios import run_tests

from .conftest import FILES

TESTS = """
test: a big discount waits for the manager, then the deal can be lost or won
given:
  - {user: rep1, roles: [rep], team: north}
  - {user: boss, roles: [manager], team: north}
  - {entity: deal, as: d, as_user: rep1, values: {name: Big, amount: 1000, discount_pct: 20}}
when:
  - {move: $d, to: won, as_user: rep1}
expect:
  - {refused: "approval big_discount"}
  - {refused: "field close_date"}
  - {approval_pending: big_discount, record: $d}
  - {values: {$d: {stage: new}}}
---
test: approving clears the approval requirement
given:
  - {user: rep1, roles: [rep], team: north}
  - {user: boss, roles: [manager], team: north}
  - {entity: deal, as: d, as_user: rep1, values: {name: Big, amount: 1000, discount_pct: 20, lost_reason: price}}
  - {approve: big_discount, record: $d, as_user: boss}
when:
  - {move: $d, to: lost, as_user: rep1}
expect:
  - {ok: true}
  - {values: {$d: {stage: lost}}}
---
test: a rejection needs a reason
given:
  - {user: rep1, roles: [rep], team: north}
  - {user: boss, roles: [manager], team: north}
  - {entity: deal, as: d, as_user: rep1, values: {name: Big, amount: 1000, discount_pct: 20}}
when:
  - {reject: big_discount, record: $d, as_user: boss}
expect:
  - {refused: "needs a reason"}
  - {approval_pending: big_discount, record: $d}
---
test: converting a qualified lead
given:
  - {user: rep1, roles: [rep], team: north}
  - {entity: lead, as: l, values: {company: ACME, tax_number: "9", status: qualified, owner: rep1}}
when:
  - {convert: $l, action: to_deal, as_user: rep1}
expect:
  - {ok: true}
  - {values: {$l: {status: converted}}}
  - {count: {entity: deal, filter: "lead == $l", equals: 1}}
---
test: a wrong expectation fails with what was found
given:
  - {user: rep1, roles: [rep], team: north}
  - {entity: deal, as: d, as_user: rep1, values: {name: Small, amount: 10}}
when:
  - {move: $d, to: qualified, as_user: rep1}
expect:
  - {approval_pending: big_discount, record: $d}
"""


def test_workflow_steps_run_in_scenario_tests(write_config):
    config = load_config(write_config({**FILES, "tests/workflow.yaml": TESTS}))
    outcomes = run_tests(config)
    assert [(o.name, o.passed) for o in outcomes[:4]] == [
        ("a big discount waits for the manager, then the deal can be lost or won", True),
        ("approving clears the approval requirement", True),
        ("a rejection needs a reason", True),
        ("converting a qualified lead", True),
    ], [o.reason for o in outcomes]
    last = outcomes[4]
    assert not last.passed and "has no request of approval big_discount" in last.reason
