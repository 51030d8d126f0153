"""LLM layer: one OpenAI-compatible client (Upstage Solar, OpenAI, vLLM, Ollama) with retries,
a request budget and a crash-safe response cache, plus the pipeline's three LLM tasks."""

from ragtune.llm.cache import AnswerStore, ResponseCache, request_key
from ragtune.llm.client import BatchResult, Completion, LLMClient, RequestFailed
from ragtune.llm.settings import PROVIDERS, LLMError, LLMSettings
from ragtune.llm.tasks import (
    ConversationJudgement,
    QueryExpansion,
    QuestionBatch,
    expand_queries,
    generate_questions,
    judge_conversations,
)

__all__ = [
    "PROVIDERS",
    "LLMSettings",
    "LLMError",
    "RequestFailed",
    "AnswerStore",
    "ResponseCache",
    "request_key",
    "LLMClient",
    "BatchResult",
    "Completion",
    "QuestionBatch",
    "ConversationJudgement",
    "QueryExpansion",
    "generate_questions",
    "judge_conversations",
    "expand_queries",
]
