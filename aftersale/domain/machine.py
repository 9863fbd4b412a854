"""The only module that imports ``transitions``: one shared machine per workflow.

A machine is built once per workflow (``model=None``, no auto transitions) and triggered with
the case (or ticket) as the model, so loading one never builds a machine and it costs no memory in
the machine (transitions FAQ; issues #146 and #434). Callbacks never do I/O and never trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any, Generic

from transitions import Machine, MachineError

from aftersale.domain.model import Action, State
from aftersale.domain.workflows.base import ActionT, StateT, Workflow, check_sound
from aftersale.errors import NotAllowed

logging.getLogger("transitions").setLevel(logging.WARNING)


class WorkflowMachine(Generic[StateT, ActionT]):
    """Moves a case (or another subject: ``subject`` names it in refusals, its id read by
    ``id_of``) along one workflow; refusals become :class:`NotAllowed`, never ``False``."""

    def __init__(
        self,
        workflow: Workflow[StateT, ActionT],
        subject: str = "case",
        id_of: Callable[[Any], str] = attrgetter("case_id"),
    ) -> None:
        self.workflow = workflow
        self._subject = subject
        self._id_of = id_of
        self._machine = Machine(
            model=None,
            states=list(workflow.states),
            initial=workflow.initial,
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

    def fire(self, case: Any, action: ActionT, fields: Mapping[str, Any]) -> StateT:
        """Take ``action`` on ``case`` (changing ``case.state``) and return the new state."""
        event = self._machine.events.get(action.value)
        if event is None or not self.workflow.allows(case.state, action):
            raise self._refused(case, action)
        try:
            moved = event.trigger(case, fields=fields)
        except MachineError as error:  # the table and the machine disagree: still a refusal
            raise self._refused(case, action) from error
        if not moved:
            raise self._refused(case, action, self._why_refused(case, action, fields))
        state: StateT = case.state
        return state

    def _refused(self, case: Any, action: ActionT, why: str = "") -> NotAllowed:
        return NotAllowed(
            self._id_of(case), case.state.value, action.value, why, subject=self._subject
        )

    def _why_refused(self, case: Any, action: ActionT, fields: Mapping[str, Any]) -> str:
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

    def __init__(self, workflows: Mapping[Any, Workflow[State, Action]]) -> None:
        for workflow in workflows.values():  # an unsound table never runs a single case
            check_sound(workflow)
        self._by_kind = {kind: WorkflowMachine(wf) for kind, wf in workflows.items()}

    def __getitem__(self, kind: Any) -> WorkflowMachine[State, Action]:
        return self._by_kind[kind]
