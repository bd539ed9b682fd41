"""The live answer view: what one answer shows while it streams and after it: finished blocks sent once
and the growing tail updated in place, a line per tool call, the model's thinking, a structured object
as it forms.
"""
