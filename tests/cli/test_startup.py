"""The ``instaseg`` command starts without torch: commands that do not run a model (eval, data) must not pay
for loading it, and ``--help`` must be quick."""

import subprocess
import sys


def test_the_command_line_loads_without_torch():
    code = ("import sys; import instaseg.cli.main as m; m.build_parser(); "
            "print(sorted(n for n in ('torch', 'torchvision', 'numba') if n in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert output.stdout.strip() == "[]"


def test_model_names_come_from_the_registry_without_torch():
    code = ("import sys; import instaseg.cli.main as m; p = m.build_parser(); "
            "a = p.parse_args(['train', '--model', 'mask_rcnn_mnv3_fpn', '--data', 'x', '--out', 'y']); "
            "print(a.model, 'torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert output.stdout.strip() == "mask_rcnn_mnv3_fpn False"


def test_instaseg_models_lists_tasks_summaries_the_default_and_options(capsys):
    from instaseg.cli.main import main
    from instaseg.models import DEFAULT_MODEL, list_models

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_models()
    assert any(line.startswith(DEFAULT_MODEL) and line.endswith("(default)") for line in lines)
    assert main(["models", "--options", "mask_rcnn_r50_fpn"]) == 0
    options = capsys.readouterr().out.splitlines()
    assert "backbone = 'resnet50'" in options and "pixel_std = (0.229, 0.224, 0.225)" in options
