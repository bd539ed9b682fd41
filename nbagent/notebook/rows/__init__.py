"""`%%ask --each ROWS -o OUT`: one question over every row, as a map on the request loop, and what the
cell shows of it (progress, then the summary line).
"""
