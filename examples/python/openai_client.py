"""Talks to a Wick router with the official `openai` package, unmodified.

    python examples/python/openai_client.py http://127.0.0.1:8080/v1 [API_KEY]

Prints one JSON object: the chat answer (non-stream and stream), the streamed chunks' finish
reason and receipt, the embeddings' sizes and the listed models. The test suite runs it.
"""

import json
import sys

import openai

PROMPT = "What is the capital of France?"


def main() -> None:
    base_url = sys.argv[1]
    api_key = sys.argv[2] if len(sys.argv) > 2 else "unused"
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)

    models = [m.id for m in client.models.list().data]

    chat = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0,
        max_tokens=32,
        seed=7,
    )

    streamed, finish, receipt = [], None, None
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0,
        max_tokens=32,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                streamed.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
        extra = getattr(chunk, "model_extra", None) or {}
        if "wick_receipt" in extra:
            receipt = extra["wick_receipt"]

    emb = client.embeddings.create(
        model="minilm-l6-v2",
        input=["A man is eating food.", "A man is eating a piece of bread."],
    )

    print(
        json.dumps(
            {
                "models": models,
                "chat": chat.choices[0].message.content,
                "chat_finish": chat.choices[0].finish_reason,
                "chat_usage": chat.usage.completion_tokens,
                "stream": "".join(streamed),
                "stream_finish": finish,
                "stream_usage": usage,
                "stream_receipt": receipt,
                "embedding_dims": [len(d.embedding) for d in emb.data],
            }
        )
    )


if __name__ == "__main__":
    main()
