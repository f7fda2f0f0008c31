"""``dvc repro`` with independent stages side by side (``research repro``, issue 18).

DVC runs a pipeline's stages one after another. Here, after ``train@credit``, ``explain@credit``
and ``validate@credit`` need nothing of each other or of ``train@churn``; each stage spends a
large share of its time in one core (the kernel starting, pandas, HTML export), so on a
2-core machine two of them at a time take little more than one.

This is DVC's own reproduction with one change: :func:`side_by_side` replaces the loop over the
planned stages (``dvc.repo.reproduce._reproduce``) by a scheduler that starts a stage as soon as
every stage of the plan it depends on is done, at most ``jobs`` at a time. Each stage still goes
through DVC's ``Stage.reproduce``: the changed check, the run cache, saving and committing the
outs, the dvc.lock entry. All of DVC's work runs under one lock, taken by one stage at a time;
only the stage's command (the notebook run) runs outside it, so DVC's state database, its
rwlock file and dvc.lock see one writer, as under ``dvc repro``.

Differences from ``dvc repro`` while the context is active:

- The repository lock stays held while the commands run (``dvc repro`` releases it so that a
  command may call ``dvc``; no stage of this pipeline does).
- Stage lines interleave: each stage prints its own start and result lines.
- With ``on_error="fail"`` (the default) a failing stage lets the stages already running finish
  and starts no other, then fails as ``dvc repro`` does.

``jobs`` 1, ``--dry``, ``--single-item`` (no graph) and interactive runs use DVC's loop unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any


def default_jobs() -> int:
    """Two stages at a time where the machine has two cores or more, else one."""
    import os

    return 2 if (os.cpu_count() or 1) >= 2 else 1


@contextmanager
def side_by_side(jobs: int) -> Iterator[None]:
    """Within the block, DVC's reproduction runs up to ``jobs`` independent stages at once."""
    if jobs <= 1:
        yield
        return
    import dvc.repo.reproduce as dvc_reproduce  # type: ignore[import-untyped]
    import dvc.stage.run as dvc_run  # type: ignore[import-untyped]

    gate = threading.Lock()  # DVC's own work: one stage at a time
    dvc_loop = dvc_reproduce._reproduce
    dvc_cmd_run = dvc_run.cmd_run
    dvc_unlocked_repo = dvc_run.unlocked_repo

    def cmd_run(stage: Any, dry: bool = False, run_env: Any = None) -> None:
        gate.release()  # the command runs outside DVC's lock: here stages overlap
        try:
            dvc_cmd_run(stage, dry=dry, run_env=run_env)
        finally:
            gate.acquire()
            stage.repo._reset()  # as after DVC's own command run: nothing cached survives it

    def keep_locked(func: Callable[..., Any]) -> Callable[..., Any]:
        return func

    def loop(stages: list[Any], graph: Any = None, **kwargs: Any) -> list[Any]:
        if graph is None or kwargs.get("dry") or kwargs.get("interactive"):
            return dvc_loop(stages, graph=graph, **kwargs)
        return _schedule(stages, graph, jobs=jobs, gate=gate, dvc=dvc_reproduce, **kwargs)

    dvc_reproduce._reproduce = loop
    dvc_run.cmd_run = cmd_run
    dvc_run.unlocked_repo = keep_locked
    try:
        yield
    finally:
        dvc_reproduce._reproduce = dvc_loop
        dvc_run.cmd_run = dvc_cmd_run
        dvc_run.unlocked_repo = dvc_unlocked_repo


def _schedule(
    stages: list[Any],
    graph: Any,
    *,
    jobs: int,
    gate: threading.Lock,
    dvc: Any,
    force_downstream: bool = False,
    on_error: str = "fail",
    force: bool = False,
    repro_fn: Callable[..., Any] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """DVC's ``_reproduce`` with a stage started once the stages it depends on are done.

    ``stages`` is DVC's plan (dependencies first); in DVC's graph a stage's successors are the
    stages it depends on. Results come back in plan order, as from DVC's loop.
    """
    reproduce_stage = repro_fn or dvc._reproduce_stage
    planned = set(stages)
    needs = {s: {u for u in graph.successors(s) if u in planned} for s in stages}
    force_state = dict.fromkeys(stages, force)
    done: dict[Any, Any] = {}  # stage -> what reproducing it returned (None: unchanged)
    failed: list[Any] = []
    first_error: BaseException | None = None
    skipped: set[Any] = set()
    waiting = list(stages)
    running: dict[Future[Any], Any] = {}

    def reproduce(stage: Any, force_stage: bool) -> Any:
        upstream = list(graph.successors(stage))
        with gate:
            return reproduce_stage(stage, upstream=upstream, force=force_stage, **kwargs)

    def stop_starting() -> bool:
        return bool(failed) and on_error == "fail"

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stage") as pool:
        try:
            while waiting or running:
                if not stop_starting():
                    for stage in list(waiting):
                        if len(running) >= jobs:
                            break
                        if stage in skipped:
                            waiting.remove(stage)
                        elif needs[stage] <= done.keys():
                            waiting.remove(stage)
                            running[pool.submit(reproduce, stage, force_state[stage])] = stage
                if not running:
                    break  # what is left waits on a failed stage
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    stage = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        failed.append(stage)
                        first_error = first_error or error
                        if on_error == "ignore":  # DVC goes on with what depends on it
                            dvc.handle_error(graph, on_error, error, stage)
                            done[stage] = None
                        elif on_error == "keep-going":
                            skipped |= dvc.handle_error(graph, on_error, error, stage)
                        continue
                    done[stage] = future.result()
                    if force_downstream and (done[stage] or force_state[stage]):
                        force_state.update(dict.fromkeys(graph.predecessors(stage), True))
        except BaseException:  # Ctrl-C: the stages' processes got it too; let them end
            for future in running:
                future.cancel()
            raise
    if failed and on_error == "fail":
        dvc._raise_error(first_error, *failed)
    if failed and on_error != "ignore":
        dvc._raise_error(None, *failed)
    return [done[s] for s in stages if done.get(s)]
