"""What the `%agent_*` line magics show: `%agent_history`, `%agent_usage`, `%agent_models`, `%agent_jobs`
and the settings panel of `%agent_settings`.
"""
