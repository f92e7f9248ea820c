"""The seed's tasks backend: `/api/{user_id}/tasks` in FastAPI + SQLModel, guarded by sigil-guard."""
