"""Run a stage notebook with papermill (what ``dvc repro`` calls), plus an offline HTML copy.

DVC stage commands call ``research notebook <stage> [--model NAME]``. The notebook's
parameters cell holds only the model name, which papermill injects; the stage reads
everything else from ``params.yaml`` itself. ``RESEARCH_PIPELINE=1`` tells the stage to
write its outputs and register. The executed copy lands in
``reports/notebooks/<stage>[-<model>].ipynb`` with an HTML rendering beside it, and is
kept even when a cell fails: it is the failure log. It records times and run ids, so it is
written beside the stage's DVC outputs, never declared as one (dvc.lock holds only what the
code, params and seed decide; ``tests/test_deterministic_outputs.py``).

The console gets one line as the stage starts and one as it ends, with its wall time and key
figure, or the first line of its error and where the executed notebook is (``_summary``).
The kernel talks over IPC sockets in a private temporary folder (nothing on the network, no
"running over TCP without encryption" warning) and starts with the library chatter that is
no report content turned off (``quiet_kernel_environment``, ``KERNEL_STARTUP``).

After a successful run the front page ``reports/index.html``, if built, is rewritten: it
names each model's last training run (``runs/<model>.json``), which is no DVC dependency of
the report stage, so a new run of an unchanged model would otherwise leave it naming the
previous run.

Faults leave nothing running and nothing looking current that is not:

- The kernel dies with this process: Linux sends it SIGKILL when its parent ends
  (``PR_SET_PDEATHSIG``, set as it starts; ipykernel's own parent poller, enabled by
  jupyter_client's ``JPY_PARENT_PID``, is the slower fallback elsewhere). On SIGTERM, SIGINT
  or SIGHUP the kernel's process group gets SIGTERM at once (a training run in it closes its
  MLflow run as KILLED), then SIGKILL after ``KERNEL_GRACE_S``; the failure is recorded and
  the signal then ends this process.
- Run by DVC (``DVC_STAGE`` set), this process gets SIGTERM when DVC ends, so a killed
  ``dvc repro`` does not leave a stage writing while the next one starts it again.
- A failed or interrupted run marks the stages downstream stale and takes their reports
  down (``research.stages._stale``); the front page, if built, is rewritten with a banner.
  A successful run of the stage clears that.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from research import _process
from research.paths import executed_notebook_path, notebooks_dir
from research.stages import _stale, _summary, check_stage, stage_context
from research.stages._context import PIPELINE_ENV

KERNEL_GRACE_S = 5.0  # what a kernel gets after SIGTERM to close its run before SIGKILL


def run_notebook(
    stage: str,
    *,
    model: str | None = None,
    root: Path | None = None,
    html: bool = True,
    console: bool = False,
) -> Path:
    """Execute ``notebooks/<stage>.ipynb`` for the pipeline and return the executed copy's path.

    A bad stage or model name, or a params error, stops here before a kernel starts. With
    ``console``, the run prints one start line and one result line (``_summary``): its wall
    time and key figure, or the first line of its error and where the failure log is.
    """
    began = time.monotonic()
    ctx = stage_context(root, write=True)
    check_stage(stage, model, ctx)
    say = _summary.Console(stage, model, ctx.root, began) if console else None
    if say is not None:
        say.started()
    if os.environ.get("DVC_STAGE"):
        _process.die_with_parent(signal.SIGTERM)
    root = ctx.root
    models = list(ctx.settings.models)
    out = executed_notebook_path(root, stage, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped = skip_note(ctx, stage, model)
    if skipped is not None:
        try:
            done = _run_skipped(ctx, stage, model, skipped, out, html=html)
        except Exception as err:
            if say is not None:
                say.failed(err, None)
            raise
        if say is not None:
            say.skipped(skipped)
        return done
    if _stale.begin(root, stage, model, models):
        refresh_front_page(ctx)
    kernels = _Kernels()
    numerics = reproducible_numerics()
    quiet = quiet_kernel_environment()
    saved = {
        name: os.environ.get(name) for name in ("RESEARCH_ROOT", PIPELINE_ENV, *numerics, *quiet)
    }
    os.environ["RESEARCH_ROOT"] = str(root)
    os.environ[PIPELINE_ENV] = "1"
    os.environ.update(numerics)  # the kernel (and a LocalCluster's workers) inherit them
    os.environ.update(quiet)
    _import_nbformat()
    import papermill

    # while the kernel works: the HTML exporter gets ready, the front page's code is imported
    _prepare_in_background(html=html, front_page=stage != "report")

    finished: list[bool] = []

    def finish() -> None:  # restore the environment, write the HTML copy (once)
        if finished:
            return
        finished.append(True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if out.exists():
            import nbformat

            notebook = _project_relative_paths(nbformat.read(out, as_version=4), root)
            nbformat.write(notebook, out)
            if html:
                _write_html(notebook, out.with_suffix(".html"))

    try:
        with _process.signals_raise(kernels.on_signal):
            try:
                papermill.execute_notebook(
                    str(notebooks_dir(root) / f"{stage}.ipynb"),
                    str(out),
                    parameters={"model": model} if model is not None else {},
                    cwd=str(root),
                    kernel_name="research" if _has_research_kernel() else "python3",
                    progress_bar=False,
                    log_output=False,
                    kernel_manager_class=kernels.manager_class(),
                )
            finally:
                kernels.stop()
        if kernels.interrupted:
            raise _process.Interrupted(kernels.interrupted)
    except BaseException as err:
        signum = kernels.interrupted or getattr(err, "signum", None)
        _record_failure(ctx, stage, model, models, err, signum, refresh_front_page)
        if signum:
            finish()
            if say is not None:
                say.failed(err, out, signum=signum)
            _process.redeliver(signum)  # ends the process as the signal would have
        finish()
        if say is not None:
            say.failed(err, out)
        raise
    else:
        _stale.succeed(root, stage, model)
        if stage != "report":  # the report stage has just written the page
            _refresh_quietly(ctx, refresh_front_page)
    finally:
        finish()
    if say is not None:
        say.done()
    return out


# What the kernel is told, so that an executed notebook holds the stage's output and real
# problems, not library chatter (issue 17):
# - tqdm warns "IProgress not found" (with the path of its installed module) whenever a library
#   imports ``tqdm.auto`` in a kernel without ipywidgets; the notebooks show no progress bars.
# - MLflow logs at INFO ("Creating initial MLflow database tables", "Validating input example
#   against model signature"); its warnings and errors still show.
# - MLflow warns "Failed to resolve installed pip version" whenever it logs a model with pip
#   requirements where pip is not installed (uv's environments): it only means that the
#   model's conda.yaml names pip without a version. The kernel filters that one record out as
#   it starts (``KERNEL_STARTUP``, run by ipykernel before the first cell, defining no name).
QUIET_WARNINGS = ("ignore:IProgress not found",)
MLFLOW_LOG_LEVEL = "WARNING"
KERNEL_STARTUP = (
    '__import__("logging").getLogger("mlflow.utils.environment").addFilter('
    'lambda record: not record.getMessage().startswith("Failed to resolve installed pip version"))'
)


def quiet_kernel_environment() -> dict[str, str]:
    """The environment variables a stage's kernel starts with to keep library chatter out of its notebook.

    A ``PYTHONWARNINGS`` or ``MLFLOW_LOGGING_LEVEL`` already set is kept (filters added after
    the ones given).
    """
    given = os.environ.get("PYTHONWARNINGS", "")
    filters = [f for f in given.split(",") if f]
    filters += [f for f in QUIET_WARNINGS if f not in filters]
    return {
        "PYTHONWARNINGS": ",".join(filters),
        "MLFLOW_LOGGING_LEVEL": os.environ.get("MLFLOW_LOGGING_LEVEL") or MLFLOW_LOG_LEVEL,
    }


def refresh_front_page(ctx: Any) -> Path | None:
    """``research.stages.report.refresh_front_page``, imported when first needed (it takes a while)."""
    from research.stages.report import refresh_front_page as refresh

    return refresh(ctx)


def _prepare_in_background(*, html: bool, front_page: bool) -> None:
    """Do in a thread, while the kernel runs, what the run needs after it: seconds off its end."""

    def prepare() -> None:
        with contextlib.suppress(Exception):  # only a head start: the run itself reports errors
            if front_page:
                import research.stages.report  # noqa: F401
        if html:
            _HTML.prepare()

    threading.Thread(target=prepare, name="after-the-kernel", daemon=True).start()


def reproducible_numerics() -> dict[str, str]:
    """The environment a stage's kernel computes in, so that its outputs have the same bytes on any machine.

    Each setting closes a difference measured on the pipeline's outputs (issue 16):

    - ``OPENBLAS_NUM_THREADS=1``: OpenBLAS splits a product's sums over its threads (by default
      as many as the machine has cores), and the challenger's logistic fit came out some ulps
      apart with 1 and 2 threads. XGBoost is unaffected: it takes ``compute.nthread`` and gives
      the same booster with 1, 2 or 4 threads.
    - ``OPENBLAS_CORETYPE=Haswell`` (an x86-64 processor with AVX2 and FMA): OpenBLAS picks its
      kernel by processor (SkylakeX, Zen, Haswell, ...) and each kernel sums in its own order;
      the Platt calibrator and the challenger differed between two kernels.
    - ``NPY_DISABLE_CPU_FEATURES``: numpy's AVX-512 ``exp``, ``log``, ``power``, ... round
      differently from the C library's, which numpy uses without AVX-512; the features panel
      kept the difference. With numpy's AVX-512 targets off, a processor with AVX-512 computes
      as one without.

    Outside x86-64 only the thread count is set (outputs are not expected to match across
    processor architectures).
    """
    settings = {"OPENBLAS_NUM_THREADS": "1"}
    features, targets = _numpy_cpu()
    if features.get("AVX2") and features.get("FMA3"):
        settings["OPENBLAS_CORETYPE"] = "Haswell"
    avx512 = [t for t in targets if "AVX512" in t or t == "X86_V4"]
    if avx512:
        settings["NPY_DISABLE_CPU_FEATURES"] = ",".join(avx512)
    return settings


def _numpy_cpu() -> tuple[dict[str, bool], list[str]]:
    """numpy's view of the processor (feature -> present) and its build's dispatch targets."""
    import importlib

    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # pragma: no cover - numpy < 2
        return {}, []
    return dict(getattr(umath, "__cpu_features__", {})), list(
        getattr(umath, "__cpu_dispatch__", [])
    )


def _refresh_quietly(ctx, refresh: Callable) -> None:
    """Rewrite the front page after a successful stage; a failure to do so only warns (the stage ran)."""
    import warnings

    try:
        refresh(ctx)
    except Exception as err:  # the page is a convenience; the stage's outputs are written
        warnings.warn(f"could not rewrite the front page: {err}", stacklevel=2)


def _record_failure(ctx, stage, model, models, err, signum, refresh: Callable) -> None:
    """Mark the stages downstream stale and rewrite the front page; never mask the failure itself."""
    import warnings

    error = f"interrupted by {signal.Signals(signum).name}" if signum else _stale.first_line(err)
    try:
        _stale.fail(ctx.root, stage, model, models, error)
        refresh(ctx)
    except Exception as marking:  # the stage's own error is what matters
        warnings.warn(f"could not mark the reports stale: {marking}", stacklevel=2)


RUNTIME_PREFIX = "research-kernel-"  # + the runner's pid: a killed runner's folder is found


def _sweep_runtime_folders(parent: Path) -> None:
    """Remove the kernel folders of runners that have ended (a SIGKILL leaves its folder behind)."""
    for folder in parent.glob(f"{RUNTIME_PREFIX}*"):
        pid = folder.name[len(RUNTIME_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                if folder.stat().st_uid == os.getuid():
                    shutil.rmtree(folder)
        except OSError:
            pass  # it runs under another user


class _Kernels:
    """The kernels a run starts: they die with this process, and a termination signal stops them first."""

    def __init__(self) -> None:
        self.processes: list[Any] = []  # subprocess.Popen of each kernel (its own process group)
        self.interrupted: int | None = None
        self._timer: threading.Timer | None = None
        self._runtime: str | None = None  # a private folder for connection files and sockets

    def connection_file(self) -> str:
        """A new connection file's path in this run's private folder (mode 0700, removed by ``stop``)."""
        if self._runtime is None:
            self._runtime = tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-")
            _sweep_runtime_folders(Path(self._runtime).parent)
        return os.path.join(self._runtime, f"kernel-{len(self.processes)}.json")

    def manager_class(self) -> type:
        """A kernel manager that starts kernels with SIGKILL as their parent-death signal."""
        from jupyter_client.manager import AsyncKernelManager

        setter = _process.pdeathsig_setter(signal.SIGKILL)
        parent = os.getpid()
        kernels = self

        def set_death_signal() -> None:  # runs in the forked kernel before exec
            if setter is not None:
                setter()
                if os.getppid() != parent:
                    os._exit(1)

        class ChildKernelManager(AsyncKernelManager):
            """Over IPC sockets in a private folder (nothing on the network, no transport warning)."""

            def __init__(self, **kw: Any) -> None:
                kw.setdefault("transport", "ipc")
                kw.setdefault("connection_file", kernels.connection_file())
                super().__init__(**kw)
                self.ip = os.path.splitext(self.connection_file)[0] + "-ipc"

            async def _async_interrupt_kernel(self) -> None:
                # jupyter_client interrupts (SIGINT) before its shutdown request; the notebook has
                # finished by then, and the interrupt only makes an idle kernel log
                # "KeyboardInterrupt caught in kernel". A busy kernel is killed after the request.
                if not self.shutting_down:
                    await super()._async_interrupt_kernel()

            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                if any("ipykernel" in part for part in kernel_cmd):
                    kernel_cmd = [*kernel_cmd, f"--IPKernelApp.exec_lines={KERNEL_STARTUP}"]
                kw.setdefault("preexec_fn", set_death_signal)
                await super()._async_launch_kernel(kernel_cmd, **kw)
                process = getattr(self.provisioner, "process", None)
                if process is not None:
                    kernels.processes.append(process)

        return ChildKernelManager

    def alive(self) -> list[Any]:
        return [p for p in self.processes if p.poll() is None]

    def _signal(self, signum: int, processes: list[Any]) -> None:
        for process in processes:
            with contextlib.suppress(OSError):  # the kernel leads its own group (new session)
                os.killpg(process.pid, signum)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM the kernels now, SIGKILL them after the grace; nbclient then sees them die.

        Before a kernel runs there is nothing to wait for: the run stops here.
        """
        self.interrupted = self.interrupted or signum
        alive = self.alive()
        if not alive:
            raise _process.Interrupted(signum)
        self._signal(signal.SIGTERM, alive)
        if self._timer is None:
            self._timer = threading.Timer(
                KERNEL_GRACE_S, lambda: self._signal(signal.SIGKILL, self.alive())
            )
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        """No kernel outlives the run: SIGTERM, then SIGKILL after the grace; on interruption their groups too."""
        alive = self.alive()
        self._signal(signal.SIGTERM, alive)
        for process in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL below
                process.wait(timeout=KERNEL_GRACE_S)
        if alive or self.interrupted:
            self._signal(signal.SIGKILL, self.processes)  # the kernels and what they started
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KERNEL_GRACE_S)
        if self._timer is not None:
            self._timer.cancel()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)


def _project_relative_paths(notebook: Any, root: Path) -> Any:
    """papermill records the absolute input and output paths: keep them relative to the project.

    An executed notebook names no machine path (the project's folder could name a user).
    """
    meta = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        value = meta.get(key)
        if isinstance(value, str) and os.path.isabs(value):
            with contextlib.suppress(ValueError):
                meta[key] = Path(value).resolve().relative_to(root.resolve()).as_posix()
    return notebook


def _has_research_kernel() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "research" in KernelSpecManager().find_kernel_specs()


_EXTERNAL_SCRIPT = re.compile(
    r"<script[^>]*\ssrc=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE
)


def _write_html(notebook, path: Path) -> None:
    """An offline HTML copy: images embedded, no scripts fetched from a CDN.

    The lab template links require.js and MathJax from a CDN; the notebooks use neither
    widgets nor LaTeX, so those tags are dropped and the page needs no network.
    """
    body, _ = _HTML.exporter().from_notebook_node(notebook)
    path.write_text(_EXTERNAL_SCRIPT.sub("", body), encoding="utf-8")


class _HtmlExporter:
    """One nbconvert HTML exporter per process, made ready (in a thread) while a kernel runs.

    Its first page costs seconds: importing nbconvert, compiling the lab template and the
    Python lexer's patterns. Rendering a small notebook first does that work; the exporter
    renders every later notebook as a new one would (``tests/test_console.py``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exporter: Any = None

    def exporter(self) -> Any:
        with self._lock:  # waits for a preparation in progress
            if self._exporter is None:
                _import_nbformat()
                from nbconvert import HTMLExporter

                self._exporter = HTMLExporter(template_name="lab", embed_images=True)
            return self._exporter

    def prepare(self) -> None:
        import nbformat

        with contextlib.suppress(Exception):  # only a head start; the real page reports errors
            self.exporter().from_notebook_node(
                nbformat.v4.new_notebook(
                    cells=[nbformat.v4.new_markdown_cell("#"), nbformat.v4.new_code_cell("1")],
                    metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}},
                )
            )


_HTML = _HtmlExporter()

# jsonschema, which nbformat imports, loads every optional format checker installed; one of
# them (rfc3987_syntax, for "iri" formats) builds a parser at import: 1-6 s, about half of the
# runner's time outside the kernel. Notebook validation checks no formats.
_SLOW_UNUSED = ("rfc3987_syntax",)


def _import_nbformat() -> None:
    """Import nbformat (and so jsonschema) without the optional modules it never uses here."""
    if "jsonschema" in sys.modules:
        return
    left_out = [name for name in _SLOW_UNUSED if name not in sys.modules]
    for name in left_out:
        sys.modules[name] = None  # type: ignore[assignment]  # an import of it fails at once
    try:
        import nbformat  # noqa: F401
    finally:
        for name in left_out:  # a later explicit import of it works as usual
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def skip_note(ctx: Any, stage: str, model: str | None) -> str | None:
    """Why the stage writes placeholder outputs instead of running its notebook, or None.

    A model disabled in params.yaml (DVC's foreach still lists its stages), the data and
    features stages when no enabled model is trained on the panel, or the value stage when a
    model it needs is disabled or trained on a flat table.
    """
    from research.models.params import disabled_note

    if model is not None and not ctx.spec(model).enabled:
        return disabled_note(model)
    if stage in ("data", "features") and not ctx.settings.needs_panel:
        return ctx.settings.no_panel_note()
    if stage == "value":
        from research.stages.value import disabled_sources, not_computed_note

        missing = disabled_sources(ctx)
        return not_computed_note(missing, ctx.settings) if missing else None
    return None


def _run_skipped(
    ctx: Any, stage: str, model: str | None, note: str, out: Path, *, html: bool
) -> Path:
    """Run the stage in this process (it writes its placeholder outputs) and an executed notebook saying why."""
    _import_nbformat()
    import nbformat

    from research.stages import run_stage

    saved = os.environ.get(PIPELINE_ENV)
    os.environ[PIPELINE_ENV] = "1"
    try:
        run_stage(stage, model, ctx=ctx)
    finally:
        if saved is None:
            os.environ.pop(PIPELINE_ENV, None)
        else:
            os.environ[PIPELINE_ENV] = saved
    title = f"{stage} ({model})" if model else stage
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(f"# {title}: not run\n\n{note}")],
        metadata={
            "kernelspec": {
                "display_name": "Python (research)",
                "language": "python",
                "name": "research",
            }
        },
    )
    nbformat.write(notebook, out)
    if html:
        _write_html(notebook, out.with_suffix(".html"))
    return out
