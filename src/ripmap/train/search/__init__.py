"""Search: the study, the one :class:`~.strategy.Strategy` interface, its classical
implementations (``strategies/``), the loop every strategy runs through (``loop``),
storage and workers, and the sensitivity study."""
