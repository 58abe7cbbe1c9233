"""The outer loop (L2): select a promptgram, run L1 with it, summarize, ask L2, write the child.

One outer step:

1. **select** a promptgram from the run's population (:mod:`.population`), and the start
   point (the run's start, or with ``warm_start`` the final point of the best step so far);
   written to the scratchpad as ``pending`` before anything runs;
2. **run L1** for K episodes with it: a complete L1 run folder
   ``inner_runs/step_NNN/`` made by the L1 machinery itself
   (:class:`~ripmap.train.l1.strategy.L1Strategy` through
   :func:`~ripmap.train.search.loop.optimize`), so it has the same files, resume and
   replay as any ``ripmap-train reason`` run;
3. **summarize** it (:mod:`.summary`) and record the run in the version's ``.toml``;
4. **diagnose** the outer trajectory (:mod:`.diagnostics`);
5. **ask L2** (:mod:`.prompt`, :mod:`.agents`); its prompt and reply are kept in ``l2/``;
6. **validate and apply** the edits (:mod:`.edits`): refused ones are recorded with their
   reason and the step goes on; valid ones make the child, written as the next version
   (:mod:`.versions`) and added to the population;
7. **record** the step in ``outer_scratchpad.json`` (atomically), redraw the plot.

A kill at any moment loses no finished step: the pending step is taken up again with the
same promptgram, its inner run continues from its last finished episode, and L2's reply,
if it had come, is reused from the store.

At the end, with held-out repositories, the **judgement**: the best evolved promptgram
against the root (``inner_v001``) at equal L1 budgets (K episodes from the same start),
on the held-out repositories, with a 95% interval (:func:`judge`).
"""
from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ...errors import RipmapError, UsageError
from ...rank.params import DEFAULT, Params
from ..agents import AgentSettings, ReplyStore
from ..cases.splits import TEST, of_split
from ..console import say
from ..files import remove_orphans
from ..l1.rotation import FAILURES_SHOWN
from ..l1.transcripts import write_transcript
from ..numbers import fixed, utc_now
from .agents import ReusingAgent, make_outer_agent
from .diagnostics import Diagnosis, diagnose
from .edits import Edit, EditOutcome, Refusal, apply_edits
from .population import EXPLORE_QUOTA, Member, Selection, best_member, build_members, select
from .prompt import L2State, build_l2_prompt, l2_context
from .reply import parse_l2_reply
from .scratchpad import OUTER_SCRATCHPAD, OuterScratchpad, OuterStep
from .summary import InnerSummary, summarize
from .versions import PromptLibrary, Version, VersionRun

if TYPE_CHECKING:
    from ..agents import Agent
    from ..evaluation.evaluator import Evaluator

RUNS_DIR = "runs"
PROMPTS_DIR = Path("prompts") / "inner"
INNER_DIR = "inner_runs"
L2_DIR = "l2"
PLOT = "outer_progress.png"
LOCK = ".outer.lock"


@dataclass(frozen=True)
class OuterSettings:
    """How an outer run runs (what ``config.json`` of the run records)."""

    run: str
    out: Path
    steps: int
    episodes: int
    agent_outer: AgentSettings = field(default_factory=AgentSettings)
    agent_inner: AgentSettings = field(default_factory=AgentSettings)
    warm_start: bool = False
    seed: int = 0
    start: Params = DEFAULT
    prompt: str | None = None  # the root promptgram: a version name or a file (None: the shipped default)
    min_confidence: float = 0.3
    failures_shown: int = FAILURES_SHOWN
    explore_quota: float = EXPLORE_QUOTA
    verbose: bool = False
    sources: Mapping[str, Any] | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / RUNS_DIR / self.run

    @property
    def library(self) -> PromptLibrary:
        return PromptLibrary(Path(self.out) / PROMPTS_DIR)


def step_name(n: int) -> str:
    return f"step_{n:03d}"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One process per outer run: a second one on the same run is refused, not interleaved."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as fh:
        try:
            import fcntl

            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise UsageError(f"outer run '{run_dir.name}' is being run by another process") from None
        except ImportError:  # pragma: no cover - Windows
            pass
        yield


# -- the population ---------------------------------------------------------------------

def members_of(sp: OuterScratchpad, current: OuterStep | None = None) -> list[Member]:
    """The population with its scores; ``current``: a step not recorded yet whose run counts too."""
    steps = [*sp.episodes, *([current] if current is not None else [])]
    return build_members([(p["version"], p.get("parent"), int(p.get("born") or 0)) for p in sp.population],
                         [(e.promptgram, e.score) for e in steps])


def version_edits(lib: PromptLibrary, sp: OuterScratchpad) -> dict[str, tuple[Edit, ...]]:
    out: dict[str, tuple[Edit, ...]] = {}
    for p in sp.population:
        try:
            out[p["version"]] = lib.get(p["version"]).edits
        except (UsageError, RipmapError):
            out[p["version"]] = ()
    return out


def root_version(settings: OuterSettings) -> Version:
    """The promptgram the population starts from: ``--prompt`` (a version or a file), else the shipped default."""
    lib = settings.library
    if settings.prompt is None:
        return lib.ensure_default()
    ref = str(settings.prompt)
    p = Path(ref).expanduser()
    if p.is_file():
        return lib.ensure_file(p)
    return lib.get(ref)


def plan_step(settings: OuterSettings, sp: OuterScratchpad, n: int) -> dict[str, Any]:
    """The pending record of step ``n``: which version, why, and from which point."""
    sel: Selection = select(members_of(sp), step=n, seed=settings.seed, quota=settings.explore_quota)
    start, warm = settings.start, None
    if settings.warm_start:
        done = [e for e in sp.episodes if e.score is not None and e.final_params]
        if done:
            best = max(done, key=lambda e: (e.score, -e.outer_step))
            start = Params.from_dict(best.final_params)
            warm = {"from_step": best.outer_step, "score": best.score}
    return {"outer_step": n, "promptgram": sel.version, "selection": sel.to_dict(), "start_params": start.to_dict(),
            "warm_start": warm, "started": utc_now()}


# -- one inner run ------------------------------------------------------------------------

def run_inner(settings: OuterSettings, ev: "Evaluator", version: Version, start: Params, name: str) -> Path:
    """A complete L1 run of ``settings.episodes`` episodes with ``version`` in ``inner_runs/NAME``
    (continued when the folder exists: a resumed step)."""
    from ..l1.strategy import L1Settings, L1Strategy
    from ..search.loop import LoopSettings, optimize

    root = settings.run_dir / INNER_DIR
    resume = (root / name).is_dir()
    strategy = L1Strategy(L1Settings(agent=settings.agent_inner, prompt=str(version.path),
                                     min_confidence=settings.min_confidence, failures_shown=settings.failures_shown),
                          promptgram=version.promptgram())
    optimize(strategy, ev, LoopSettings(out_dir=root, budget=settings.episodes + 1, start=start, run_name=name,
                                        resume=resume, seed=settings.seed, verbose=settings.verbose,
                                        sources=settings.sources))
    return root / name


# -- L2 -----------------------------------------------------------------------------------

def l2_state(settings: OuterSettings, sp: OuterScratchpad, lib: PromptLibrary, n: int, version: Version,
             selection: str, latest: InnerSummary | None, diagnostics: tuple[Diagnosis, ...],
             current: OuterStep | None = None) -> L2State:
    """What L2 is shown at step ``n``: ``current`` is the step's own record so far (its run's score counts)."""
    pg = version.promptgram()
    return L2State(step=n, steps_total=settings.steps, episodes_inner=settings.episodes,
                   agent_inner=settings.agent_inner.spec, warm_start=settings.warm_start, version=version.name,
                   parent=version.parent, promptgram_text=pg.render(), promptgram_sections=dict(pg.sections),
                   members=tuple(members_of(sp, current)), version_edits=version_edits(lib, sp),
                   history=tuple(sp.episodes), latest=latest, diagnostics=diagnostics, selection=selection)


@dataclass(frozen=True)
class L2Outcome:
    edits: EditOutcome | None
    refused: tuple[Refusal, ...]
    rationale: str
    info: Mapping[str, Any]


def ask_l2(settings: OuterSettings, state: L2State, version: Version, agent: "Agent | None" = None) -> L2Outcome:
    """Ask L2 (a stored reply to the same prompt is reused), keep prompt and reply, apply the edits.

    ``agent`` replaces the one ``settings`` names (tests inject failing agents)."""
    run_dir = settings.run_dir
    prompt = build_l2_prompt(state)
    stem = step_name(state.step)
    l2_dir = run_dir / L2_DIR
    agent = ReusingAgent(agent or make_outer_agent(settings.agent_outer, run_dir), ReplyStore(l2_dir))
    info: dict[str, Any] = {"agent": settings.agent_outer.spec, "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                            "prompt": f"{L2_DIR}/prompts/{stem}.md"}
    try:
        reply = agent.propose(prompt, l2_context(state))
        error, text = reply.error, reply.text or ""
        info.update(latency_s=round(reply.latency_s, 3), attempts=reply.attempts, tokens_in=reply.tokens_in,
                    tokens_out=reply.tokens_out, reused=agent.reused)
    except RipmapError:
        raise  # bad configuration (a missing CLI, no API key): no retry fixes it
    except Exception as e:  # noqa: BLE001 - an agent bug must not end a long run; the step records it
        error, text = f"{type(e).__name__}: {e}", ""
    info["error"] = error
    write_transcript(l2_dir, stem, prompt, text)
    if error:
        return L2Outcome(None, (Refusal(None, f"L2 agent error: {error}; the promptgram is kept unchanged"),), "", info)
    parsed = parse_l2_reply(text)
    if parsed.error:
        return L2Outcome(None, (Refusal(None, f"{parsed.error}; the promptgram is kept unchanged"),),
                         parsed.rationale, info)
    outcome = apply_edits(version.promptgram(), parsed.edits)
    return L2Outcome(outcome, outcome.refused, parsed.rationale, info)


# -- the loop -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OuterResult:
    run: str
    run_dir: Path
    steps: tuple[OuterStep, ...]
    judge: Mapping[str, Any] | None
    new_steps: int


def _note_step(rec: OuterStep) -> str:
    fm = rec.final_metrics
    out = (f"outer {rec.outer_step}: {rec.promptgram} ({rec.selection.get('how', '?')}) train "
           f"{fixed(rec.start_metrics.get('train'))} → {fixed(fm.get('train'))}, validation {fixed(fm.get('validation'))}"
           f"; L2: {len(rec.proposal.get('edits') or [])} edit(s), {len(rec.refused)} refused → {rec.child or 'no child'}")
    if rec.diagnostics:
        out += "; " + ", ".join(sorted({str(d.get('kind')) for d in rec.diagnostics}))
    return out


def do_step(settings: OuterSettings, ev: "Evaluator", sp: OuterScratchpad, n: int) -> OuterStep:
    t0 = time.monotonic()
    lib = settings.library
    run_dir = settings.run_dir
    if not sp.pending or sp.pending.get("outer_step") != n:
        sp.pending = plan_step(settings, sp, n)
        sp.save(run_dir)
    pend = sp.pending
    version = lib.get(str(pend["promptgram"]))
    start = Params.from_dict(pend.get("start_params") or {})
    name = step_name(n)
    inner_dir = run_inner(settings, ev, version, start, name)
    summary = summarize(inner_dir)
    rel = f"{INNER_DIR}/{name}"
    lib.record_run(version.name, VersionRun(settings.run, n, str(Path(RUNS_DIR) / settings.run / rel),
                                            summary.score, summary.final_train, summary.final_validation,
                                            summary.start_train, summary.episodes))
    sel = Selection.from_dict(pend.get("selection") or {})
    rec = OuterStep(
        outer_step=n, promptgram=version.name, parent=version.parent, timestamp=utc_now(),
        selection=sel.to_dict(), inner_run=rel, warm_start=pend.get("warm_start"),
        start_params=summary.start_params,
        start_metrics={"ndcg": summary.start_train, "train": summary.start_train,
                       "validation": summary.start_validation},
        final_params=summary.final_params, final_metrics=summary.final_metrics(),
        strategy_capsules=summary.capsules, moved_params=summary.moved,
        inner={k: v for k, v in summary.to_dict().items() if k in ("episodes", "trajectory", "flags", "effects")})
    vedits = version_edits(lib, sp)
    diags = tuple(diagnose([*sp.episodes, rec], vedits))
    state = l2_state(settings, sp, lib, n, version, sel.how, summary, diags, rec)
    l2 = ask_l2(settings, state, version)
    child, note = None, ""
    out = l2.edits
    if out is not None and out.changed:
        same = next((v for v in lib.versions() if v.sha256 == out.child.sha256), None)
        if same is not None and not (same.origin.get("run") == settings.run and same.origin.get("outer_step") == n):
            child, note = same.name, f"the edited promptgram is the same text as {same.name}"
        else:
            child = lib.add_child(version, out.child, edits=out.applied, rationale=l2.rationale, run=settings.run,
                                  outer_step=n, agent=str(l2.info.get("agent") or settings.agent_outer.spec)).name
        sp.add_member(child, version.name, n)
    elif out is not None:
        note = "no edit applied: the promptgram is kept unchanged"
    else:
        note = "reply refused: the promptgram is kept unchanged"
    rec = replace(rec, diagnostics=tuple(d.to_dict() for d in diags), l2=dict(l2.info),
                  proposal={"edits": [e.to_dict() for e in (out.applied if out is not None else ())]},
                  rationale=l2.rationale, refused=tuple(r.to_dict() for r in l2.refused), child=child,
                  child_note=note, duration_s=round(time.monotonic() - t0, 3))
    sp.add_step(rec)
    sp.pending = None
    sp.save(run_dir)
    return rec


def run_outer(settings: OuterSettings, ev: "Evaluator", *, resume: bool = False) -> OuterResult:
    """Run (or continue) the outer run until ``settings.steps`` steps are recorded, then judge."""
    if settings.steps < 1 or settings.episodes < 1:
        raise UsageError("--steps-outer and --episodes-inner must be at least 1")
    if not 0.0 <= settings.explore_quota <= 1.0:
        raise UsageError("--explore-quota must be in [0, 1]")
    run_dir = settings.run_dir
    with run_lock(run_dir):
        remove_orphans(run_dir)
        sp_path = run_dir / OUTER_SCRATCHPAD
        if sp_path.is_file():
            if not resume:
                raise UsageError(f"outer run '{settings.run}' already exists in {run_dir.parent}; use --resume to "
                                 f"continue it or choose another name")
            sp = OuterScratchpad.load(run_dir)
        else:
            if resume and not run_dir.joinpath("config.json").is_file():
                raise UsageError(f"--resume: no outer run '{settings.run}' in {run_dir.parent}")
            sp = OuterScratchpad(run=settings.run)
        if not sp.population:
            root = root_version(settings)
            sp.add_member(root.name, None, 0)
            sp.save(run_dir)
        done_before = sp.last_step
        if done_before >= settings.steps:
            say(f"outer run {settings.run} already has {done_before} step(s) (--steps-outer {settings.steps})")
        for n in range(sp.last_step + 1, settings.steps + 1):
            rec = do_step(settings, ev, sp, n)
            say(_note_step(rec))
            write_plot(run_dir, sp, settings.library)
        judgement = judge(settings, ev, sp)
        write_plot(run_dir, sp, settings.library)
    if judgement and "delta" in judgement:
        say(judge_line(judgement))
    elif judgement:
        say(f"judgement: {judgement.get('skipped')}")
    return OuterResult(settings.run, run_dir, tuple(sp.episodes), judgement, sp.last_step - done_before)


def write_plot(run_dir: Path, sp: OuterScratchpad, lib: PromptLibrary) -> None:
    from .plots import plot_outer_progress

    try:
        plot_outer_progress(sp, run_dir / PLOT)
    except Exception as e:  # noqa: BLE001 - a plot must never cost a finished step
        say(f"warning: {PLOT} not written ({type(e).__name__}: {e})")


# -- the judgement ---------------------------------------------------------------------------

def _cold_run(settings: OuterSettings, ev: "Evaluator", sp: OuterScratchpad, version: str) -> tuple[Params, str]:
    """The final point of an L1 run of K episodes with ``version`` from the run's start point:
    a step that ran it without warm start, else a run made for the judgement (``inner_runs/judge_VERSION``)."""
    start = settings.start.to_dict()
    for e in sp.episodes:
        if e.promptgram == version and not e.warm_start and dict(e.start_params) == start \
                and int(e.inner.get("episodes") or 0) == settings.episodes:
            return Params.from_dict(e.final_params), e.inner_run
    lib = settings.library
    d = run_inner(settings, ev, lib.get(version), settings.start, f"judge_{version}")
    return Params.from_dict(summarize(d).final_params), f"{INNER_DIR}/{d.name}"


def judge(settings: OuterSettings, ev: "Evaluator", sp: OuterScratchpad) -> dict[str, Any] | None:
    """The best evolved promptgram against the root, at equal L1 budgets, on the held-out repositories."""
    from ..evaluation.comparison import compare

    cases = of_split(ev.cases, TEST)
    if not cases:
        return None
    if not sp.population:
        return None
    root = sp.population[0]["version"]
    members = members_of(sp)
    best = best_member(members, exclude=root)
    key = {"baseline": root, "candidate": best.version if best else None, "episodes": settings.episodes,
           "steps": sp.last_step, "n": len(cases)}
    if sp.judge and all(sp.judge.get(k) == v for k, v in key.items()):
        return sp.judge
    if best is None:
        sp.judge = {**key, "skipped": "no evolved promptgram has run yet"}
        sp.save(settings.run_dir)
        return sp.judge
    base_params, base_run = _cold_run(settings, ev, sp, root)
    cand_params, cand_run = _cold_run(settings, ev, sp, best.version)
    c = compare(ev, cases, base_params, cand_params, seed=settings.seed)
    s = compare(ev, cases, settings.start, base_params, seed=settings.seed)
    sp.judge = {**key, **c.to_dict(), "start": s.default, "baseline_run": base_run, "candidate_run": cand_run,
                "candidate_score": best.mean, "baseline_score": next((m.mean for m in members if m.version == root),
                                                                     None),
                "default_is": f"{root} (L1 {settings.episodes} episodes from the start point)",
                "best_is": f"{best.version} (L1 {settings.episodes} episodes from the start point)",
                "created": utc_now()}
    sp.save(settings.run_dir)
    return sp.judge


def judge_line(j: Mapping[str, Any]) -> str:
    lo, hi = (list(j.get("delta_ci95") or []) + [None, None])[:2]

    def sg(x: Any) -> str:
        return f"{x:+.4f}" if isinstance(x, (int, float)) else "n/a"

    per = ", ".join(f"{k} {fixed(v.get('default'))} → {fixed(v.get('best'))}" for k, v in (j.get("repos") or {}).items())
    return (f"held-out repositories ({per}): {j.get('baseline')} {fixed(j.get('default'))} vs best evolved "
            f"{j.get('candidate')} {fixed(j.get('best'))}, Δ {sg(j.get('delta'))} [{sg(lo)}, {sg(hi)}] (95% CI, "
            f"L1 {j.get('episodes')} episodes each from the same start; start point {fixed(j.get('start'))})")


__all__ = ["INNER_DIR", "L2_DIR", "OuterResult", "OuterSettings", "PLOT", "PROMPTS_DIR", "RUNS_DIR", "ask_l2",
           "do_step", "judge", "judge_line", "l2_state", "members_of", "plan_step", "root_version", "run_inner",
           "run_outer", "step_name", "version_edits"]
