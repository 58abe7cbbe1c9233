"""L1: the reasoning agent that tunes ranking parameters from ranking failures.

``reply`` (reading an agent's answer), ``step`` (what a direction and magnitude do),
``prompt`` (the episode state as text and as a structured context), ``episode`` and
``scratchpad`` (the run's memory), ``promptgram`` and ``protocol`` (the prompt's
editable and fixed parts) and ``strategy`` (L1 as one of the search strategies).
"""
