"""The only module that imports ``transitions``: one shared machine per workflow.

A machine is built once per workflow (``model=None``, no auto transitions) and triggered with
the case as the model, so loading a case never builds a machine and a case costs no memory in
the machine (transitions FAQ; issues #146 and #434). Callbacks never do I/O and never trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from transitions import Machine, MachineError

from aftersale.domain.model import Action, Case, State
from aftersale.domain.workflows.base import Workflow, check_sound
from aftersale.errors import NotAllowed

logging.getLogger("transitions").setLevel(logging.WARNING)


class WorkflowMachine:
    """Moves a case along one workflow; refusals become :class:`NotAllowed`, never ``False``."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._machine = Machine(
            model=None,
            states=list(workflow.states),
            initial=State.pending_review,
            auto_transitions=False,
            send_event=True,
        )
        for transition in workflow.transitions:
            conditions: list[str | Callable[..., bool | None]] = []
            if transition.guard is not None:
                guard = transition.guard
                conditions.append(
                    lambda event, guard=guard: guard(event.kwargs["fields"], event.model) is None
                )
            self._machine.add_transition(
                transition.action.value,
                transition.source,
                transition.dest,
                conditions=conditions,
            )

    def fire(self, case: Case, action: Action, fields: Mapping[str, Any]) -> State:
        """Take ``action`` on ``case`` (changing ``case.state``) and return the new state."""
        event = self._machine.events.get(action.value)
        if event is None or not self.workflow.allows(case.state, action):
            raise NotAllowed(case.case_id, case.state.value, action.value)
        try:
            moved = event.trigger(case, fields=fields)
        except MachineError as error:  # the table and the machine disagree: still a refusal
            raise NotAllowed(case.case_id, case.state.value, action.value) from error
        if not moved:
            raise NotAllowed(
                case.case_id,
                case.state.value,
                action.value,
                self._why_refused(case, action, fields),
            )
        return case.state

    def _why_refused(self, case: Case, action: Action, fields: Mapping[str, Any]) -> str:
        reasons = [
            why
            for t in self.workflow.transitions
            if t.source is case.state and t.action is action and t.guard is not None
            for why in [t.guard(fields, case)]
            if why
        ]
        return "; ".join(reasons)


class Machines:
    """The machines of every workflow, built once by the composition root."""

    def __init__(self, workflows: Mapping[Any, Workflow]) -> None:
        for workflow in workflows.values():  # an unsound table never runs a single case
            check_sound(workflow)
        self._by_kind = {kind: WorkflowMachine(wf) for kind, wf in workflows.items()}

    def __getitem__(self, kind: Any) -> WorkflowMachine:
        return self._by_kind[kind]
