"""The reference floor: the smallest FastAPI + Mangum Lambda with one route, no I/O."""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/api/v1/work-orders/{work_order_id}")
def get_work_order(work_order_id: str) -> dict:
    return {"id": work_order_id, "title": "Inspect inverter", "status": "open", "version": 1}


lambda_handler = Mangum(app, lifespan="off")
