"""The deployment files (docker/, configs/production.yaml) stay in step with the settings and the CLI."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from streammm.cli import build_parser
from streammm.config import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PRODUCTION = ROOT / "configs" / "production.yaml"
WORKERS = ("vision", "speech", "ocr", "align")
STREAMMM_SERVICES = (*WORKERS, "server", "publish")
# STREAMMM_* variables that are read directly, not settings (no "__" in the name)
NON_SETTING_VARS = {"STREAMMM_CACHE_DIR", "STREAMMM_MEDIA_DIR"}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _setting_path_problem(name: str) -> str | None:
    """Why `name` would not set a setting (None when it does), walking the Settings models like load_settings."""
    if name in NON_SETTING_VARS:
        return None
    if "__" not in name:
        return "has no '__', so load_settings ignores it"
    keys = name[len(ENV_PREFIX) :].lower().split("__")
    model: type[BaseModel] = Settings
    for depth, key in enumerate(keys):
        field = model.model_fields.get(key)
        if field is None:
            where = ".".join(keys[:depth]) or "the top level"
            return f"{key!r} is not a setting of {where} (known: {', '.join(model.model_fields)})"
        annotation = field.annotation
        rest = keys[depth + 1 :]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not rest:
                return f"{'.'.join(keys)} is a section, not a value"
            model = annotation
            continue
        if typing.get_origin(annotation) is dict:
            return None if len(rest) <= 1 else f"{'.'.join(keys)}: a mapping setting takes one more key at most"
        return None if not rest else f"{'.'.join(keys[: depth + 1])} is a value, not a section"
    return f"{name} names no setting"


def _dotted(settings: BaseModel, name: str) -> Any:
    value: Any = settings
    for key in name[len(ENV_PREFIX) :].lower().split("__"):
        value = value[key] if isinstance(value, dict) else getattr(value, key)
    return value


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no subcommands")


def test_production_settings_load():
    settings = load_settings(PRODUCTION, env={})
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.kafka.partitions == 12
    assert settings.store.backend == "weaviate"
    assert settings.store.weaviate.http_url == "http://weaviate:8080"
    assert settings.store.weaviate.grpc_host == "weaviate"
    assert settings.store.weaviate.grpc_port == 50051
    assert settings.log.json_format is True
    assert settings.models.device == "cpu"


def test_compose_has_the_services(compose):
    services = compose["services"]
    for name in ("kafka", "weaviate", *WORKERS, "server"):
        assert name in services, f"docker/compose.yaml has no {name!r} service"
    assert services["publish"].get("profiles") == ["demo"], "the publisher is a demo-only service"
    assert "x-streammm-env" in compose


def test_the_helper_recognises_typos():
    assert _setting_path_problem("STREAMMM_KAFKA__BOOTSTRAP_SERVERS") is None
    assert _setting_path_problem("STREAMMM_STORE__WEAVIATE__GRPC_HOST") is None
    assert _setting_path_problem("STREAMMM_ALIGN__WEIGHTS__VISUAL") is None
    assert _setting_path_problem("STREAMMM_KAFKA__BOOTSTRAP_SERVER")  # missing S
    assert _setting_path_problem("STREAMMM_KAFKA_BOOTSTRAP_SERVERS")  # one underscore: ignored
    assert _setting_path_problem("STREAMMM_STORE__WEAVIATE")  # a section
    assert _setting_path_problem("STREAMMM_LOG__LEVEL__X")  # below a value


def test_every_streammm_variable_is_a_setting(compose):
    used: dict[str, set[str]] = {}
    for name in compose["x-streammm-env"]:
        used.setdefault(name, set()).add("x-streammm-env")
    for service_name, service in compose["services"].items():
        for name in _environment(service):
            used.setdefault(name, set()).add(service_name)
    for name in re.findall(r"\bSTREAMMM_[A-Z0-9_]+", DOCKERFILE.read_text(encoding="utf-8")):
        used.setdefault(name, set()).add("Dockerfile")
    problems = {
        f"{name} (in {', '.join(sorted(where))}): {problem}"
        for name, where in used.items()
        if name.startswith(ENV_PREFIX) and (problem := _setting_path_problem(name))
    }
    assert not problems, "\n".join(sorted(problems))
    assert any(name.startswith(ENV_PREFIX) for name in used)


def test_compose_environment_loads_and_matches_production_yaml(compose):
    production = load_settings(PRODUCTION, env={})
    for service_name in STREAMMM_SERVICES:
        env = _environment(compose["services"][service_name])
        settings = load_settings(env=env)  # the container's settings (built-in defaults + env)
        assert settings.kafka.bootstrap_servers == "kafka:9092", service_name
        assert settings.store.backend == "weaviate", service_name
        assert settings.store.weaviate.http_url == "http://weaviate:8080", service_name
        assert settings.store.weaviate.grpc_host == "weaviate", service_name
        assert settings.store.weaviate.grpc_port == 50051, service_name
        assert settings.store.data_dir == "/data", service_name
        assert settings.log.json_format is True, service_name
        for name in env:
            if name == "STREAMMM_AUTH__TOKENS":  # a per-deployment secret, from ${STREAMMM_API_TOKEN}
                continue
            if name.startswith(ENV_PREFIX) and "__" in name:
                assert _dotted(settings, name) == _dotted(production, name), f"{service_name}: {name} differs from configs/production.yaml"


def test_worker_services_run_valid_worker_kinds_and_can_scale(compose):
    kinds = set()
    for name in WORKERS:
        service = compose["services"][name]
        command = service["command"]
        assert command[0] == "worker", f"{name}: {command}"
        args = build_parser().parse_args(command)  # exits (fails the test) on an unknown kind
        assert args.kind == name
        kinds.add(args.kind)
        assert "container_name" not in service, f"{name}: a fixed container name stops --scale"
        assert "ports" not in service, f"{name}: a fixed host port stops --scale"
        assert service.get("restart") == "unless-stopped", name
        assert service["build"]["dockerfile"] == "docker/Dockerfile", name
    worker_parser = _subcommands()["worker"]
    (kind_action,) = [a for a in worker_parser._actions if a.dest == "kind"]
    # `perceive` (vision and OCR on one decode) is what `streammm up` runs; the cluster scales them apart.
    assert kinds | {"perceive"} == set(kind_action.choices)


def test_other_streammm_commands(compose):
    services = compose["services"]
    assert services["server"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    if "serve" in _subcommands():
        build_parser().parse_args(services["server"]["command"])
    args = build_parser().parse_args(services["publish"]["command"])
    assert args.command == "publish" and args.source.startswith("/media/")
    assert any(str(v).endswith(":/media:ro") for v in services["publish"]["volumes"])


def test_dependencies_wait_for_health(compose):
    services = compose["services"]
    for infra in ("kafka", "weaviate"):
        assert services[infra].get("healthcheck", {}).get("test"), f"{infra} needs a healthcheck"
    assert "/v1/.well-known/ready" in str(services["weaviate"]["healthcheck"]["test"])
    for name in STREAMMM_SERVICES:
        depends = services[name]["depends_on"]
        assert "kafka" in depends, name
        for dependency, spec in depends.items():
            assert spec == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    for name in ("align", "server"):
        assert "weaviate" in services[name]["depends_on"], name


def test_broker_accepts_the_largest_segment(compose):
    env = _environment(compose["services"]["kafka"])
    largest = load_settings(PRODUCTION, env={}).kafka.max_message_mb * MIB + MIB  # what streammm's topics allow
    for key in ("KAFKA_MESSAGE_MAX_BYTES", "KAFKA_REPLICA_FETCH_MAX_BYTES"):
        assert int(env[key]) >= largest, key
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def _docker_compose_works() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client"
    try:
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker compose version: {exc}"
    if done.returncode != 0:
        return f"no docker compose plugin ({(done.stderr or done.stdout).strip()[:200]})"
    return None


@pytest.mark.parametrize("profile", [None, "demo"])
def test_docker_compose_config_validates(profile):
    why_not = _docker_compose_works()
    if why_not:
        pytest.skip(f"docker compose unavailable: {why_not}")
    command = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    if profile:
        command += ["--profile", profile]
    env = {**os.environ, "STREAMMM_API_TOKEN": "a-token-for-the-test"}
    done = subprocess.run([*command, "config", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    if not profile:  # the server's token must be given: without it compose refuses, saying what to set
        env.pop("STREAMMM_API_TOKEN")
        refused = subprocess.run([*command, "config", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
        assert refused.returncode != 0 and "STREAMMM_API_TOKEN" in refused.stderr
