"""Markdown rendering and neutralising: model Markdown read as JupyterLab reads it and made safe, where a
growing answer's finished blocks end and where a long block may be cut, Markdown tables of untrusted
text, and the Markdown/plain bundles an answer is shown with.
"""
