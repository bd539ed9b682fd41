"""The Jupyter layer: magics, live answer display, settings panel. Depends on the core, never the reverse."""
