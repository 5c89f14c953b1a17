"""A platform team installs the wheel into a fresh virtualenv and uses it in its own app.

The user's app has its own ``stacks/`` package (a common name): the wheel must not shadow it.
The app synthesizes three reuse cases with the library's checks applied in one line, outside
this repository and without its cdk.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from local.synth import ROOT

USER_APP = """
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets

from kahula.checks import apply_checks
from kahula.constructs import (
    EventBus, EventTable, FollowUpRouting, Persister, PersisterProps, SecureQueue,
)
from kahula_core.spec import DEFAULT_FOLLOW_UP_RULES, FollowUpRule
from stacks import TEAM  # the user's own package called stacks

env = Environment(account="123456789012", region="eu-west-1")
app = App()

# 1. an existing bus, a new persister and table
one = Stack(app, f"{TEAM}-existing-bus", env=env)
bus = EventBus(one, "Bus", existing_bus=events.EventBus.from_event_bus_name(one, "B", "acme"))
Persister(one, "Persister", event_bus=bus, table=EventTable(one, "Table"))

# 2. an existing table
two = Stack(app, f"{TEAM}-existing-table", env=env)
Persister(
    two,
    "Persister",
    event_bus=EventBus(two, "Bus"),
    table=dynamodb.Table.from_table_name(two, "T", "acme-events"),
)

# 3. an extra follow-up type, with a target of its own
three = Stack(app, f"{TEAM}-extra-follow-up", env=env)
bus3 = EventBus(three, "Bus")
rules = (*DEFAULT_FOLLOW_UP_RULES, FollowUpRule("ArchivedEvent", "ArchivableEvent"))
persister = Persister(
    three, "Persister", event_bus=bus3, table=EventTable(three, "Table"),
    props=PersisterProps(follow_up_rules=rules),
)
routing = FollowUpRouting(three, "FollowUps", event_bus=bus3, persister=persister)
auditor = SecureQueue(
    three, "Auditor", queue_name=None, retention=Duration.days(4), max_receive_count=3
)
routing.add_target(
    "ArchivableEvent", targets.SqsQueue(auditor.queue, dead_letter_queue=routing.dead_letter_queue)
)

apply_checks(app)
app.synth()
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a clean copy of the sources, as a release would be (no stale build/ here).
    source = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "node_modules", "cdk.out", "build", "dist", "*.egg-info", ".demo"
        ),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("kahula_event_persistence-*.whl")
    return built


def test_the_wheel_installs_only_the_projects_own_names(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"kahula", "kahula_core", "kahula_lambdas"}
    assert "kahula/py.typed" in names
    assert "kahula_core/py.typed" in names
    assert "kahula_lambdas/persister/handler.py" in names
    assert "kahula_lambdas/kahula_core/spec.py" in names


def test_the_wheel_carries_its_license_and_declares_it_by_spdx_expression(wheel):
    # GIVEN the built wheel WHEN its metadata is read THEN the licence is an SPDX expression
    # (PEP 639) and the licence text ships with it
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    text = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text.splitlines()
    assert "License-File: LICENSE" in text.splitlines()
    (license_file,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert b"Apache License" in archive.read(license_file)


@pytest.fixture(scope="module")
def python(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel; its dependencies come from this environment
    (offline: no registry), through a .pth file."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    return python


def _run(python: Path, app: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CDK_OUTDIR"] = str(app / "out")
    return subprocess.run(
        [str(python), "app.py"], cwd=app, env=env, capture_output=True, text=True, check=False
    )


def test_a_user_app_with_its_own_stacks_package_synthesizes_the_reuse_cases(python, tmp_path):
    # GIVEN a user app with a package of its own called `stacks`
    app = tmp_path / "app"
    (app / "stacks").mkdir(parents=True)
    (app / "stacks" / "__init__.py").write_text('TEAM = "acme"\n')
    (app / "app.py").write_text(USER_APP)
    # WHEN the user's app runs, outside this repository
    result = _run(python, app)
    # THEN it synthesizes (cdk-nag clean) all three stacks from the installed library
    assert result.returncode == 0, result.stderr[-3000:]
    names = {p.name for p in (app / "out").glob("*.template.json")}
    assert names == {
        "acme-existing-bus.template.json",
        "acme-existing-table.template.json",
        "acme-extra-follow-up.template.json",
    }
    template = json.loads((app / "out" / "acme-extra-follow-up.template.json").read_text())
    (function,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    ]
    code_key = function["Properties"]["Code"]["S3Key"]
    (asset,) = (app / "out").glob(f"asset.{code_key.removesuffix('.zip')}")
    # one asset for every function (each entry is a few KB; the core is shared)
    assert sorted(p.name for p in asset.iterdir()) == [
        "api",
        "kahula_core",
        "persister",
        "queue_consumer",
        "stream_consumer",
    ]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the constructs in your own app", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_the_readme_example_runs_against_the_installed_library(python, tmp_path):
    # GIVEN the README's example, as a user would paste it
    app = tmp_path / "readme"
    app.mkdir()
    (app / "app.py").write_text(readme_example())
    # WHEN it runs with the installed wheel
    result = _run(python, app)
    # THEN it synthesizes both stacks, checks applied, named as asked
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((app / "out" / "AcmeEvents.template.json").read_text())
    names = {
        r["Properties"].get("FunctionName")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert names == {"acme-event-persister-prod"}
    routed = {
        r["Properties"]["EventPattern"].get("detail-type", [None])[0]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
    }
    assert {"ValidatableEvent", "IndexableEvent", "ArchivableEvent"} <= routed
    assert (app / "out" / "AcmeReuse.template.json").is_file()


def test_the_installed_cli_runs_without_the_cdk_and_finds_the_samples(python, wheel, tmp_path):
    # GIVEN the wheel installed in a fresh environment, run outside the repository
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("entry_points.txt"))
    )
    assert b"kahula = kahula.cli.main:main" in entry_points
    code = (
        "import sys\n"
        "from kahula.cli.main import run\n"
        "from kahula.cli.seeding import sample_messages\n"
        "assert run(['--help']) == 0\n"
        "assert len(sample_messages(invalid=True)) == 10\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii')]\n"
        "sys.exit(f'CDK loaded: {loaded}' if loaded else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # WHEN its help runs and it reads the FIFO door's samples from the installed asset
    result = subprocess.run(
        [str(python), "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN both work, and the CDK was never imported
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "redrive" in result.stdout


def _declared(requirement: str, extras: frozenset[str], seen: set[str]) -> None:
    """Every distribution a requirement brings in, transitively, as installed here."""
    from importlib import metadata

    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    wanted = extras or frozenset({""})
    if parsed.marker and not any(parsed.marker.evaluate({"extra": e}) for e in wanted):
        return
    name = parsed.name.lower().replace("_", "-")
    if name in seen:
        return
    seen.add(name)
    for nested in metadata.distribution(name).requires or ():
        _declared(nested, frozenset(parsed.extras), seen)


def _only_declared(wheel: Path, extras: frozenset[str], root: Path) -> Path:
    """A directory holding only what the wheel declares for `extras` (symlinks into this
    environment's site-packages): a clean environment, offline."""
    from email.parser import Parser
    from importlib import metadata

    with zipfile.ZipFile(wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = Parser().parsestr(archive.read(meta).decode())
    seen: set[str] = set()
    for requirement in headers.get_all("Requires-Dist") or ():
        _declared(requirement, extras, seen)
    target = root / ("deps-" + "-".join(sorted(extras)) if extras else "deps")
    target.mkdir()
    for name in seen:
        distribution = metadata.distribution(name)
        base = Path(str(distribution.locate_file("")))
        for entry in {Path(str(f)).parts[0] for f in distribution.files or ()}:
            if entry != ".." and not (target / entry).exists():
                (target / entry).symlink_to(base / entry)
    return target


def _clean_python(wheel: Path, extras: frozenset[str], root: Path) -> Path:
    venv = root / ("venv-" + "-".join(sorted(extras)) if extras else "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(f"{_only_declared(wheel, extras, root)}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    return python


def _modules(wheel: Path, package: str) -> list[str]:
    names = zipfile.ZipFile(wheel).namelist()
    return sorted(
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in names
        if n.startswith(f"{package}/") and n.endswith(".py")
    )


def _import_all(python: Path, modules: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    return subprocess.run(
        [str(python), "-I", "-c", script, *modules],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# The extra each module needs beyond the base install (the constructs need none).
NEEDS_CLIENT = ("kahula_core.",)
NEEDS_EVENTSOURCING = ("kahula_core.aggregates.eventsourcing_recorder",)
# the operator CLI and its archive query: the [cli] extra (typer, rich, boto3, duckdb)
NEEDS_CLI = ("kahula.cli", "kahula.archive_query")
SPEC_ONLY = ("kahula_core", "kahula_core.spec")  # dependency-free: usable without any extra


def test_every_construct_module_imports_with_only_the_declared_dependencies(wheel, tmp_path):
    # GIVEN the wheel in an environment with only its declared dependencies (no extra)
    python = _clean_python(wheel, frozenset(), tmp_path)
    modules = [m for m in _modules(wheel, "kahula") if not m.startswith(NEEDS_CLI)]
    modules += list(SPEC_ONLY)
    # WHEN every module of the construct library (and the spec) is imported
    result = _import_all(python, modules)
    # THEN each imports: none reaches for the repository's own names (cdk_app, stacks)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kahula.constructs.github_deploy_role" in modules


def test_the_client_extra_brings_what_the_runtime_core_imports(wheel, tmp_path):
    # GIVEN the wheel installed with the [client] extra only
    python = _clean_python(wheel, frozenset({"client"}), tmp_path)
    modules = [m for m in _modules(wheel, "kahula_core") if m not in NEEDS_EVENTSOURCING]
    # WHEN every runtime module but the eventsourcing adapter is imported
    result = _import_all(python, modules)
    # THEN each imports (boto3 comes with the extra), the aggregates client among them
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kahula_core.aggregates.client" in modules


def test_the_eventsourcing_extra_brings_the_adapters_library(wheel, tmp_path):
    # GIVEN the wheel installed with the [eventsourcing] extra only
    python = _clean_python(wheel, frozenset({"eventsourcing"}), tmp_path)
    # WHEN every runtime module, the adapter included, is imported
    result = _import_all(python, _modules(wheel, "kahula_core"))
    # THEN each imports
    assert result.returncode == 0, result.stderr[-3000:]
