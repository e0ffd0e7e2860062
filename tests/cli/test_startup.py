"""The ``instaseg`` command starts without torch: commands that do not run a model (eval, data) must not pay
for loading it, and ``--help`` must be quick."""

import subprocess
import sys


def test_the_command_line_loads_without_torch():
    code = ("import sys; import instaseg.cli.main as m; m.build_parser(); "
            "print(sorted(n for n in ('torch', 'torchvision', 'numba') if n in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert output.stdout.strip() == "[]"
