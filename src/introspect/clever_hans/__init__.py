"""The Clever Hans study of notebook 01 (Lapuschkin et al. 2019, arXiv:1902.10178), as functions.

* :mod:`.study`: the four planted triggers (:func:`~.study.fashion_plan`), poisoned data, training,
  behaviour (accuracy without and with the trigger, transplant flips), relevance inside the triggers;
* :mod:`.runs`: the trainings behind the notebook (several seeds, the poisoning sweep), their budgets,
  and the results files that ``scripts/clever_hans_runs.py`` writes and the notebook loads;
* :mod:`.repairs`: masks from the plan or from explanations alone, inpainted counterexamples, the
  Right-for-the-Right-Reasons and P-ClArC repairs and their table;
* :mod:`.text`: the same shortcut in text, a planted word in film snippets found by token saliency;
* :mod:`.figures`: the notebook's figures, DataFrames in, ``(fig, axes)`` out.
"""
