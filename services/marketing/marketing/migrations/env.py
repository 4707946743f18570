from ecom_common.migrations import run_env
from marketing.models import metadata

run_env(metadata)
