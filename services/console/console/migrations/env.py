from console.models import metadata
from ecom_common.migrations import run_env

run_env(metadata)
