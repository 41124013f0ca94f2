"""The scripted LLM server's own latency, as the OpenAI SDK sees it on a kept-alive
connection: what every demo turn, whole-run test and loop benchmark pays per model request.

    .venv/bin/python bench/bench_mock_llm.py [--requests 500]
"""

from __future__ import annotations

import argparse
import statistics
import time

import openai

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    server = MockLLMServer(Script.model_validate({"final_content": "ok"}))
    with server.running() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
        times: list[float] = []
        for _ in range(args.requests):
            start = time.perf_counter()
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            times.append(time.perf_counter() - start)
        client.close()
    times.sort()
    p50 = statistics.median(times) * 1000
    p90 = times[int(len(times) * 0.9)] * 1000
    print(f"| mock LLM, OpenAI SDK, kept-alive ({args.requests} requests) | p50 {p50:.2f} ms "
          f"| p90 {p90:.2f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
