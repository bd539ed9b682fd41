"""The exceptions under PydanticAI's module name: `from nbagent.exceptions import UsageLimitExceeded`.

They are defined in errors.py (one tree, keys scrubbed from every message); this module only names them.
`AgentRunError` is PydanticAI's name for the base of the errors a run raises.
"""

from .errors import (ModelConnectionError, ModelHTTPError, ModelRetry, NbAgentError, RunCancelled,
                     ToolExecutionError, UnexpectedModelBehavior, UsageLimitExceeded, UserError)

AgentRunError = NbAgentError

__all__ = ["AgentRunError", "ModelConnectionError", "ModelHTTPError", "ModelRetry", "NbAgentError", "RunCancelled",
           "ToolExecutionError", "UnexpectedModelBehavior", "UsageLimitExceeded", "UserError"]
