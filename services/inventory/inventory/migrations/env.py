from ecom_common.migrations import run_env
from inventory.models import metadata

run_env(metadata)
