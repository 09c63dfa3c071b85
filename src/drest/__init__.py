"""drest: train and measure shutdownable agents with the DReST reward."""

__version__ = "0.1.0"

from . import _xla

_xla.configure()
