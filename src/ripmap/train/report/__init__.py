"""Reports on runs: charts (``plots``), the runs-folder views (``views``) and
distillation of a run into presets, heuristics and warnings (``distill``)."""
