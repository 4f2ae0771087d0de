"""The studio (``musicae serve``): its JSON API in process, hostile requests, and the page in
a real browser (Debian's headless Chromium driven by Selenium) against a real server."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from musicae import api
from musicae.errors import MusicaeError
from musicae.paths import SHIPPED_DIR
from musicae.studio import guard, server
from musicae.studio.app import create_app
from musicae.studio.store import Store
from tests.fixtures.midi_factory import write_tune

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BASE = "http://127.0.0.1:8000"
# Screenshots of each panel stay here after the run; with MUSICAE_DOCS_SCREENSHOTS=1 they are
# also copied to docs/studio/ (the README's pictures).
SHOTS = Path(tempfile.gettempdir()) / "musicae-screenshots" / "studio"
FOLK_TUNE = "essen_altdeu10_0093_der-morgenstern-ist-aufgegangen.mid"  # held out, lively


# --- the JSON API, in process ----------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    app = create_app(server.served_models(), "127.0.0.1", 8000, warm=False)
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def post(client: TestClient, path: str, **body) -> httpx.Response:
    return client.post(path, json=body)


def notes(piece: dict) -> list[tuple]:
    return [(n["pitch"], n["start"], n["end"]) for n in piece["notes"]]


def test_the_served_list_is_the_shipped_models_and_says_what_each_takes(client):
    listing = client.get("/api/models").json()
    by_name = {m["name"]: m for m in listing["models"]}
    shipped = {m["name"] for m in api.models()["shipped"]}  # torch-free listing
    sampling = {name for name in shipped if not server._cannot_sample(SHIPPED_DIR / name)}
    assert set(by_name) == sampling
    assert "groove_humanize_2bar" in shipped - set(by_name)  # it cannot sample
    assert listing["default"] == api.DEFAULT_MODELS["music"]
    assert by_name["chorales_mel_chords_2bar"]["chords"]
    assert not by_name["folk_mel_2bar"]["chords"]
    assert by_name["mnist_conv_vae"]["domain"] == "image"
    assert {"density", "mean_pitch"} <= set(by_name["folk_mel_2bar"]["attributes"])


def test_sample_returns_notes_and_files_and_a_seed_that_repeats_it(client):
    first = post(client, "/api/sample", model="folk_mel_2bar", n=3, seed=5).json()
    again = post(client, "/api/sample", model="folk_mel_2bar", n=3, seed=5).json()
    assert len(first["pieces"]) == 3 and first["seed"] == 5
    assert [notes(p) for p in first["pieces"]] == [notes(p) for p in again["pieces"]]
    for piece in first["pieces"]:  # two whole bars each, a silent last beat included
        assert piece["notes"] and piece["duration"] == pytest.approx(4.0, abs=0.01)
        assert piece["downbeats"] == [0.0, 2.0] and len(piece["beats"]) == 8
        midi, wav = client.get(piece["midi"]), client.get(piece["wav"])
        assert midi.headers["content-type"] == "audio/midi" and midi.content[:4] == b"MThd"
        assert wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"
        with wave.open(io.BytesIO(wav.content)) as audio:
            assert audio.getnframes() / audio.getframerate() == pytest.approx(4.0, abs=0.01)
    assert "--seed 5" in first["command"]
    unseeded = post(client, "/api/sample", model="folk_mel_2bar", n=1).json()
    assert isinstance(unseeded["seed"], int)  # chosen, and said


def test_a_shift_moves_samples_along_an_attribute_vector(client):
    plain = post(client, "/api/sample", model="folk_mel_2bar", n=4, seed=2).json()
    denser = post(client, "/api/sample", model="folk_mel_2bar", n=4, seed=2,
                  shift={"density": 2.0}).json()
    count = lambda result: sum(len(p["notes"]) for p in result["pieces"])  # noqa: E731
    assert count(denser) > count(plain)
    unknown = post(client, "/api/sample", model="folk_mel_2bar", shift={"loudness": 1})
    assert unknown.status_code == 400 and "no attribute vector 'loudness'" in unknown.json()[
        "error"]


def test_chord_models_play_over_the_chords_given_and_say_when_none_are(client):
    over = post(client, "/api/sample", model="chorales_mel_chords_2bar", n=1, seed=0,
                chords="C G Am F").json()["pieces"][0]
    assert over["tracks"] == ["melody", "chords"]
    assert [m["text"] for m in over["marks"]] == ["C", "G", "Am", "F"]
    missing = post(client, "/api/sample", model="chorales_mel_chords_2bar", n=1)
    assert missing.status_code == 400 and '--chords "C G Am F"' in missing.json()["error"]
    assert "/" not in missing.json()["error"].split(":")[0]  # the model's name, not its path


def test_blend_walks_between_pieces_as_interpolate_does(client):
    ids = [p["id"] for p in post(client, "/api/sample", model="folk_mel_2bar", n=4,
                                 seed=11).json()["pieces"]]
    path = post(client, "/api/interpolate", model="folk_mel_2bar", a=ids[0], b=ids[1],
                steps=3).json()["pieces"]
    ends = [post(client, "/api/blend", model="folk_mel_2bar", pieces=ids[:2], x=x).json()
            for x in (0.0, 1.0)]
    assert len(path) == 3
    assert notes(ends[0]["pieces"][0]) == notes(path[0])  # the same decoded endpoints
    assert notes(ends[1]["pieces"][0]) == notes(path[-1])
    assert notes(path[0]) != notes(path[-1])
    corner = post(client, "/api/blend", model="folk_mel_2bar", pieces=ids, x=1.0, y=1.0).json()
    assert notes(corner["pieces"][0]) == notes(post(
        client, "/api/blend", model="folk_mel_2bar", pieces=ids[2:], x=1.0).json()["pieces"][0])


def test_an_uploaded_file_is_reconstructed_beside_the_window_read(client, tmp_path):
    tune = write_tune(tmp_path / "my tune.mid", bars=4, seed=1)
    up = client.post("/api/upload", params={"model": "folk_mel_2bar", "name": "my tune.mid"},
                     content=tune.read_bytes()).json()
    piece = up["pieces"][0]
    assert piece["title"] == "my_tune.mid"
    done = post(client, "/api/reconstruct", model="folk_mel_2bar", input=piece["id"],
                bar=1).json()
    assert [p["title"] for p in done["pieces"]] == ["input", "reconstruction"]
    assert done["window"] == {"window": 1, "windows": 3, "meter": "4/4"}  # a bar's hop
    assert len(done["pieces"][0]["notes"]) == 16  # two bars of eighth notes


@pytest.mark.parametrize("label, send, status, says", [
    ("wrong Host header", lambda c: c.get("/api/models", headers={"host": "evil.example:8000"}),
     400, "is not this server"),
    ("another site's page", lambda c: c.post("/api/sample", json={"n": 1},
                                             headers={"origin": "http://evil.example"}),
     403, "not accepted"),
    ("50 MB upload", lambda c: c.post("/api/upload", content=b"\0" * (50 * 2**20)),
     413, "over 2,097,152 bytes"),
    ("upload without a length", lambda c: c.post("/api/upload", content=iter(
        [b"MThd" + b"\0" * 2**20] * 3)), 413, "over 2,097,152 bytes"),
    ("damaged MIDI", lambda c: c.post("/api/upload", params={"name": "broken.mid"},
                                      content=b"MThd\0\0\0\6\0\1\0\1\1\xe0MTrk\xff\xff\xff\xff"),
     400, "broken.mid:"),
    ("a model name that is a path", lambda c: post(c, "/api/sample", model="../../etc", n=1),
     400, "unknown model '../../etc'"),
    ("NaN temperature", lambda c: c.post("/api/sample", content=b'{"temperature": NaN}',
                                         headers={"content-type": "application/json"}),
     400, "--temperature must be a finite number"),
    ("10,001 samples", lambda c: post(c, "/api/sample", n=10_001), 400, "1..32"),
    ("a piece id that is a path", lambda c: post(c, "/api/reconstruct", input="../r1/x.mid"),
     400, "unknown or expired"),
    ("a path out of the results", lambda c: c.get("/files/r1/..%2F..%2Fetc%2Fpasswd"),
     404, "Not Found"),
    ("a file that is no result's", lambda c: c.get("/files/r999/.env"), 404, "no file"),
    ("a misspelt field", lambda c: post(c, "/api/sample", temprature=1), 400, "temprature"),
    ("a blend of three", lambda c: post(c, "/api/blend", pieces=["p1", "p2", "p3"], x=0.5),
     400, "2 pieces"),
])
def test_hostile_requests_get_a_one_line_json_error_and_write_nothing(client, label, send,
                                                                      status, says, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = client.app.state.store
    outside, inside = _snapshot(store.root.parent), sorted(store.root.iterdir())
    answer = send(client)
    assert answer.status_code == status, (label, answer.text)
    error = answer.json()["error"]
    assert says in error and "\n" not in error and "Traceback" not in error
    assert "musicae-studio-" not in error  # server folders never named
    assert _snapshot(store.root.parent) == outside
    assert sorted(store.root.iterdir()) == inside  # a refused upload is not kept either


def _snapshot(temporary: Path) -> dict:
    """What lies where a server might stray: the current folder, the user's musicae folder,
    the dataset cache, the shipped models (names and times), and which musicae folders the
    system's ``temporary`` folder holds (names only: other programs use it too)."""
    seen = {}
    for place in (Path.cwd(), Path(os.environ["MUSICAE_HOME"]),
                  Path(os.environ["MUSICAE_CACHE"]), ROOT / "data" / "models"):
        for path in place.rglob("*"):
            seen[str(path)] = path.stat().st_mtime_ns
    seen |= {str(p): 0 for p in temporary.glob("musicae*")
             if not p.name.startswith("musicae-studio-")}  # but the studios' own folders
    return seen


def test_a_full_queue_answers_503_and_the_rest_are_served():
    store = Store()
    app = create_app({"folk_mel_2bar": SHIPPED_DIR / "folk_mel_2bar"}, queue=0, warm=False,
                     store=store)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            answers = await asyncio.gather(*[c.post("/api/sample", json={
                "model": "folk_mel_2bar", "n": 2, "seed": i}) for i in range(6)])
        for answer in answers:
            if answer.status_code == 503:
                assert "busy" in answer.json()["error"] and answer.headers["retry-after"]
        return [a.status_code for a in answers]

    try:
        codes = asyncio.run(burst())
    finally:
        store.close()
    assert set(codes) == {200, 503}, codes


def test_the_store_drops_the_oldest_results_past_its_cap_and_all_on_close():
    store = Store(max_bytes=2500)
    made = []
    for _ in range(3):
        rid, folder = store.new_result()
        (folder / "a.wav").write_bytes(b"x" * 1000)
        made.append((rid, store.add_piece(rid, folder / "a.wav", "music")))
        store.seal(rid)
    assert store.file(made[0][0], "a.wav") is None  # 3,000 bytes > 2,500: the first went
    assert store.file(made[2][0], "a.wav") is not None and store.used_bytes() == 2000
    with pytest.raises(Exception, match="unknown or expired"):
        store.piece(made[0][1].id)
    assert store.file(made[2][0], "../a.wav") is None
    store.close()
    assert not store.root.exists()


def test_host_names_that_could_be_rebound_are_refused():
    local = guard.allowed_hosts("127.0.0.1", 8000)
    assert {"127.0.0.1:8000", "localhost:8000"} <= local
    assert not guard.host_ok("attacker.example:8000", local, False, 8000)
    assert not guard.host_ok("127.0.0.1:9999", local, False, 8000)
    anywhere = guard.allowed_hosts("0.0.0.0", 8000)
    assert guard.host_ok("192.168.1.20:8000", anywhere, True, 8000)  # an address: no DNS
    assert not guard.host_ok("rebind.attacker.example:8000", anywhere, True, 8000)


def test_serve_says_in_one_line_what_stops_it(cli, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("serve", "--port", port)
    assert busy.exit_code == 2 and "cannot listen there" in busy.stderr
    not_a_model = cli("serve", "--models", tmp_path)
    assert not_a_model.exit_code == 2 and "not a trained-model directory" in not_a_model.stderr


def test_serve_prints_its_address_and_warns_when_the_network_can_reach_it(cli, monkeypatch):
    served = []

    def run(models, host, port, sock):  # instead of serving until Ctrl-C
        served.append((host, port, sorted(models)))
        sock.close()

    monkeypatch.setattr(server, "run", run)
    port = _free_port()
    local = cli("serve", "--port", port)
    assert local.exit_code == 0 and f"http://127.0.0.1:{port}/" in local.stdout
    assert "warning" not in local.stderr
    wide = cli("serve", "--host", "0.0.0.0", "--port", port)
    assert wide.exit_code == 0 and "warning: --host 0.0.0.0 lets other machines" in wide.stderr
    assert served[0] == ("127.0.0.1", port, sorted(server.served_models()))


def test_the_page_and_its_scripts_ship_in_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "musicae.studio" in config["packages"]
    patterns = config["package-data"]["musicae.studio"]
    static = ROOT / "musicae" / "studio"
    shipped = {p for pattern in patterns for p in static.glob(pattern)}
    assert {p for p in (static / "static").iterdir()} <= shipped
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("fastapi") for d in deps) and any(d.startswith("uvicorn")
                                                              for d in deps)


# --- the page, in a real browser against a real server ----------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server():
    """``musicae serve`` in its own process on a free port; stopped (and checked to remove its
    temporary folder) after the module."""
    port = _free_port()
    before = set(Path("/tmp").glob("musicae-studio-*"))
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "musicae", "serve", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the studio did not answer within 60 s"
        time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130  # Ctrl-C, as for every musicae command
    assert set(Path("/tmp").glob("musicae-studio-*")) == before  # its folder went with it


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.exists()) and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / ".ci" / "install_browser")], timeout=1200)
    if not (CHROMIUM.is_file() and CHROMEDRIVER.exists()):
        pytest.fail("the studio's browser tests need Debian's Chromium: apt-get install -y "
                    "chromium chromium-driver (as root, the test run does this itself)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--autoplay-policy=no-user-gesture-required",
                 "--mute-audio"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def test_the_studio_in_a_browser(live_server, browser):
    """Load the page, sample, play, blend with the slider and the pad (the loop keeps
    playing), reconstruct an upload; a burst of requests in between; no request leaves
    127.0.0.1; a screenshot of each panel."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    d, wait = browser, WebDriverWait(browser, 60, poll_frequency=0.05)
    js = d.execute_script
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.get(live_server)
    wait.until(lambda _: js("return document.body.dataset.ready"))
    js("window.sameVisit = true")  # gone if the page ever reloads

    # Sample: eight melodies, drawn; the second one plays
    d.find_element(By.ID, "sample-seed").send_keys("7")
    d.find_element(By.ID, "sample-go").click()
    wait.until(lambda _: d.find_element(By.ID, "sample-results").get_attribute("data-result"))
    cards = d.find_elements(By.CSS_SELECTOR, "#sample-results .card")
    assert len(cards) == 8
    blank = js("const c = document.createElement('canvas'); const s = arguments[0];"
               "c.width = s.width; c.height = s.height; return c.toDataURL()",
               cards[0].find_element(By.TAG_NAME, "canvas"))
    assert all(_picture(d, c.find_element(By.TAG_NAME, "canvas")) != blank for c in cards)
    cards[1].find_element(By.CSS_SELECTOR, ".play").click()
    _advances(d, "#player")
    _shoot(d, "sample")
    cards[1].find_element(By.CSS_SELECTOR, ".play").click()  # stop

    # Blend, Melody Mixer: the slider re-decodes; the loop plays on through the moves
    d.find_element(By.ID, "tab-blend").click()
    roll = d.find_element(By.ID, "blend-roll")
    wait.until(lambda _: roll.get_attribute("data-x") == "0.50")
    d.find_element(By.ID, "blend-play").click()
    loop = _advances(d, "#loop-a")
    slider = d.find_element(By.ID, "blend-slider")
    pictures = {}
    for key, x in ((Keys.HOME, "0.00"), (Keys.END, "1.00")):
        slider.send_keys(key)
        wait.until(lambda _, x=x: roll.get_attribute("data-x") == x)
        pictures[x] = _picture(d, roll)
    assert pictures["0.00"] != pictures["1.00"]
    _advances(d, "#loop-a, #loop-b", playing=True)
    assert loop["loop"]
    _shoot(d, "blend")

    # Beat Blender's pad: four corners; a click re-decodes at that point
    d.find_element(By.ID, "mode-pad").click()
    assert len(d.find_elements(By.CSS_SELECTOR, "#slots .slot")) == 4
    _click_at(d, d.find_element(By.ID, "pad"), 0.9, 0.9)
    wait.until(lambda _: roll.get_attribute("data-y") == "0.90")
    _shoot(d, "pad")
    d.find_element(By.ID, "blend-play").click()  # stop

    # A burst from 20 clients meanwhile: every answer a 200 or a 503, the page still works
    assert set(_burst(live_server, 40, 20)) <= {200, 503}

    # Reconstruct an uploaded file (a held-out folk tune), input beside output
    tune = ROOT / "data" / "folk" / "test" / FOLK_TUNE
    d.find_element(By.ID, "tab-reconstruct").click()
    d.find_element(By.ID, "recon-file").send_keys(str(tune))
    d.find_element(By.ID, "recon-bar").clear()
    d.find_element(By.ID, "recon-bar").send_keys("2")  # the third window: a full one
    d.find_element(By.ID, "recon-go").click()
    wait.until(lambda _: d.find_element(By.ID, "recon-results").get_attribute("data-result"))
    titles = [t.text for t in d.find_elements(By.CSS_SELECTOR, "#recon-results .title")]
    assert titles == ["input", "reconstruction"]
    assert "window 2 of 15, 4/4" in d.find_element(By.ID, "recon-info").text
    _shoot(d, "reconstruct")

    assert js("return window.sameVisit === true")  # no reload all along
    assert not [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    requested = _requested_urls(d)
    assert requested and all(u.startswith(live_server) or u.startswith(("data:", "blob:"))
                             for u in requested), requested


def _picture(d, canvas) -> str:
    return d.execute_script("return arguments[0].toDataURL()", canvas)


def _advances(d, selector: str, playing: bool = False) -> dict:
    """The (first playing) audio element's time moves on; its state."""
    state = lambda: d.execute_script(  # noqa: E731
        "const all = [...document.querySelectorAll(arguments[0])];"
        "const a = all.find(a => !a.paused) || all[0];"
        "return {t: a.currentTime, paused: a.paused, loop: a.loop}", selector)
    deadline = time.monotonic() + 20
    first = state()
    while time.monotonic() < deadline:
        now = state()
        if not now["paused"] and now["t"] > first["t"] + 0.2:
            return now
        time.sleep(0.05)
    raise AssertionError(f"{selector} did not play: {state()}")


def _click_at(d, element, fx: float, fy: float) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    size = element.size
    ActionChains(d).move_to_element_with_offset(
        element, int((fx - 0.5) * size["width"]), int((fy - 0.5) * size["height"])
    ).click().perform()


def _shoot(d, name: str) -> None:
    d.save_screenshot(str(SHOTS / f"{name}.png"))
    if os.environ.get("MUSICAE_DOCS_SCREENSHOTS"):
        (ROOT / "docs" / "studio").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHOTS / f"{name}.png", ROOT / "docs" / "studio" / f"{name}.png")
    assert base64.b64decode(d.get_screenshot_as_base64())[:4] == b"\x89PNG"


def _burst(url: str, requests: int, clients: int) -> list[int]:
    def one(i: int) -> int:
        return httpx.post(f"{url}api/sample", json={"model": "folk_mel_2bar", "n": 1,
                                                   "seed": i}, timeout=60).status_code

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(requests)))


def _requested_urls(d) -> list[str]:
    """Every URL the page asked the network for (Chrome's performance log)."""
    urls = []
    for entry in d.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_studio_leaves_groove_models_out(tmp_path):
    served = server.served_models()
    shipped_grooves = [d.name for d in SHIPPED_DIR.iterdir()
                       if (d / "config.json").is_file()
                       and (json.loads((d / "config.json").read_text())["representation"]
                            or {}).get("kind") == "groove"]
    assert not set(shipped_grooves) & set(served)
    if shipped_grooves:  # given with --models, one is a one-line refusal
        copy = tmp_path / "mine"
        shutil.copytree(SHIPPED_DIR / shipped_grooves[0], copy)
        with pytest.raises(MusicaeError, match="groove model"):
            server.served_models([copy])
