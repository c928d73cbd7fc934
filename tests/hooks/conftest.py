"""Let pytest rewrite the asserts of the shared hook suites, which live in installed packages."""

import pytest

pytest.register_assert_rewrite("virtkernel_hook_scripts.testsuite", "virtkernel_device_setup.testsuite")
