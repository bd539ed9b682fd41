"""The kernel tools and running code: what the agent may look at in the kernel (variables, errors, cells,
`@nbagent.tool` functions) and how it sees it (bounded summaries, images, secrets masked), the Run /
Skip approval of a call, and approved code run in the user's namespace.
"""
