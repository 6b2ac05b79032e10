"""The study of notebook 02, as functions: why does a classifier err, and which explanation says so?

* :mod:`.study`: the measurements the notebook makes beyond :mod:`introspect.metrics` (what smoothing
  a map costs, what an occlusion fill removes, the sign of a class activation map, saliency against a
  planted trigger of each contrast), each returning a DataFrame;
* :mod:`.figures`: the notebook's figures, arrays and DataFrames in, ``(fig, axes)`` out.
"""
from . import figures
from .study import cam_sums, fill_table, known_evidence, pick_examples, smoothing_table

__all__ = ["figures", "cam_sums", "fill_table", "known_evidence", "pick_examples", "smoothing_table"]
