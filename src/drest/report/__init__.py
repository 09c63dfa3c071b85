"""The HTML report (``drest report``; :func:`drest.report.build.build_report`) and matplotlib
pictures of worlds and policies (:mod:`drest.report.draw`, no JAX needed to draw a world)."""

from .draw import draw_lengths, draw_world

__all__ = ["draw_lengths", "draw_world"]
