"""Trace: what the kernel is asked to do while a container starts, step by step.

Implements: spec/trace.md
Explained:  chapters/05-engine.md#tracing-a-start

    calls    CALLS (phase, argument kinds, chapter section per syscall), the flag tables
    steps    RawCall -> Step: Decoder (pure)
    tracer   trace(argv) -> Trace: the command under ptrace (python-ptrace), children followed
    render   text, json, html, and the book's Markdown excerpt of one phase
"""

from minidock.runtime.trace.calls import PHASES
from minidock.runtime.trace.steps import Decoder, RawCall, Step
from minidock.runtime.trace.tracer import Trace, TraceRefused, trace

__all__ = ["PHASES", "Decoder", "RawCall", "Step", "Trace", "TraceRefused", "trace"]
