from ecom_common.migrations import run_env
from logistics.models import metadata

run_env(metadata)
