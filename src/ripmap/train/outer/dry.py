"""``--dry``: the prompts the next outer step would send, with no agent called and nothing written.

The L1 prompt is the next episode's of the next step's inner run (its first episode, or
where a killed run stopped), built by :func:`.preview.l1_prompt_preview` exactly as L1
builds it. The L2 prompt is the one the step will send, with everything known now (the
promptgram, the population, the outer trajectory, the diagnostics so far); the summary of
the inner run that has not run yet is marked as such. Neither the run folder nor the
promptgram folder is touched, so a dry run never gets in the way of the real one.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import UsageError
from ...rank.params import Params
from ..l1.promptgram import DEFAULT_NAME, Promptgram, default_promptgram_text, parse_promptgram
from .diagnostics import diagnose
from .loop import INNER_DIR, OuterSettings, members_of, plan_step, step_name, version_edits
from .preview import l1_prompt_preview
from .prompt import L2State, build_l2_prompt
from .scratchpad import OUTER_SCRATCHPAD, OuterScratchpad
from .versions import PromptLibrary, version_name, version_number

if TYPE_CHECKING:
    from ..evaluation.evaluator import Evaluator


def _peek_root(settings: OuterSettings) -> tuple[str, Promptgram, str | None]:
    """(name, promptgram, parent) of the root version, without writing it if it does not exist yet."""
    lib = settings.library
    if settings.prompt is not None:
        p = Path(settings.prompt).expanduser()
        if p.is_file():
            pg = parse_promptgram(p.read_text(encoding="utf-8"), source=str(p))
            same = next((v for v in lib.versions() if v.sha256 == pg.sha256), None)
            return (same.name, pg, same.parent) if same else (_next_name(lib) + " (not written yet)", pg, None)
        v = lib.get(settings.prompt)
        return v.name, v.promptgram(), v.parent
    pg = parse_promptgram(default_promptgram_text(), source=f"(default) {DEFAULT_NAME}")
    same = next((v for v in lib.versions() if v.parent is None and v.sha256 == pg.sha256), None)
    return (same.name, pg, None) if same else (_next_name(lib) + " (not written yet)", pg, None)


def _next_name(lib: PromptLibrary) -> str:
    return version_name(max([version_number(n) for n in lib.names()], default=0) + 1)


def dry_run(settings: OuterSettings, ev: "Evaluator") -> str:
    lib = settings.library
    run_dir = settings.run_dir
    peeked: dict[str, Promptgram] = {}
    if (run_dir / OUTER_SCRATCHPAD).is_file():
        sp = OuterScratchpad.load(run_dir)
    else:
        sp = OuterScratchpad(run=settings.run)
    if not sp.population:
        name, pg, parent = _peek_root(settings)
        peeked[name] = pg
        sp.add_member(name, parent, 0)
    n = sp.last_step + 1
    if n > settings.steps:
        raise UsageError(f"outer run {settings.run} has all its {sp.last_step} step(s); raise --steps-outer to see "
                         f"the next one")
    pend = sp.pending if sp.pending and sp.pending.get("outer_step") == n else plan_step(settings, sp, n)
    vname = str(pend["promptgram"])
    if vname in peeked:
        pg, parent = peeked[vname], None
    else:
        v = lib.get(vname)
        pg, parent = v.promptgram(), v.parent
    start = Params.from_dict(pend.get("start_params") or {})
    inner_dir = run_dir / INNER_DIR / step_name(n)
    episode, l1 = l1_prompt_preview(ev, pg, start, inner_dir if inner_dir.is_dir() else None,
                                    episodes_total=settings.episodes, failures_shown=settings.failures_shown)
    vedits = version_edits(lib, sp) if not peeked else {}
    state = L2State(step=n, steps_total=settings.steps, episodes_inner=settings.episodes,
                    agent_inner=settings.agent_inner.spec, warm_start=settings.warm_start, version=vname,
                    parent=parent, promptgram_text=pg.render(), promptgram_sections=dict(pg.sections),
                    members=tuple(members_of(sp)), version_edits=vedits, history=tuple(sp.episodes), latest=None,
                    diagnostics=tuple(diagnose(sp.episodes, vedits)),
                    selection=str((pend.get("selection") or {}).get("how", "")))
    l2 = build_l2_prompt(state)
    how = (pend.get("selection") or {}).get("how", "?")
    warm = pend.get("warm_start")
    head = (f"# dry run of outer run {settings.run}, step {n} of {settings.steps}: promptgram {vname} (selected: "
            f"{how})" + (f", warm start from step {warm.get('from_step')}" if warm else "") + "; no agent is called")
    return "\n".join([head, "", f"===== L1 prompt (step {n}, episode {episode} of {settings.episodes}) =====", "",
                      l1.rstrip(), "", f"===== L2 prompt (step {n}) =====", "", l2.rstrip()])


__all__ = ["dry_run"]
