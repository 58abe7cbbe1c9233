"""L1 as a strategy: an agent that proposes the next point from the last point's failures.

Each trial after the start point is one episode: failures of the current point (with
per-signal attributions), sampled across repositories, tasks and failure kinds with the
ones not shown yet first (:mod:`.rotation`), the trajectory and the accumulated insights are shown to
an agent → its ``{param: [direction, magnitude, rationale]}`` reply is parsed → the step
rule moves the parameters → the loop evaluates the new point, which is also the next
episode's starting measurement (each point is evaluated once).

A change that lowers train NDCG is kept: the next episode starts from the new point and
its prompt shows the measured effect, so the agent can revert (or learn why). The best
point is tracked separately (it is the run's ``results.trained.json``).

Besides the loop's files, an L1 run folder holds ``scratchpad.json`` (every finished
episode, written before the trial is recorded, so none is ever lost), ``promptgram.md``
(the promptgram the run started with; a resumed run keeps it), ``prompts/episode_NNN.md``
and ``episode_NNN.reply.md`` (the exact prompt and reply of every episode, gzipped when
large: :mod:`.transcripts`) and ``replies.jsonl`` (every reply, keyed by its prompt):
``--replay RUN`` re-runs a run from those replies without calling the agent and
reproduces it exactly. The promptgram and the agent can be passed in, which is how an
outer loop (L2) runs L1 with a promptgram of its own.

Several workers on one shared study (``--storage URL --run-name NAME``) share one
trajectory. Each finished episode travels with its trial (the whole record and its
prompt, :data:`EPISODE_ATTR`, :data:`PROMPT_ATTR`); before each episode a worker rebuilds
its scratchpad from the study (:meth:`L1Strategy.observe`), so it reasons from the latest
point whoever reached it, and every worker's episodes end up in every scratchpad.
Episodes are numbered in the order they finish.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from ...errors import RipmapError, UsageError
from ...rank.params import Params
from ..agents import AgentSettings
from ..console import say
from ..files import atomic_write_text, read_json
from ..numbers import fixed, utc_now
from ..search.loop import CONFIG, check_run_name
from ..search.space import params_from_trial, search_space
from ..search.strategy import RunFolder, Space, Strategy, suggest_point
from ..search.study import START_ATTR, StudySetup, TrialRecord
from .episode import FLAG_AGENT_ERROR, FLAG_LOCK_IN, FLAG_LOW_CONF, FLAG_SCHEMA, Episode, StartPoint
from .prompt import LOCK_IN_EPISODES, PromptState, agent_context, build_prompt, slices
from .promptgram import DEFAULT_NAME, Promptgram, load_promptgram, parse_promptgram
from .protocol import protocol_sha256
from .reply import ParsedReply, Proposal, parse_reply
from .rotation import FAILURES_SHOWN, select_failures
from .scratchpad import SCRATCHPAD, Scratchpad, unchanged_streak
from .step import Decision, apply_changes
from .transcripts import episode_stem, pack, read_prompt, unpack, write_transcript

if TYPE_CHECKING:
    import optuna
    from optuna.samplers import BaseSampler
    from optuna.trial import FrozenTrial

    from ..agents import Agent, AgentReply
    from ..evaluation.evaluator import Evaluator
    from ..evaluation.measurement import Measurement
    from ..search.loop import RunResult
    from ..search.strategy import Measure

SCHEMA_CORRUPTION_CHARS = 200
"""Reasoning longer than this with no usable change is the seeds' "schema corruption"."""
PROMPTGRAM_FILE = "promptgram.md"
EPISODE_ATTR = "l1_episode"
"""Trial attribute holding the finished episode's whole record (what other workers merge)."""
PROMPT_ATTR = "l1_prompt"
"""Trial attribute holding the episode's prompt, gzipped and base64-encoded."""


@dataclass(frozen=True)
class L1Settings:
    """How L1 runs: the agent, the promptgram file (``None``: the shipped default), the
    confidence below which nothing is applied, a run to replay instead of calling the
    agent, and how many failures each episode shows (drawn from the evaluator's
    ``failure_pool``)."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    prompt: str | None = None
    min_confidence: float = 0.3
    replay: str | None = None
    failures_shown: int = FAILURES_SHOWN


@dataclass(frozen=True)
class _Draft:
    """An episode asked but not yet measured: everything but its outcome."""

    n: int
    t0: float
    timestamp: str
    total: int
    min_confidence: float
    before: "Measurement"
    shown: tuple
    prompt: str
    reply: "AgentReply | None"
    text: str
    parsed: ParsedReply
    decision: Decision
    flags: tuple[str, ...]
    error: str | None


def sanitize_url(url: str | None) -> str | None:
    """Drop user:password from a URL before it is written anywhere."""
    if not url:
        return url
    try:
        u = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = u.hostname or ""
    if u.port:
        host = f"{host}:{u.port}"
    return urlunsplit((u.scheme, host, u.path, "", ""))


class L1Strategy(Strategy):
    """The L1 reasoning agent as a strategy. ``promptgram`` and ``agent`` may be injected
    (an L2 loop, tests); the agent is still wrapped in a recorder so every reply is stored."""

    name = "l1"
    kind = "l1"
    explain_failures = False  # the episode explains the failures it draws (rotation.select_failures)
    status_lines = True

    def __init__(self, settings: L1Settings = L1Settings(), *, promptgram: Promptgram | None = None,
                 agent: "Agent | None" = None) -> None:
        self.settings = settings
        self.promptgram = promptgram
        self.injected_agent = agent
        self.min_conf = float(settings.min_confidence)
        self.n_shown = int(settings.failures_shown)
        self.pool = 0
        self.episodes_total = 0
        self.plan: list[Episode] = []  # the replayed run's episodes
        self.source: Path | None = None
        self.sp: Scratchpad | None = None
        self.run: RunFolder | None = None
        self.ev: "Evaluator | None" = None
        self.agent: "Agent | None" = None
        self.agent_name = ""
        self._old_config: dict = {}
        self._sampler: Any = None
        self._cur: "Measurement | None" = None
        self._measure: "Measure | None" = None
        self._backlog: list[Episode] = []  # finished episodes whose trial the study lost (a kill in between)
        self._draft: _Draft | None = None
        self._redo: Episode | None = None  # the backlog episode the current trial records again

    # -- the run folder ----------------------------------------------------------------
    def prepare(self, run: RunFolder, ev: "Evaluator", start: Params, budget: int) -> tuple[Params, int]:
        if budget < 2:
            raise UsageError("--episodes must be at least 1")
        if not ev.train_cases:
            raise UsageError("no train cases to reason about (all cases are holdout; lower --holdout)")
        if self.n_shown < 1 or ev.failure_pool < 1:
            raise UsageError("--failures-shown and --failure-pool must be at least 1")
        self.run, self.ev = run, ev
        self.pool = int(ev.failure_pool)
        if self.settings.replay:
            self.source = run.out_dir / check_run_name(str(self.settings.replay))
            if not (self.source / SCRATCHPAD).is_file():
                raise UsageError(f"--replay: no run '{self.settings.replay}' with a scratchpad in {run.out_dir}")
            if self.source.resolve() == run.path.resolve():
                raise UsageError("--replay RUN needs a different --run-name for the new run")
        existing = Scratchpad.load(run.path) if (run.path / SCRATCHPAD).is_file() else None
        # a worker on a shared study (--storage) joins the run other workers started
        cont = run.resume or run.shared
        if run.resume:
            if not run.path.is_dir():
                raise UsageError(f"--resume: no run '{run.name}' in {run.out_dir} (ripmap-train runs list shows runs)")
        elif existing is not None and existing.episodes and not run.shared:
            raise UsageError(f"run '{run.name}' already exists in {run.out_dir} with {len(existing.episodes)} "
                             f"episode(s); use --resume to continue it or choose another --run-name")
        if self.source is not None:
            src_sp = Scratchpad.load(self.source)
            src_cfg = read_json(self.source / CONFIG) if (self.source / CONFIG).is_file() else {}
            if src_sp.start is not None:
                start = Params.from_dict(src_sp.start.params)
            self.min_conf = float(src_cfg.get("min_confidence", self.min_conf))
            # the original run's draw, or the replayed prompts would differ
            self.n_shown = int(src_cfg.get("failures_shown", self.n_shown))
            self.pool = int(src_cfg.get("failure_pool", self.pool))
            self.plan = list(src_sp.episodes)
            if self.plan:
                budget = len(self.plan) + 1
            pg_file = self.source / PROMPTGRAM_FILE
            if pg_file.is_file():
                self.promptgram = parse_promptgram(pg_file.read_text(encoding="utf-8"), source=str(pg_file))
        run_pg = run.path / PROMPTGRAM_FILE
        if cont and run_pg.is_file():
            # the run's own copy: a resumed run keeps the promptgram it started with
            self.promptgram = parse_promptgram(run_pg.read_text(encoding="utf-8"), source=str(run_pg))
        if self.promptgram is None:
            self.promptgram = load_promptgram(self.settings.prompt)
        if self.promptgram.stripped:
            say(f"note: promptgram {self.promptgram.source}: ignored its protocol section(s) "
                f"{', '.join(self.promptgram.stripped)}; the shipped protocol is always used")
        run.path.mkdir(parents=True, exist_ok=True)
        if not run_pg.is_file() or not cont:
            atomic_write_text(run_pg, self.promptgram.render())
        self.sp = existing if (cont and existing is not None) else Scratchpad(run=run.name)
        if cont and self.sp.start is not None:
            start = Params.from_dict(self.sp.start.params)
        if cont and (run.path / CONFIG).is_file():
            old = read_json(run.path / CONFIG)
            self._old_config = old if isinstance(old, dict) else {}
        self.agent, self.agent_name = self._make_agent(run.path)
        self.episodes_total = budget - 1
        return start, budget

    def _make_agent(self, run_dir: Path) -> tuple["Agent", str]:
        from ..agents import RecordingAgent, ReplayAgent, ReplyStore

        if self.source is not None:
            # recorded again into this run's store, so a replay is itself replayable
            return RecordingAgent(ReplayAgent(ReplyStore(self.source)), ReplyStore(run_dir)), \
                f"replay:{self.settings.replay}"
        inner = self.injected_agent or self.settings.agent.build(run_dir)
        return RecordingAgent(inner, ReplyStore(run_dir)), str(getattr(inner, "name", "agent"))

    def sampler(self, setup: StudySetup) -> "BaseSampler":
        from ..search.staged import StagedSampler

        self._sampler = StagedSampler()
        return self._sampler

    def space(self, setup: StudySetup, only: Sequence[str] | None) -> dict:
        return search_space()  # the agent may move any parameter

    def config(self) -> dict[str, Any]:
        a, old = self.settings.agent, self._old_config
        if self.run is not None and self.run.resume:
            pg_label = old.get("promptgram", f"(run copy) {PROMPTGRAM_FILE}")
        elif self.source is not None:
            pg_label = f"(replay) {self.source / PROMPTGRAM_FILE}"
        else:
            pg_label = str(self.settings.prompt or f"(default) {DEFAULT_NAME}")
        assert self.promptgram is not None
        return {"agent": self.agent_name,
                "agent_spec": None if (self.source is not None or self.injected_agent) else a.spec,
                "model": a.model, "base_url": sanitize_url(a.base_url), "agentic": a.agentic, "timeout": a.timeout,
                "promptgram": pg_label, "promptgram_sha256": self.promptgram.sha256,
                "protocol_sha256": protocol_sha256(), "episodes": self.episodes_total,
                "min_confidence": self.min_conf, "failures_shown": self.n_shown, "failure_pool": self.pool,
                "replay_of": str(self.settings.replay) if self.source is not None else old.get("replay_of")}

    def observe(self, trials: Sequence["FrozenTrial"]) -> None:
        """Rebuild the scratchpad from the study: every worker's finished episodes, in the
        order they finished, then this folder's episodes the study has not recorded (a kill
        between the scratchpad and the study), which become the backlog to record again."""
        sp = self._scratchpad()
        run = self.run
        assert run is not None
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        if any(e.trial is None for e in sp.episodes):
            # a scratchpad written before episodes were kept in the study: it is the only record
            recorded = {t.user_attrs.get("episode") for t in complete}
            self._backlog = [e for e in sp.episodes if e.episode not in recorded]
            return
        changed = False
        if sp.start is None:
            st = next((t for t in complete if t.user_attrs.get(START_ATTR)), None)
            if st is not None:
                ua = st.user_attrs
                sp.start = StartPoint(dict(ua.get("params") or st.params), ua.get("train_ndcg", st.value),
                                      ua.get("holdout_ndcg"))
                changed = True
        kept = sorted((t for t in complete if isinstance(t.user_attrs.get(EPISODE_ATTR), dict)),
                      key=lambda t: (t.datetime_complete or datetime.max, t.number))
        numbers = {t.number for t in kept}
        pending = [e for e in sp.episodes if e.trial not in numbers]
        merged = [Episode.from_dict({**t.user_attrs[EPISODE_ATTR], "trial": t.number}) for t in kept] + pending
        renumbered = [e if e.episode == i else replace(e, episode=i) for i, e in enumerate(merged, 1)]
        if renumbered != sp.episodes:
            self._keep_transcripts(sp.episodes, renumbered, {t.number: t.user_attrs.get(PROMPT_ATTR) for t in kept})
            new = Scratchpad(run=sp.run, start=sp.start)
            for e in renumbered:
                new.add_episode(e)
            self.sp = sp = new
            changed = True
        if changed:
            sp.save(run.path)
        self._backlog = pending

    def _keep_transcripts(self, old: Sequence[Episode], new: Sequence[Episode], blobs: Mapping[int, Any]) -> None:
        """Keep ``prompts/episode_NNN`` matching the episode numbered NNN: write the prompts of
        episodes another worker ran, and move those whose number changed (two episodes that
        finished at the same moment, seen in another order first)."""
        run = self.run
        assert run is not None
        was = {e.trial: e.episode for e in old}
        texts: dict[int, str] = {}
        for e in new:
            if was.get(e.trial) == e.episode:
                continue
            blob = blobs.get(e.trial) if e.trial is not None else None
            text = unpack(blob) if isinstance(blob, str) else (
                read_prompt(run.path, episode_stem(was[e.trial])) if e.trial in was else None)
            if text is not None:
                texts[e.episode] = text
        for e in new:
            if e.episode in texts:
                write_transcript(run.path, episode_stem(e.episode), texts[e.episode], e.raw_reply)

    def bind(self, history: Sequence[TrialRecord], measure: "Measure") -> None:
        sp = self._scratchpad()
        self._measure = measure
        if sp.episodes:
            self._cur = measure(params_from_trial(sp.episodes[-1].params_after))
        elif sp.start is not None:
            self._cur = measure(Params.from_dict(sp.start.params))
        if sp.last_episode >= self.episodes_total:
            say(f"run {sp.run} already has {sp.last_episode} episode(s) (--episodes {self.episodes_total}); "
                f"nothing to do")

    def _scratchpad(self) -> Scratchpad:
        if self.sp is None or self.run is None:
            raise RipmapError("L1: prepare() must run before the loop")
        return self.sp

    # -- one episode -------------------------------------------------------------------
    def _settings_for(self, n: int) -> tuple[int, float]:
        """(episodes total shown in the prompt, min confidence) for episode ``n``.

        A replay takes both from the original episode record: a run resumed with another
        --episodes or --min-confidence sent different prompts before and after, and only
        the recorded values reproduce each prompt byte for byte.
        """
        if self.plan and n <= len(self.plan):
            e = self.plan[n - 1]
            return e.episodes_total or self.episodes_total, e.min_confidence
        return self.episodes_total, self.min_conf

    def _current(self, base: Params) -> "Measurement":
        """The measurement of the point the trajectory is at (the last episode's, whichever
        worker ran it; before any, the start point ``base``, even while another worker is
        still measuring it as the study's first trial); measured again only when it moved."""
        sp = self._scratchpad()
        last = sp.episodes[-1].params_after if sp.episodes else (sp.start.params if sp.start else None)
        cur = self._cur
        if self._measure is not None:
            point = params_from_trial(dict(last)) if last else base
            if cur is None or cur.params != point:
                cur = self._cur = self._measure(point)
        if cur is None:
            raise RipmapError("L1: the start point has not been measured")
        return cur

    def ask(self, trial: "optuna.Trial", space: Space, base: Params) -> Params:
        self._sampler.stage(self.propose(base))
        return suggest_point(trial, space, base)

    def propose(self, base: Params) -> dict[str, float]:
        """The point the next episode evaluates, decided without touching the trial: an
        episode the study lost, again; else the agent's proposal from the current point
        (kept as the draft that :meth:`tell` records). Separate from :meth:`ask` so a
        strategy that mixes the agent with a sampler (the hybrid) can look at the point
        before the trial takes it."""
        sp = self._scratchpad()
        self._redo = None
        if self._backlog:
            self._redo = self._backlog[0]
            return dict(self._redo.params_after)
        cur = self._current(base)
        assert self.promptgram is not None and self.agent is not None
        n = sp.last_episode + 1
        t0 = time.monotonic()
        ts = utc_now()
        total, min_conf = self._settings_for(n)
        assert self.ev is not None
        sel = select_failures(self.ev, cur, sp.episodes, shown=self.n_shown, pool=self.pool)
        shown = sel.failures
        threshold = float(self.ev.failure_threshold)
        state = PromptState(
            episode=n, episodes_total=total, params=cur.params, ndcg=cur.ndcg, best=sp.best(),
            n_train=len(cur.train.per_case), n_failing=cur.n_failing,
            failure_threshold=threshold, failures=shown,
            history=tuple(sp.episodes), start=sp.start, insights=sp.insights(),
            unchanged_for=unchanged_streak(sp.episodes), failure_pool=sel.pool, new_failures=sel.new,
            slices=slices(cur.train, threshold, shown))
        prompt = build_prompt(self.promptgram, state)
        flags: list[str] = []
        error: str | None = None
        reply = None
        try:
            reply = self.agent.propose(prompt, agent_context(state, self.promptgram))
        except RipmapError:
            raise  # e.g. a replay that meets a prompt the original run never sent: stop, do not invent
        except Exception as e:  # noqa: BLE001 - an agent bug must not end a long run; the episode records it
            if self.source is not None:
                raise
            error = f"{type(e).__name__}: {e}"
        if reply is not None and getattr(reply, "error", None):
            error = str(reply.error)
        text = getattr(reply, "text", "") or ""
        if error is not None:
            flags.append(FLAG_AGENT_ERROR)
            parsed = ParsedReply("", None, Proposal(), (), (), (f"agent error: {error}",))
            decision = Decision(cur.params, {}, ())
        else:
            parsed = parse_reply(text)
            decision = apply_changes(cur.params, parsed.changes, confidence=parsed.confidence,
                                     min_confidence=min_conf)
            if (parsed.confidence if parsed.confidence is not None else 0.0) < min_conf:
                flags.append(FLAG_LOW_CONF)
            if not parsed.changes and len(parsed.reasoning) > SCHEMA_CORRUPTION_CHARS:
                flags.append(FLAG_SCHEMA)
        self._draft = _Draft(n, t0, ts, total, min_conf, cur, shown, prompt, reply, text, parsed, decision,
                             tuple(flags), error)
        return decision.params.to_dict()

    def tell(self, number: int, point: Params, m: "Measurement", *, start: bool) -> Mapping[str, Any]:
        sp = self._scratchpad()
        run = self.run
        assert run is not None
        if start:
            if sp.start is None:
                sp.start = StartPoint(m.params.to_dict(), m.ndcg, m.holdout)
                sp.save(run.path)
            if not sp.episodes:
                self._cur = m
            return {"episode": 0}  # the start point is episode 0 of the trajectory, as in the scratchpad
        if self._redo is not None:
            again, self._redo = self._redo, None
            if again in self._backlog:
                self._backlog.remove(again)
            rec = replace(again, trial=number)
            sp.episodes = [rec if e is again or (e.episode == again.episode and e.trial == again.trial) else e
                           for e in sp.episodes]
            sp.save(run.path)
            self._cur = m
            return self._attrs(rec, read_prompt(run.path, episode_stem(rec.episode)))
        d = self._draft
        if d is None:
            raise RipmapError("L1: a trial was told without being asked")
        cur = d.before
        reply = d.reply
        # numbered when it finishes: another worker may have finished episodes since this one was asked
        n = sp.last_episode + 1
        rec = Episode(
            episode=n, timestamp=d.timestamp, episodes_total=d.total, min_confidence=d.min_confidence,
            params_before=cur.params.to_dict(), params_after=m.params.to_dict(),
            ndcg_before=cur.ndcg, ndcg_after=m.ndcg, holdout_before=cur.holdout, holdout_after=m.holdout,
            failures=cur.n_failing, failures_shown=d.shown,
            prompt_sha256=hashlib.sha256(d.prompt.encode("utf-8")).hexdigest(),
            raw_reply=d.text, reasoning=d.parsed.reasoning,
            proposed_changes=d.parsed.data.get("proposed_changes") if d.parsed.data else None,
            proposal=d.parsed.proposal.model_dump(), applied=d.decision.applied,
            rejected=d.parsed.rejected + d.decision.rejected, parse_errors=d.parsed.errors,
            confidence=d.parsed.confidence, agent=self.agent_name, error=d.error,
            latency_s=getattr(reply, "latency_s", None), attempts=getattr(reply, "attempts", None),
            tokens_in=getattr(reply, "tokens_in", None), tokens_out=getattr(reply, "tokens_out", None),
            flags=d.flags, trial=number)
        if unchanged_streak([*sp.episodes, rec]) >= LOCK_IN_EPISODES:
            rec = replace(rec, flags=(*rec.flags, FLAG_LOCK_IN))
        rec = replace(rec, duration_s=round(time.monotonic() - d.t0, 3))
        write_transcript(run.path, episode_stem(n), d.prompt, d.text)
        sp.add_episode(rec)
        sp.save(run.path)  # this folder's record, before the study records the trial
        self._cur, self._draft = m, None
        return self._attrs(rec, d.prompt)

    def _attrs(self, e: Episode, prompt: str | None) -> dict[str, Any]:
        """The trial's attributes: a summary for views, the whole record for other workers."""
        return {"episode": e.episode, "reasoning": e.reasoning, "strategy_capsule": e.capsule, "agent": e.agent,
                "flags": list(e.flags), EPISODE_ATTR: e.to_dict(),
                **({PROMPT_ATTR: pack(prompt)} if prompt is not None else {})}

    # -- reporting ---------------------------------------------------------------------
    def _rows(self) -> list[dict[str, Any]]:
        return [{"episode": e.episode, "ndcg_before": e.ndcg_before, "ndcg_after": e.ndcg_after,
                 "holdout_before": e.holdout_before, "holdout_after": e.holdout_after,
                 "failures": e.failures, "confidence": e.confidence, "params_before": dict(e.params_before),
                 "params_after": dict(e.params_after), "flags": list(e.flags), "duration_s": e.duration_s,
                 "applied": {p: [a.direction, a.magnitude] for p, a in e.applied.items()}}
                for e in self._scratchpad().episodes]

    def report(self) -> dict[str, Any]:
        return {"episodes": self._rows()}

    def plot(self, trials: Sequence[dict], path: Path, title: str, *, test: Mapping[str, Any] | None = None) -> None:
        from ..report.plots import plot_l1_progress

        rows = self._rows()
        if rows:
            plot_l1_progress(rows, path, title=f"L1 {title}", test=test)

    def describe(self, rec: TrialRecord, best: TrialRecord | None, complete: int, budget: int) -> str:
        sp = self._scratchpad()
        val = "" if rec.holdout_ndcg is None else f"  validation {fixed(rec.holdout_ndcg)}"
        if rec.start or not sp.episodes:
            return f"L1 start  train {fixed(rec.train_ndcg)}{val}"
        e = sp.episodes[-1]
        return (f"L1 {e.episode}/{self.episodes_total}  train {fixed(e.ndcg_before)}→{fixed(e.ndcg_after)}{val}  "
                f"best train {fixed(sp.best().train)}  failures {e.failures}  conf "
                f"{fixed(e.confidence, 2) if e.confidence is not None else '-'}  changes {len(e.applied)}"
                + (f"  [{', '.join(e.flags)}]" if e.flags else ""))

    def summary(self, result: "RunResult") -> str:
        sp = self._scratchpad()
        b, f = sp.best(), result.best
        line = (f"run {result.run}: {sp.last_episode} episode(s), train {fixed(sp.start.train if sp.start else None)} "
                f"→ best {fixed(b.train)} (episode {b.episode})")
        if f is not None:
            how = "validation" if f.holdout_ndcg is not None else "train"
            line += (f"; final point (selected by {how}): episode {f.episode if f.episode is not None else '?'}, "
                     f"train {fixed(f.train_ndcg)}" + (f", validation {fixed(f.holdout_ndcg)}"
                                                        if f.holdout_ndcg is not None else ""))
        return line + f"; {result.run_dir}"


__all__ = ["L1Settings", "L1Strategy", "SCHEMA_CORRUPTION_CHARS", "sanitize_url"]
