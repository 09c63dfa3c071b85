"""The HTML report (``drest report``; :func:`drest.report.build.build_report`) and where a
policy goes in a world (:mod:`drest.report.visitation`). Pictures of worlds are drawn by
:mod:`drest.worlds.draw`."""
