"""Where the effective settings of a Kubernetes or Docker component (kubelet, kube-apiserver, etcd, dockerd,
...) come from on a target: the running processes' command lines on the live host, else the static pod
manifest or the systemd unit (drop-ins, ``Environment=`` and ``EnvironmentFile=`` expanded), and the
component's configuration file; a flag wins over the file, the file over the program's default."""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from threatstryker.posture.context import Context, ProbeError
from threatstryker.sources.dirtree import DirTree
from threatstryker.sources.filetree import FileTreeError

MANIFESTS = "/etc/kubernetes/manifests"
BIN_DIRS = ("/usr/bin", "/usr/local/bin")


@dataclass(frozen=True, slots=True)
class Kind:
    """How a component is run and configured: its executable's name, its systemd unit, its static pod
    manifest, the flag naming its config file and the file read without that flag."""

    process: str
    unit: str
    manifest: str | None = None
    config_flag: str | None = None
    config_path: str | None = None
    #: the program reads ``config_path`` by itself (dockerd); otherwise only when no command line is known
    config_always: bool = False
    config_format: str = "yaml"
    #: a file and variable holding options for init scripts, read when no systemd unit runs the program
    opts_file: tuple[str, str] | None = None
    #: Go's flag package: ``-flag`` means ``--flag`` (etcd)
    single_dash: bool = False
    #: file paths (keys ending in ``File``) in the config file are relative to its directory (the kubelet)
    relative_files: bool = False


KINDS: dict[str, Kind] = {
    "kubelet": Kind("kubelet", "kubelet.service", config_flag="--config", config_path="/var/lib/kubelet/config.yaml",
                    relative_files=True),
    "kube-apiserver": Kind("kube-apiserver", "kube-apiserver.service", f"{MANIFESTS}/kube-apiserver.yaml"),
    "kube-controller-manager": Kind("kube-controller-manager", "kube-controller-manager.service",
                                    f"{MANIFESTS}/kube-controller-manager.yaml"),
    "kube-scheduler": Kind("kube-scheduler", "kube-scheduler.service", f"{MANIFESTS}/kube-scheduler.yaml"),
    "etcd": Kind("etcd", "etcd.service", f"{MANIFESTS}/etcd.yaml", single_dash=True),
    "kube-proxy": Kind("kube-proxy", "kube-proxy.service", config_flag="--config"),
    "dockerd": Kind("dockerd", "docker.service", config_flag="--config-file", config_path="/etc/docker/daemon.json",
                    config_always=True, config_format="json", opts_file=("/etc/default/docker", "DOCKER_OPTS")),
}

_UNSET: Any = object()


@dataclass(slots=True)
class Instance:
    """One way the component runs: a process, its manifest, its unit, or (``known`` False) no command line
    found. ``args`` pairs each argument with the file it came from; ``files`` is where the files it names
    are (the target, or a containerised process's own root)."""

    label: str
    source: str
    args: list[tuple[str, str]]
    files: Context
    known: bool = True
    #: the prefix that shows a path of ``files`` on the host (``/proc/PID/root`` for a containerised process)
    root: str = ""
    config: Any = field(default=_UNSET, repr=False)


@dataclass(slots=True)
class Component:
    """A component on the target: no instances when it is not there."""

    name: str
    kind: Kind
    instances: list[Instance]


@dataclass(frozen=True, slots=True)
class Setting:
    """A setting's value in force (None: set nowhere) and where it came from."""

    value: str | None
    source: str


def component(ctx: Context, name: str) -> Component:
    """The component ``name`` on ``ctx``'s target (read once per target)."""
    cache: dict[str, Component] = ctx.cache.setdefault("posture.components", {})
    if name not in cache:
        if name not in KINDS:
            raise ProbeError(f"unknown component {name!r} (known: {', '.join(sorted(KINDS))})")
        kind = KINDS[name]
        instances = _processes(ctx, kind) if ctx.live else []
        if not instances:
            found = _manifest(ctx, kind) or _unit(ctx, kind) or _opts_file(ctx, kind)
            if found is None:
                marker = next((p for p in _markers(kind) if ctx.stat(p) is not None), None)
                found = Instance("", marker, [], ctx, known=False) if marker else None
            instances = [found] if found else []
        cache[name] = Component(name, kind, instances)
    return cache[name]


def _markers(kind: Kind) -> list[str]:
    return ([kind.config_path] if kind.config_path else []) + [f"{d}/{kind.process}" for d in BIN_DIRS]


# --- command lines ------------------------------------------------------------------------------------------

def _same_root(proc: str, pid: int) -> bool:
    try:
        theirs, ours = os.stat(f"{proc}/{pid}/root"), os.stat(f"{proc}/self/root")
    except OSError:
        return True
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _processes(ctx: Context, kind: Kind) -> list[Instance]:
    from threatstryker.posture.probes.process import command_lines  # the probes package imports this module

    out = []
    for pid, argv in command_lines(ctx.proc, kind.process):
        files, root = ctx, ""
        if not _same_root(ctx.proc, pid):  # in a container: the files it names are in its own root
            with contextlib.suppress(FileTreeError, OSError):  # gone, or not ours to read: the target's
                files, root = Context(DirTree(f"{ctx.proc}/{pid}/root")), f"{ctx.proc}/{pid}/root"
        source = f"{ctx.proc}/{pid}/cmdline"
        out.append(Instance(f"pid {pid}", source, [(a, source) for a in argv[1:]], files, root=root))
    return out


def _manifest(ctx: Context, kind: Kind) -> Instance | None:
    if kind.manifest is None:
        return None
    path = kind.manifest
    text = ctx.text(path)
    if text is None:
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProbeError(f"{path}: not valid YAML ({str(exc).splitlines()[0][:120]})") from None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise ProbeError(f"{path}: no containers in the pod spec")

    def argv(c: dict[str, Any]) -> list[str]:
        return [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]

    chosen = next((c for c in containers if c.get("name") == kind.process), None) or next(
        (c for c in containers if argv(c) and posixpath.basename(argv(c)[0]) == kind.process), containers[0])
    return Instance("", path, [(a, path) for a in argv(chosen)], ctx)


_WORD = re.compile(r"""(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)+""")
_PART = re.compile(r""""((?:[^"\\]|\\.)*)"|'([^']*)'|([^"']+)""")
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def words(line: str) -> list[str]:
    """A command line split into words as systemd and shells quote them, quotes removed."""
    return [_unquote(w) for w in _WORD.findall(line)]


def _unquote(word: str) -> str:
    out = []
    for m in _PART.finditer(word):
        if m.group(1) is not None:
            out.append(re.sub(r"\\(.)", r"\1", m.group(1)))
        else:
            out.append(m.group(2) if m.group(2) is not None else m.group(3))
    return "".join(out)


def env_file(text: str) -> dict[str, str]:
    """``KEY=value`` assignments of an environment file (quotes around a value removed)."""
    out = {}
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().removeprefix("export ").strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = _unquote(value)
        out[key] = value
    return out


def _unit_lines(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined."""
    out = []
    section = ""
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, _, value = line.partition("=")
            out.append((section, key.strip(), value.strip()))
    return out


def unit_files(ctx: Context, unit: str) -> list[str]:
    """The unit file systemd uses for ``unit`` and its drop-ins, in the order they apply."""
    from threatstryker.posture.probes.systemd import UNIT_DIRS  # the probes package imports this module

    main = next((f"{d}/{unit}" for d in UNIT_DIRS if ctx.stat(f"{d}/{unit}") is not None), None)
    if main is None:
        return []
    by_name: dict[str, str] = {}
    for directory in reversed(UNIT_DIRS):  # lowest precedence first: a name in a higher directory replaces it
        for path in ctx.glob(f"{directory}/{unit}.d/*.conf"):
            by_name[posixpath.basename(path)] = path
    return [main] + [by_name[n] for n in sorted(by_name)]


def _unit(ctx: Context, kind: Kind) -> Instance | None:
    files = unit_files(ctx, kind.unit)
    if not files:
        return None
    exec_start: tuple[str, str] | None = None
    env: dict[str, tuple[str, str]] = {}
    env_files: list[str] = []
    for path in files:
        for section, key, value in _unit_lines(ctx.text(path) or ""):
            if section != "Service":
                continue
            if key == "ExecStart":
                exec_start = (value, path) if value else None  # an empty ExecStart= resets the list
            elif key == "Environment":
                if not value:
                    env.clear()
                for assignment in words(value):
                    name, _, val = assignment.partition("=")
                    env[name] = (val, path)
            elif key == "EnvironmentFile":
                env_files = [*env_files, value] if value else []
    for spec in env_files:  # EnvironmentFile= wins over Environment=; a missing file is skipped
        path = spec.removeprefix("-")
        env.update((k, (v, path)) for k, v in env_file(ctx.text(path) or "").items())
    if exec_start is None:
        return Instance("", files[0], [], ctx, known=False)
    line, where = exec_start
    raw_words = _WORD.findall(line)
    skip = 2 if raw_words and raw_words[0].lstrip("-:+!").startswith("@") else 1
    args: list[tuple[str, str]] = []
    for raw in raw_words[skip:]:
        bare = _BARE.fullmatch(raw)
        if bare:  # $VAR alone: split into words
            value, source = env.get(bare.group(1), ("", where))
            args += [(w, source) for w in words(value)]
            continue
        text, source = _unquote(raw), where
        for name in _BRACED.findall(text):  # ${VAR} inside a word: replaced in place
            value, source = env.get(name, ("", where))
            text = text.replace("${" + name + "}", value)
        args.append((text, source))
    return Instance("", where, args, ctx)


def _opts_file(ctx: Context, kind: Kind) -> Instance | None:
    if kind.opts_file is None:
        return None
    path, variable = kind.opts_file
    text = ctx.text(path)
    if text is None:
        return None
    return Instance("", path, [(w, path) for w in words(env_file(text).get(variable, ""))], ctx)


# --- flags and the config file ------------------------------------------------------------------------------

def flag_values(args: list[tuple[str, str]], names: list[str], boolean: bool = False) -> list[tuple[str, str]]:
    """Every value given to a flag (under any of ``names``), in order, with the file each came from:
    ``--flag=value``; ``--flag value`` (not for a boolean flag, which takes no separate value); a bare
    ``--flag`` is true."""
    out = []
    i = 0
    while i < len(args):
        text, source = args[i]
        for name in names:
            if text.startswith(name + "="):
                out.append((text[len(name) + 1:], source))
                break
            if text == name:
                nxt = args[i + 1][0] if i + 1 < len(args) else None
                if not boolean and nxt is not None and (not nxt.startswith("-") or re.match(r"-\d", nxt)):
                    out.append((nxt, source))
                    i += 1
                else:
                    out.append(("true", source))
                break
        i += 1
    return out


def scalar(value: Any) -> str | None:
    """A config value as text: booleans as true/false, lists comma-joined; empty lists and maps are unset."""
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(s for s in (scalar(v) for v in value) if s is not None)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _lookup(doc: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def config_file(comp: Component, inst: Instance) -> tuple[dict[str, Any], str] | None:
    """The configuration file the instance reads, parsed, and its path (None: it reads none)."""
    if inst.config is not _UNSET:
        return inst.config  # type: ignore[no-any-return]
    kind = comp.kind
    named = flag_values(inst.args, [kind.config_flag]) if kind.config_flag else []
    path = named[-1][0] if named else None
    if path is None and kind.config_path and (kind.config_always or not inst.known):
        path = kind.config_path
    result: tuple[dict[str, Any], str] | None = None
    text = inst.files.text(path) if path else None
    if path and text is None and named:
        raise ProbeError(f"{path}: named by {kind.config_flag} but not found")
    if path and text is not None:
        try:
            doc = (json.loads(text) if kind.config_format == "json" else yaml.safe_load(text)) if text.strip() else {}
        except (ValueError, yaml.YAMLError) as exc:
            what = kind.config_format.upper()
            raise ProbeError(f"{path}: not valid {what} ({str(exc).splitlines()[0][:120]})") from None
        if not isinstance(doc, dict):
            raise ProbeError(f"{path}: not a mapping of settings")
        result = (doc, inst.root + path)
    inst.config = result
    return result


def _item(value: str, item: str) -> str | None:
    """The value of ``item`` in a ``Name=value,...`` list (feature gates)."""
    for part in value.split(","):
        name, _, val = part.partition("=")
        if name.strip() == item:
            return val.strip() or "true"
    return None


def setting(comp: Component, inst: Instance, flags: list[str], config_key: str | None = None, *,
            boolean: bool = False, repeatable: bool = False, item: str | None = None, default: Any = _UNSET,
            config_default: Any = _UNSET) -> Setting:
    """The value in force: the flag (its last occurrence, or every one joined by commas when
    ``repeatable``; ``item``: one entry of a ``Name=value,...`` flag), else the config file's key, else
    ``config_default`` when a config file is read, else ``default``."""
    names = list(flags)
    if comp.kind.single_dash:
        names += [f[1:] for f in flags if f.startswith("--")]
    given = flag_values(inst.args, names, boolean)
    if item is not None:
        given = [(v, s) for raw, s in given if (v := _item(raw, item)) is not None]
    if given:
        if repeatable:
            return Setting(",".join(v for v, _ in given), given[-1][1])
        return Setting(given[-1][0], given[-1][1])
    config = config_file(comp, inst) if config_key or config_default is not _UNSET else None
    if config is not None and config_key:
        raw = _lookup(config[0], config_key)
        value = scalar(raw)
        if value is not None:
            if comp.kind.relative_files and config_key.endswith("File") and not posixpath.isabs(value):
                # relative to the config file's directory
                value = posixpath.join(posixpath.dirname(config[1].removeprefix(inst.root)), value)
            return Setting(value, config[1])
    if config is not None and config_default is not _UNSET:
        return Setting(scalar(config_default), f"default (not set in {config[1]})")
    if default is not _UNSET:
        return Setting(scalar(default), "default")
    where = ", ".join(dict.fromkeys(s for s in (inst.source, config[1] if config else "") if s))
    return Setting(None, f"not set ({where or 'no command line found'})")


__all__ = ["KINDS", "Component", "Instance", "Kind", "Setting", "component", "config_file", "env_file",
           "flag_values", "scalar", "setting", "unit_files", "words"]
