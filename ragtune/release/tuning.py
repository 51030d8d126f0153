"""`ragtune tune`: an Optuna (TPE) search over parameters, one `dvc exp run -S …` experiment per trial.

Each trial is a DVC experiment named `tune-<study>-<n>` (listed by `dvc exp show`, compared with
`dvc metrics diff`), scored by the declared objective (`tune.objective`, ragtune.evaluation.objective)
read from its metrics/retrieval.json. The study lives in an SQLite file in ragtune's store outside
DVC's outputs (ragtune.cache.location: `<store>/tune/<study>.db`), which `dvc exp run`'s restores never
touch: running the same study again continues it, and trials already done are not run again.

Lives here, not under ragtune/evaluation (a DVC dep of train and evaluate): no stage loads it, so a
change to the search reruns nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ragtune.cache.location import cache_root
from ragtune.evaluation.objective import objective
from ragtune.io import UserError, read_json
from ragtune.release.vcs import Log, dvc_command, explain_failure, quiet, stream

STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
SPACE = re.compile(r"^\s*([+]{0,2}[\w.@-]+)\s*=\s*(float|int|choice)\s*\((.*)\)\s*$")
MIN_IMPORTANCE_TRIALS = 4

# (experiment name, Hydra overrides) -> the experiment's metrics/retrieval.json
Runner = Callable[[str, Sequence[str]], Mapping[str, Any]]


class TuneError(UserError):
    """A bad search space, study or trial; the message says what to change, in one line."""


@dataclasses.dataclass(frozen=True)
class Space:
    """One searched parameter: `key=float(low,high[,log])`, `key=int(low,high[,log])` or `key=choice(a,b,…)`."""

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    text: str = ""

    def suggest(self, trial) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def extremes(self) -> list[Any]:
        """The values whose validity stands for the whole range (every choice)."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def parse_space(word: str) -> Space:
    """`alpha=float(0.3,0.9)` into a Space; TuneError with one line naming the word otherwise."""
    import yaml

    found = SPACE.match(word)
    if not found:
        raise TuneError(f"{word!r}: expected KEY=float(low,high), KEY=int(low,high) or KEY=choice(a,b,…)")
    key, kind, inside = found.group(1).lstrip("+"), found.group(2), found.group(3)
    args = [a.strip() for a in inside.split(",")] if inside.strip() else []
    if kind == "choice":
        if not args or not all(args):
            raise TuneError(f"{word!r}: choice needs one or more values, e.g. choice(hybrid,rrf)")
        values = tuple(yaml.safe_load(a) for a in args)
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
            raise TuneError(f"{word!r}: choice values must be numbers, strings, true/false or null")
        if len(set(map(repr, values))) != len(values):
            raise TuneError(f"{word!r}: a value is listed twice")
        return Space(key, kind, choices=values, text=word.strip())
    log = len(args) == 3 and args[2] == "log"
    if len(args) != 2 + log:
        raise TuneError(f"{word!r}: {kind} needs (low, high) or (low, high, log)")
    number = float if kind == "float" else int
    try:
        low, high = number(args[0]), number(args[1])
    except ValueError:
        raise TuneError(f"{word!r}: {kind} bounds must be {'numbers' if kind == 'float' else 'integers'}") from None
    if not low < high:
        raise TuneError(f"{word!r}: low must be below high")
    if log and low <= 0:
        raise TuneError(f"{word!r}: a log range needs low > 0")
    return Space(key, kind, low, high, log, text=word.strip())


def override(key: str, value: Any, present: bool = True) -> str:
    """One Hydra override (`dvc exp run -S`): `key=value`, `++key=value` when the composed config lacks it."""
    if isinstance(value, str) and re.fullmatch(r"[\w./@:-]+", value) and value not in ("true", "false", "null"):
        text = value
    else:
        text = json.dumps(value)
    return f"{'' if present else '++'}{key}={text}"


def check_spaces(conf: Path, spaces: Sequence[Space]) -> dict[str, bool]:
    """Refuse, before any trial runs, an unknown key, a key searched twice, or a value the schema rejects
    (each range's ends, every choice). Returns key -> whether the composed configuration holds it."""
    from ragtune.config.schema import schema_keys, validate
    from ragtune.config.workspace import compose, groups

    keys = [s.key for s in spaces]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise TuneError(f"{', '.join(twice)} searched twice")
    known, options = schema_keys(), groups(conf)
    composed = compose(conf)
    present = {}
    for space in spaces:
        if space.key in options:
            if space.kind != "choice":
                raise TuneError(f"{space.text!r}: {space.key} is a config group: use {space.key}=choice(a,b)")
            missing = [o for o in space.choices if not (conf / space.key / f"{o}.yaml").exists()]
            if missing:
                choices = sorted(p.stem for p in (conf / space.key).glob("*.yaml"))
                raise TuneError(f"{space.text!r}: no {space.key} option {missing[0]!r}; one of {', '.join(choices)}")
            present[space.key] = True
            continue
        if space.key not in known:
            near = sorted(k for k in known if k.rpartition(".")[2] == space.key.rpartition(".")[2])
            hint = f" (did you mean {', '.join(near)}?)" if near else " (ragtune/config/schema.py lists the keys)"
            raise TuneError(f"{space.text!r}: {space.key} is not a known parameter{hint}")
        present[space.key] = _has(composed, space.key)
    for space in spaces:
        for value in space.extremes():
            words = [override(space.key, value, present[space.key])]
            try:
                validate(compose(conf, words), source=" ".join(words))
            except UserError as exc:
                raise TuneError(f"{space.text!r}: {exc}") from None
    return present


def _has(node: Mapping[str, Any], key: str) -> bool:
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def study_file(root: Path, study: str) -> Path:
    return cache_root(root) / "tune" / f"{study}.db"


def dvc_runner(root: Path, log: Log = quiet) -> Runner:
    """Run one trial as `dvc exp run -n NAME -S …` in `root`; return the experiment's metrics/retrieval.json
    (`dvc exp run` leaves the workspace at its results)."""

    def run(name: str, overrides: Sequence[str]) -> Mapping[str, Any]:
        args = [*dvc_command(), "exp", "run", "--name", name, *(w for o in overrides for w in ("-S", o))]

        def progress(line: str) -> None:
            if line.startswith(("Running stage", "Stage '")) or line.startswith("evaluate: objective"):
                log(f"  {line}")

        code, output = stream(args, root, progress)
        if code != 0:
            raise TuneError(explain_failure(args, root, output))
        return read_json(root / "metrics" / "retrieval.json")

    return run


@dataclasses.dataclass
class Study:
    """An Optuna study with the search it was created for (spaces, objective), as stored in its file."""

    study: Any
    name: str
    spaces: list[Space]
    objective: str
    path: Path
    storage: Any


def open_study(
    root: Path,
    name: str,
    words: Sequence[str] = (),
    objective_spec: str | None = None,
    default_objective: str = "mean:hybrid.map@3",
    seed: int | None = None,
) -> Study:
    """Create the study `name` (searching `words`, maximising `objective_spec` or the default), or load it:
    then `words` and `objective_spec` must be its own, or absent."""
    import optuna

    if not STUDY_NAME.match(name):
        raise TuneError(f"study {name!r}: use letters, digits, '-' and '_' (it names experiments tune-{name}-N)")
    path = study_file(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exists = name in {s.study_name for s in optuna.study.get_all_study_summaries(storage)}
    if exists:
        study = optuna.load_study(study_name=name, storage=storage)
        stored, spec = study.user_attrs["spaces"], study.user_attrs["objective"]
        given = [parse_space(w).text for w in words]
        if given and given != stored:
            raise TuneError(
                f"study {name!r} searches {' '.join(stored)}: give the same (or none) to continue it, "
                f"or a new --study NAME"
            )
        if objective_spec is not None and objective_spec != spec:
            raise TuneError(f"study {name!r} maximises {spec}: drop --objective, or start a new --study NAME")
    else:
        if not words:
            raise TuneError(f"no study {name!r} yet ({path}): give what to search, e.g. 'alpha=float(0.3,0.9)'")
        stored = [parse_space(w).text for w in words]
        spec = objective_spec or default_objective
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
        study.set_user_attr("spaces", stored)
        study.set_user_attr("objective", spec)
    done = len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=None if seed is None else seed + done)  # resumed: no repeats
    return Study(study, name, [parse_space(w) for w in stored], spec, path, storage)


def run_trials(
    handle: Study, trials: int, runner: Runner, present: Mapping[str, bool] | None = None, log: Log = quiet
) -> int:
    """Run trials until `trials` have completed in the study; an interrupted one (left running by a killed
    process) is asked again with its parameters. Returns how many ran now."""
    from optuna.trial import TrialState

    study, present = handle.study, present or {}
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        handle.storage.set_trial_state_values(stale._trial_id, TrialState.FAIL)
        study.enqueue_trial(stale.params, user_attrs={"retry_of": stale.number})
        log(f"trial {stale.number} was interrupted: its parameters run again")
    completed = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    ran = 0
    while completed < trials:
        trial = study.ask()
        values = {s.key: s.suggest(trial) for s in handle.spaces}
        name = f"tune-{handle.name}-{trial.number}"
        trial.set_user_attr("experiment", name)
        words = [override(k, v, present.get(k, True)) for k, v in values.items()]
        words.append(override("tune.objective", handle.objective))
        log(f"trial {trial.number} ({completed + 1}/{trials}): dvc exp run --name {name} -S {' -S '.join(words)}")
        started = time.monotonic()
        try:
            score = objective(runner(name, words), handle.objective)
        except KeyboardInterrupt:  # its parameters run first when the study continues
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(values, user_attrs={"retry_of": trial.number})
            raise
        except Exception:  # a failed experiment: recorded, not retried (the message says why it failed)
            study.tell(trial, state=TrialState.FAIL)
            raise
        trial.set_user_attr("seconds", round(time.monotonic() - started, 1))
        study.tell(trial, score)
        completed, ran = completed + 1, ran + 1
        best = study.best_trial
        log(
            f"trial {trial.number}: {handle.objective} = {score:.4f} ({time.monotonic() - started:.0f} s); "
            f"best so far {best.value:.4f} (trial {best.number})"
        )
    return ran


def finished(handle: Study) -> list:
    from optuna.trial import TrialState

    return handle.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def describe(handle: Study) -> str:
    """Every trial (experiment, parameters, objective, seconds, state) and the best, as a table."""
    trials = handle.study.get_trials(deepcopy=False)
    done = finished(handle)
    best = max(done, key=lambda t: t.value).number if done else None
    keys = [s.key for s in handle.spaces]
    header = ["", "trial", "experiment", *keys, handle.objective, "seconds", "state"]
    rows = [
        [
            "*" if t.number == best else "",
            str(t.number),
            t.user_attrs.get("experiment", "-"),
            *(_shown(t.params.get(k)) for k in keys),
            f"{t.value:.4f}" if t.value is not None else "-",
            str(t.user_attrs.get("seconds", "-")),
            t.state.name.lower(),
        ]
        for t in trials
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"study {handle.name} ({handle.path}): {len(done)} trials done, maximising {handle.objective}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    if done:
        top = handle.study.best_trial
        lines.append(
            f"best: trial {top.number} ({top.user_attrs.get('experiment')}) "
            + " ".join(f"{k}={_shown(v)}" for k, v in top.params.items())
            + f" -> {handle.objective} = {top.value:.4f}"
        )
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_assignments(handle: Study) -> list[str]:
    """The best trial's parameters as `ragtune use` KEY=VALUE words (the exact values, not rounded)."""
    if not finished(handle):
        raise TuneError(f"study {handle.name!r} has no finished trial to apply")
    return [
        f"{k}={v}" if isinstance(v, str) else f"{k}={json.dumps(v)}" for k, v in handle.study.best_trial.params.items()
    ]


def plot(handle: Study, folder: Path) -> list[Path]:
    """history.png (objective per trial, best so far) and, with two parameters or more and enough trials,
    importances.png (optuna.importance.get_param_importances). Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted(finished(handle), key=lambda t: t.number)
    if not done:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    numbers, values = [t.number for t in done], [t.value for t in done]
    best = [max(values[: i + 1]) for i in range(len(values))]
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.scatter(numbers, values, label="trial", color="tab:blue")
    axes.step(numbers, best, where="post", label="best so far", color="tab:orange")
    axes.set(xlabel="trial", ylabel=handle.objective, title=f"ragtune tune: study {handle.name}")
    axes.legend(loc="lower right")
    written = [folder / "history.png"]
    figure.savefig(written[0], dpi=100, bbox_inches="tight")
    plt.close(figure)
    if len(handle.spaces) >= 2 and len(done) >= MIN_IMPORTANCE_TRIALS:
        import optuna

        importances = optuna.importance.get_param_importances(handle.study)
        figure, axes = plt.subplots(figsize=(7, 1 + 0.5 * len(importances)))
        names = list(importances)[::-1]
        axes.barh(names, [importances[n] for n in names], color="tab:green")
        axes.set(xlabel="importance (optuna.importance)", title=f"parameter importances: study {handle.name}")
        written.append(folder / "importances.png")
        figure.savefig(written[-1], dpi=100, bbox_inches="tight")
        plt.close(figure)
    return written
