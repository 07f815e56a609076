"""ASGI entry point for running the house under an external server (`uvicorn --factory maison.asgi:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from maison.core.config import load_settings
from maison.house import House, tune_interpreter


def create_app() -> FastAPI:
    tune_interpreter()
    return House.open(load_settings()).app()
