"""logistics HTTP API: flask-smorest blueprint and marshmallow schemas."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("logistics", __name__, url_prefix="/api/v1", description="logistics API")
