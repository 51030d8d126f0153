"""Parameters: the schema every composed configuration is checked against, and the workspace's standing choices.

The names below are the public surface; each loads its module on first use (lazy_loader), so importing
one part does not import the rest, and a stage's DVC deps stay the modules it uses.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["explain", "launch", "paths", "pipeline", "preflight", "restore", "schema", "workspace"],
    submod_attrs={
        "launch": ["launch_problem"],
        "paths": ["Workspace"],
        "preflight": ["PreflightError"],
        "pipeline": ["dvc_stages", "missing_input"],
        "restore": ["read_params", "restore_rejected"],
        "schema": ["Fusion", "Params", "ParamsError", "load", "rejections", "schema_keys", "validate"],
        "workspace": ["compose", "groups", "record_data_group", "use", "warn_on_data_switch"],
    },
)
