"""ImgEdit and GEdit aggregation on hand-made judge answers (malformed answers retried, then recorded as
failures), and the OpenAI-compatible judge against a local HTTP server started here."""

import base64
import io
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from dreamlite.evals import gedit, imgedit
from dreamlite.evals.identity import sha256_file
from dreamlite.evals.judges import JudgeError, MalformedAnswer, ask_with_retries
from dreamlite.evals.judges.openai_chat import OpenAIChatJudge


def answer(a, b, c, reasoning="Brief reasoning: fine."):
    return f"{reasoning}\nPrompt Compliance: {a}\nVisual Seamlessness: {b}\nPhysical & Detail Fidelity: {c}"


class ScriptedJudge:
    """Answers from a per-instruction script, in order; an Exception in the script is raised instead."""

    identity = {"kind": "scripted", "id": "scripted-judge"}

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls = []

    def ask(self, parts):
        text = next(p for p in parts if isinstance(p, str))
        key = next(k for k in self.script if k in text)
        self.calls.append(key)
        reply = self.script[key].pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def imgedit_data(root, items):
    """A tiny ImgEdit-like folder: basic_edit.json, prompts.json (the rubric) and source images."""
    (root / "animal").mkdir(parents=True)
    entries = {}
    for key, (prompt, kind) in items.items():
        Image.new("RGB", (24, 16), (10 * int(key), 80, 120)).save(root / "animal" / f"{key}.jpg")
        entries[key] = {"id": f"animal/{key}.jpg", "prompt": prompt, "edit_type": kind}
    (root / "basic_edit.json").write_text(json.dumps(entries))
    rubric = {t: f"You grade {t} edits. Instruction: <edit_prompt>. Three criteria, 1-5." for t in imgedit.TYPES}
    (root / "prompts.json").write_text(json.dumps(rubric))
    return imgedit.read_items(root)


def test_imgedit_parser_reads_three_criteria():
    assert imgedit.parse_answer(answer(1, 4, 4)) == [1, 4, 4]
    for bad in ("Prompt Compliance: 5", answer(1, 6, 4), "I cannot rate this image.", answer(1, 2, 3) + "\nX: 2"):
        with pytest.raises(MalformedAnswer):
            imgedit.parse_answer(bad)


def test_imgedit_aggregation_with_a_retried_and_a_failed_answer(tmp_path):
    data = tmp_path / "data"
    items = imgedit_data(data, {"1": ("make the dog red", "adjust"), "2": ("make the cat blue", "adjust"),
                                "3": ("add a hat", "add"), "10": ("remove the bird", "remove")})
    results = tmp_path / "edited"
    results.mkdir()
    for item in items:
        Image.new("RGB", (24, 16)).save(results / f"{item['key']}.png")
    judge = ScriptedJudge({
        "make the dog red": [answer(1, 4, 4)],
        "make the cat blue": ["Prompt Compliance: five", answer(5, 5, 4)],  # malformed, then fine
        "add a hat": [JudgeError("HTTP 503"), answer(2, 3, 3)],
        "remove the bird": ["no idea", "still no idea", "nothing"],  # recorded as a failure
    })
    scores = imgedit.score_imgedit(items, results, judge, data / "prompts.json", data, tmp_path / "out")
    assert [i["key"] for i in items] == ["1", "2", "3", "10"]  # numeric key order
    # items: 3.0 and 4.67 (rounded to 2 places, as the official step 1); adjust = mean 3.835 -> 3.83 or 3.84
    assert scores["types"]["adjust"]["score"] == round((3.0 + 4.67) / 2, 2)
    assert scores["types"]["add"]["score"] == 2.67
    assert scores["types"]["remove"] == {"score": None, "items": 0, "failures": 1}
    assert scores["overall"] == pytest.approx(round((round((3.0 + 4.67) / 2, 2) + 2.67) / 2, 4))
    assert scores["failures"] == 1
    assert scores["judge"]["id"] == "scripted-judge"
    assert scores["prompt_files"]["prompts.json"] == sha256_file(data / "prompts.json")
    records = {json.loads(x)["key"]: json.loads(x) for x in (tmp_path / "out" / "judgments.jsonl").read_text()
               .splitlines()}
    assert records["2"]["attempts"] == 2 and records["2"]["ok"]
    assert records["10"]["ok"] is False and len(records["10"]["errors"]) == 3
    official = json.loads((tmp_path / "out" / "result.json").read_text())
    assert official["1"] == answer(1, 4, 4) and "error" in official["10"]
    # a re-run judges only the failure
    judge.script["remove the bird"] = [answer(4, 4, 4)]
    calls = len(judge.calls)
    again = imgedit.score_imgedit(items, results, judge, data / "prompts.json", data, tmp_path / "out")
    assert judge.calls[calls:] == ["remove the bird"]
    assert again["types"]["remove"]["score"] == 4.0 and again["failures"] == 0


def test_viescore_parsing_and_the_gedit_aggregation(tmp_path):
    assert gedit.parse_scores('```json\n{"score": [7, 9], "reasoning": "ok"}\n```') == [7.0, 9.0]
    for bad in ('{"score": [7]}', '{"score": [7, 11]}', "score: 7, 9", '{"score": [7, "x"]}'):
        with pytest.raises(MalformedAnswer):
            gedit.parse_scores(bad)
    assert gedit.viescore([8, 2], [9, 4]) == {"SC": 2, "PQ": 4, "O": math.sqrt(8)}

    data = tmp_path / "data"
    (data / "src").mkdir(parents=True)
    rows = [("a", "color_alter", "turn the car red", True), ("b", "color_alter", "turn the sky green", False),
            ("c", "subject-add", "add a kite", True), ("d", "subject-add", "add a dog", True)]
    with open(data / "metadata.jsonl", "w") as f:
        for key, kind, text, inter in rows:
            Image.new("RGB", (20, 20), (30, 60, 90)).save(data / "src" / f"{key}.png")
            f.write(json.dumps({"key": key, "task_type": kind, "instruction": text, "instruction_language": "en",
                                "image": f"src/{key}.png", "intersection_exist": inter}) + "\n")
        f.write(json.dumps({"key": "z", "task_type": "subject-add", "instruction": "加一只狗",
                            "instruction_language": "cn", "image": "src/a.png"}) + "\n")
    items = gedit.read_items(data)
    assert [i["key"] for i in items] == ["a", "b", "c", "d"]  # English only by default
    out = tmp_path / "out"
    for item in items:
        path = gedit.result_path(out, item)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20)).save(path)
    assert gedit.result_path(out, items[0]) == out / "fullset" / "color_alter" / "en" / "a.png"

    def sc(a, b):
        return json.dumps({"score": [a, b], "reasoning": "r"})
    pq_prompt = "PQ-QUESTION"
    judge = ScriptedJudge({
        "turn the car red": [sc(8, 6)], "turn the sky green": ["{'score': [1, 2]}", sc(4, 9)],
        "add a kite": [sc(10, 10)], "add a dog": ["?", "?", "?"],
        pq_prompt: [sc(7, 9), sc(9, 9), sc(5, 8), sc(9, 9)],
    })
    prompts = tmp_path / "vie.json"
    prompts.write_text(json.dumps({"sc": "SC: <instruction>", "pq": pq_prompt}))
    scores = gedit.score_gedit(items, out, judge, prompts, data, out)
    full = scores["fullset"]
    color = full["types"]["color_alter"]
    assert color["SC"] == pytest.approx((6 + 4) / 2) and color["PQ"] == pytest.approx((7 + 9) / 2)
    assert color["O"] == pytest.approx((math.sqrt(6 * 7) + math.sqrt(4 * 9)) / 2)
    add = full["types"]["subject-add"]
    assert add["items"] == 1 and add["O"] == pytest.approx(math.sqrt(10 * 5))
    assert full["O"] == pytest.approx((color["O"] + add["O"]) / 2)  # the mean over task types
    assert full["failures"] == 1
    inter = scores["intersection"]
    assert inter["types"]["color_alter"]["items"] == 1  # "b" is outside the intersection subset
    assert scores["prompt_files"]["vie.json"] == sha256_file(prompts)
    record = [json.loads(x) for x in (out / "judgments.jsonl").read_text().splitlines() if '"key": "d"' in x][0]
    assert not record["ok"] and len(record["errors"]) == 3  # three SC tries; PQ fine


class FakeChatServer(BaseHTTPRequestHandler):
    replies: list = []
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, content = type(self).replies.pop(0)
        payload = json.dumps({"model": "served-judge-2025", "system_fingerprint": "fp_test",
                              "choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatServer)
    FakeChatServer.replies, FakeChatServer.requests = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", FakeChatServer
    server.shutdown()
    server.server_close()


def test_openai_compatible_judge_against_a_local_server(chat_server, monkeypatch):
    url, handler = chat_server
    monkeypatch.setenv("DREAMLITE_JUDGE_API_KEY", "test-key")
    judge = OpenAIChatJudge(url, "gpt-4o")
    source, result = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    handler.replies = [(500, ""), (200, "garbled"), (200, answer(3, 4, 5))]
    verdict = ask_with_retries(judge, ["grade it", source, result], imgedit.parse_answer, attempts=3)
    assert verdict.ok and verdict.value == [3, 4, 5] and verdict.attempts == 3
    assert "HTTP 500" in verdict.errors[0] and verdict.errors[1].startswith("malformed")
    sent = handler.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer test-key"
    assert sent["body"]["model"] == "gpt-4o" and sent["body"]["temperature"] == 0.0
    content = sent["body"]["messages"][0]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "image_url"]
    png = base64.b64decode(content[2]["image_url"]["url"].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).getpixel((0, 0)) == (0, 0, 255)  # the result, second image
    assert judge.identity["reported_model"] == "served-judge-2025"
    assert judge.identity["system_fingerprint"] == "fp_test"
    handler.replies = [(200, "x")] * 2
    failed = ask_with_retries(judge, ["grade it"], imgedit.parse_answer, attempts=2)
    assert not failed.ok and failed.answers == ["x", "x"]
    unreachable = OpenAIChatJudge("http://127.0.0.1:9/v1", "m", timeout=2)
    assert not ask_with_retries(unreachable, ["hi"], imgedit.parse_answer, attempts=1).ok
