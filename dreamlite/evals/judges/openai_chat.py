"""A judge behind any OpenAI-compatible chat-completions endpoint, with the standard library only.

The user names the URL (e.g. http://127.0.0.1:8000/v1 for a local vLLM serving Qwen2.5-VL-72B-Instruct, or
https://api.openai.com/v1 for GPT-4o / GPT-4.1); requests go nowhere else. Images travel as base64 PNG data URLs,
in the message order the benchmark gives. The API key, if the endpoint needs one, is read from the environment
variable the user names (default DREAMLITE_JUDGE_API_KEY). Sampling is greedy (temperature 0) unless told
otherwise; the model id and system fingerprint the endpoint reports are kept for the results file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request

from PIL import Image

from . import JudgeError


def image_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat_content(parts) -> list[dict]:
    return [{"type": "text", "text": p} if isinstance(p, str)
            else {"type": "image_url", "image_url": {"url": image_data_url(p)}} for p in parts]


class OpenAIChatJudge:
    def __init__(self, url: str, model: str | None, api_key_env: str = "DREAMLITE_JUDGE_API_KEY",
                 temperature: float = 0.0, max_tokens: int = 1024, timeout: float = 300.0):
        if not model:
            raise ValueError("an endpoint judge needs --judge-model (the model name the endpoint serves)")
        base = url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model, self.temperature, self.max_tokens, self.timeout = model, temperature, max_tokens, timeout
        self.api_key = os.environ.get(api_key_env)
        self.reported: dict = {}

    @property
    def identity(self) -> dict:
        return {"kind": "openai-chat", "url": self.url, "id": self.model, "temperature": self.temperature,
                "reported_model": self.reported.get("model"),
                "system_fingerprint": self.reported.get("system_fingerprint")}

    def ask(self, parts) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": chat_content(parts)}],
                "temperature": self.temperature, "max_tokens": self.max_tokens}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise JudgeError(f"HTTP {err.code} from {self.url}") from None
        except (urllib.error.URLError, TimeoutError) as err:
            raise JudgeError(f"cannot reach {self.url}: {getattr(err, 'reason', err)}") from None
        except json.JSONDecodeError:
            raise JudgeError(f"{self.url} did not answer JSON") from None
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise JudgeError(f"{self.url} answered without choices[0].message.content") from None
        for key in ("model", "system_fingerprint"):
            if reply.get(key):
                self.reported[key] = reply[key]
        return content if isinstance(content, str) else json.dumps(content)
