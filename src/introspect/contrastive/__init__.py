"""The study of notebook 02, as functions: why does a classifier err, and which explanation says so?

* :mod:`.study`: the measurements the notebook makes beyond :mod:`introspect.metrics` (what smoothing
  a map costs, where contrastive evidence sits on a garment, what an occlusion fill removes, the sign of a class activation map, saliency against a
  planted trigger of each contrast), each returning a DataFrame;
* :mod:`.figures`: the notebook's figures, arrays and DataFrames in, ``(fig, axes)`` out.
"""
from . import figures
from .study import (GARMENT_PARTS, cam_sums, fill_table, known_evidence, pick_examples, region_evidence,
                    smoothing_table)

__all__ = ["figures", "GARMENT_PARTS", "cam_sums", "fill_table", "known_evidence", "pick_examples", "region_evidence",
           "smoothing_table"]
