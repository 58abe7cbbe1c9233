"""L2: the outer loop that evolves L1's promptgram (``ripmap-train-outer``).

One concept per module: ``versions`` (the promptgram files and their metadata),
``edits`` (what L2 may change), ``population`` (selection), ``summary`` (an inner run
reduced to what L2 reads), ``diagnostics`` (the seeds' failure modes), ``prompt`` and
``reply`` (talking to L2), ``heuristic`` (the offline L2 agent), ``agents`` (building and
recording L2 agents), ``scratchpad`` (the run's record), ``loop`` (the steps and the
judgement), ``preview`` / ``dry`` (``--dry``), ``plots`` and ``views`` (what a person looks at).
"""
