"""Drives the rest of the API a chat client uses through a Wick router, with the official
`openai` package, unmodified: text completions (stream and not), chat with logprobs and
top_logprobs, n choices, structured output with a strict JSON schema (many answers, each parsed
and validated with `jsonschema`), and stream usage.

    python examples/python/openai_features.py http://127.0.0.1:8080/v1 [ANSWERS]

Prints one JSON object; the test suite runs it and checks it.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import openai

MODEL = "smollm2-135m-instruct"
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "country": {"type": "string", "enum": ["France", "Italy", "Spain"]},
        "population_millions": {"type": "integer", "minimum": 0, "maximum": 99},
    },
    "required": ["city", "country", "population_millions"],
    "additionalProperties": False,
}


def main() -> None:
    base_url = sys.argv[1]
    answers = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    out = {}

    done = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
    out["completion"] = done.choices[0].text
    out["completion_finish"] = done.choices[0].finish_reason
    streamed = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0, stream=True
    )
    out["completion_stream"] = "".join(c.choices[0].text for c in streamed if c.choices)
    lp = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2)
    out["completion_logprobs"] = {
        "tokens": lp.choices[0].logprobs.tokens,
        "top": [len(t) for t in lp.choices[0].logprobs.top_logprobs],
    }

    chat = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=8,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    content = chat.choices[0].logprobs.content
    out["chat_text"] = chat.choices[0].message.content
    out["chat_logprobs"] = [
        {"token": t.token, "logprob": t.logprob, "top": [a.token for a in t.top_logprobs]} for t in content
    ]

    three = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a color."}],
        max_tokens=8,
        temperature=1.0,
        seed=11,
        n=3,
    )
    out["n_indices"] = [c.index for c in three.choices]
    out["n_texts"] = [c.message.content for c in three.choices]
    out["n_usage"] = three.usage.completion_tokens

    usage = None
    parts = []
    for chunk in client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.usage is not None:
            usage = {"prompt": chunk.usage.prompt_tokens, "completion": chunk.usage.completion_tokens}
        for c in chunk.choices:
            parts.append(c.delta.content or "")
    out["stream_usage"] = usage
    out["stream_text"] = "".join(parts)

    def structured(i: int):
        r = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Describe a European capital as JSON ({i})."}],
            max_tokens=48,
            temperature=1.0,
            seed=i,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "capital", "strict": True, "schema": SCHEMA},
            },
        )
        text = r.choices[0].message.content
        try:
            jsonschema.validate(json.loads(text), SCHEMA)
            return True, text
        except (ValueError, jsonschema.ValidationError) as e:
            return False, f"{text!r}: {e}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(structured, range(answers)))
    out["schema_valid"] = sum(ok for ok, _ in results)
    out["schema_answers"] = len(results)
    out["schema_failures"] = [t for ok, t in results if not ok][:3]
    out["schema_example"] = results[0][1] if results else None

    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
        out["tools_error"] = None
    except openai.BadRequestError as e:
        out["tools_error"] = {"status": e.status_code, "param": e.param}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
