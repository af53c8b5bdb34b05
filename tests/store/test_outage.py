"""A PostgreSQL outage under a write load (issue 4): stopping the database for ten seconds
loses no acknowledged write, clients get quick 503s instead of hanging, and service
resumes without restarting thudo.

The test runs its own throw-away PostgreSQL cluster (initdb in a temporary directory, a
free port, trust authentication) so that it can stop and start it without disturbing the
shared server the other tests use.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import (
    API,
    ENTITIES,
    ERRORS,
    PROBLEM_JSON,
    ServeProcess,
    free_port,
    missing_entities,
    room,
)

pytestmark = [pytest.mark.smoke, pytest.mark.postgres]

BIN = Path("/usr/lib/postgresql/15/bin")
CLIENTS = 4
WARM_UP = 2.0  # seconds of writes before the outage
OUTAGE = 10.0  # seconds the database stays down
AFTER = 4.0  # seconds of writes after it is back
# Short timeouts keep the bound below short. A create waits at most the pool timeout
# for a connection, and an attempt to open one gives up after the connect timeout.
CONNECT_TIMEOUT, POOL_TIMEOUT = 1.0, 2.0
# So no answer may take longer than their sum plus a margin for scheduling on a busy
# machine. The client gives up there, and a request it gave up on counts as a hang.
ANSWER_BOUND = CONNECT_TIMEOUT + POOL_TIMEOUT + 3.0
SETTINGS = {
    "postgres_connect_timeout": str(CONNECT_TIMEOUT),
    "postgres_pool_timeout": str(POOL_TIMEOUT),
}


@dataclass
class Cluster:
    """A PostgreSQL cluster of our own in ``root``, run as the postgres user when we are
    root (initdb refuses to run as root)."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def command(self, *args: str) -> list[str]:
        cmd = [str(BIN / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start_command(self) -> list[str]:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        log = str(self.root / "postgres.log")
        return self.command(
            "pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", log, "-o", options
        )

    def stop_command(self) -> list[str]:
        # Immediate: like a crash, in-flight transactions die and recovery replays the WAL.
        return self.command("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, *args: str) -> None:
        subprocess.run(self.command(*args), check=True, capture_output=True, timeout=60)


def _skip_reason() -> str | None:
    for tool in ("initdb", "pg_ctl"):
        if not (BIN / tool).exists():
            return f"no PostgreSQL 15 {tool} in {BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and no runuser to run PostgreSQL as the postgres user"
    return None


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    # Not tmp_path: the postgres user cannot enter root's pytest directories.
    root = Path(tempfile.mkdtemp(prefix="thudo-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cl = Cluster(root, free_port())
    try:
        try:
            cl.init()
            subprocess.run(cl.start_command(), check=True, capture_output=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or b"").decode(errors="replace")
            pytest.skip(f"cannot start a PostgreSQL cluster of our own: {exc}\n{output}{cl.log()}")
        except (subprocess.TimeoutExpired, OSError) as exc:
            pytest.skip(f"cannot start a PostgreSQL cluster of our own: {exc}\n{cl.log()}")
        yield cl
    finally:
        subprocess.run(cl.stop_command(), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(cluster: Cluster) -> str:
    import psycopg

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE thudo")
    try:
        with psycopg.connect(cluster.url("thudo"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
    except psycopg.Error as exc:
        pytest.skip(f"PostGIS is not available to PostgreSQL 15: {exc}")
    return cluster.url("thudo")


@dataclass
class Answer:
    """One create: its client, its entity id, when it was sent and answered, and the
    outcome (an HTTP status, or "timeout" / "transport: ..." when no answer came)."""

    worker: int
    eid: str
    sent: float
    answered: float
    outcome: int | str
    problem_type: str | None = None


async def _writer(
    client: httpx.AsyncClient, worker: int, answers: list[Answer], stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        eid = f"urn:ngsi-ld:Room:w{worker}-{n}"
        n += 1
        sent = time.monotonic()
        try:
            resp = await client.post(ENTITIES, json=room(eid, temperature=n, worker=worker))
        except httpx.TimeoutException:
            answers.append(Answer(worker, eid, sent, time.monotonic(), "timeout"))
            continue
        except httpx.TransportError as exc:
            answers.append(Answer(worker, eid, sent, time.monotonic(), f"transport: {exc!r}"))
            await asyncio.sleep(0.1)
            continue
        problem = None
        if resp.headers.get("content-type", "").split(";")[0] == PROBLEM_JSON:
            problem = resp.json().get("type")
        answers.append(Answer(worker, eid, sent, time.monotonic(), resp.status_code, problem))


#: Entities per batch of the batch writer: enough for the bulk path (COPY, outside the
#: pipeline; thudo.store.postgres.core.BULK_CHANGES).
BATCH = 60


async def _batch_writer(
    client: httpx.AsyncClient,
    worker: int,
    answers: list[Answer],
    stop: asyncio.Event,
    batches: dict[str, list[str]],
) -> None:
    """Batch upserts of new entities; each answer stands for its batch (by its first id)."""
    n = 0
    while not stop.is_set():
        eids = [f"urn:ngsi-ld:Room:b{n}-{j}" for j in range(BATCH)]
        n += 1
        batches[eids[0]] = eids
        sent = time.monotonic()
        body = [room(eid, temperature=j) for j, eid in enumerate(eids)]
        try:
            resp = await client.post(f"{API}/entityOperations/upsert", json=body)
        except httpx.TimeoutException:
            answers.append(Answer(worker, eids[0], sent, time.monotonic(), "timeout"))
            continue
        except httpx.TransportError as exc:
            answers.append(Answer(worker, eids[0], sent, time.monotonic(), f"transport: {exc!r}"))
            await asyncio.sleep(0.1)
            continue
        problem = None
        if resp.headers.get("content-type", "").split(";")[0] == PROBLEM_JSON:
            problem = resp.json().get("type")
        answers.append(Answer(worker, eids[0], sent, time.monotonic(), resp.status_code, problem))


async def _pg_ctl(cmd: list[str], cluster: Cluster) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, (cmd, out.decode(errors="replace"), cluster.log())


async def _run_load(
    server: ServeProcess, cluster: Cluster, batches: dict[str, list[str]]
) -> tuple[list[Answer], dict[str, float]]:
    """Write from CLIENTS clients (the last one in batches); stop the database for OUTAGE
    seconds in the middle. Returns every answer and the times the outage began and ended."""
    answers: list[Answer] = []
    stop = asyncio.Event()
    marks: dict[str, float] = {}
    timeout = httpx.Timeout(ANSWER_BOUND)
    async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as client:
        writers = [
            asyncio.create_task(_writer(client, w, answers, stop)) for w in range(CLIENTS - 1)
        ]
        batch = _batch_writer(client, CLIENTS - 1, answers, stop, batches)
        writers.append(asyncio.create_task(batch))
        try:
            await asyncio.sleep(WARM_UP)
            marks["stopping"] = time.monotonic()
            await _pg_ctl(cluster.stop_command(), cluster)
            marks["down"] = time.monotonic()
            await asyncio.sleep(OUTAGE)
            marks["starting"] = time.monotonic()
            await _pg_ctl(cluster.start_command(), cluster)
            marks["up"] = time.monotonic()
            await asyncio.sleep(AFTER)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*writers), timeout=2 * ANSWER_BOUND)
    return answers, marks


async def _missing(server: ServeProcess, eids: list[str]) -> list[tuple[str, int]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        return await missing_entities(client, eids)


async def test_a_database_outage_loses_no_acknowledged_write(
    cluster: Cluster, database_url: str
) -> None:
    server = ServeProcess(cluster.root / "thudo.db", settings=SETTINGS, database_url=database_url)
    server.start()
    try:
        batches: dict[str, list[str]] = {}
        answers, marks = await _run_load(server, cluster, batches)
        context = f"{marks}\n--- thudo log:\n{server.log()[-4000:]}\n--- {cluster.log()[-2000:]}"
        # Every answer is a 201 or a 503 ServiceUnavailable problem (no 500, no other
        # error), and came within the bound (a request the client gave up on is a hang).
        unavailable = (503, ERRORS + "ServiceUnavailable")
        odd = [
            a for a in answers if a.outcome != 201 and (a.outcome, a.problem_type) != unavailable
        ]
        assert odd == [], context
        slow = [a for a in answers if a.answered - a.sent > ANSWER_BOUND]
        assert slow == [], context
        # Creates succeeded before the outage.
        assert any(a.outcome == 201 and a.answered < marks["stopping"] for a in answers), context
        # While the database was down, the load went on and every create was refused.
        during = [a for a in answers if marks["down"] <= a.sent and a.answered <= marks["starting"]]
        assert {a.worker for a in during} == set(range(CLIENTS)), context
        assert {a.outcome for a in during} == {503}, context
        # Service resumed without restarting thudo: every create sent once the database
        # was back succeeded (the pool opens new connections on demand), from every client.
        after = [a for a in answers if a.sent >= marks["up"]]
        assert {a.worker for a in after} == set(range(CLIENTS)), context
        assert {a.outcome for a in after} == {201}, context
        assert server.proc is not None and server.proc.poll() is None, context
        # No acknowledged write was lost, single or in a batch.
        acked = [e for a in answers if a.outcome == 201 for e in batches.get(a.eid, [a.eid])]
        assert any(a.outcome == 201 and a.eid in batches for a in answers), context
        assert await _missing(server, acked) == [], context
        # The outage is logged as such, not as a traceback per failed attempt.
        assert "Traceback" not in server.log(), context
        assert server.stop(), server.log()
    finally:
        server.stop()
