from ecom_common.migrations import run_env

from aftersales.models import metadata

run_env(metadata)
