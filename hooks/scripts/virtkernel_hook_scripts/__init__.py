"""virtkernel lifecycle-hook plugin that runs libvirt-style hook scripts."""

from .locate import HOOKS_SUBDIR, find_scripts, hook_dir
from .plugin import HookScripts
from .errors import HookScriptError
from .runner import HookCall, check_script, run_chain, run_script
from .security import UntrustedHookPath, check_trusted
from .settings import CONFIG_FILE, DEFAULT_TIMEOUT, TIMEOUT_ENV, ScriptSettings

__all__ = [
    "HookScripts", "HookCall", "HookScriptError", "run_chain", "run_script", "check_script", "find_scripts", "hook_dir", "HOOKS_SUBDIR",
    "UntrustedHookPath", "check_trusted", "ScriptSettings", "CONFIG_FILE", "DEFAULT_TIMEOUT", "TIMEOUT_ENV",
]
