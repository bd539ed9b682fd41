"""The exceptions under PydanticAI's module name: `from nbagent.exceptions import UsageLimitExceeded`.

They are defined in errors.py (one tree, keys scrubbed from every message); this module only names them.
`AgentRunError` is PydanticAI's name for the base of the errors a run raises.
"""

from .errors import (ApprovalRequired, CallDeferred, ModelConnectionError, ModelHTTPError, ModelRetry, NbAgentError,
                     RunCancelled, ToolExecutionError, ToolFailed, UnexpectedModelBehavior, UsageLimitExceeded,
                     UserError)
from .concurrency import ConcurrencyLimitExceeded
from .usage import CostNotFoundWarning

AgentRunError = NbAgentError

__all__ = ["AgentRunError", "ApprovalRequired", "CallDeferred", "ConcurrencyLimitExceeded", "CostNotFoundWarning", "ToolFailed", "ModelConnectionError", "ModelHTTPError", "ModelRetry", "NbAgentError", "RunCancelled",
           "ToolExecutionError", "UnexpectedModelBehavior", "UsageLimitExceeded", "UserError"]
