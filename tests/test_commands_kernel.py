"""`fcn-graph kernel check|compare` on users' files and modules, and the README's compare table."""
import json
import os
import re
import subprocess
import sys

import pytest

from fcn_graph.cli import main
from fcn_graph.commands.kernel import parse_factors
from fcn_graph.testing.compare import compare_upsamplers, format_comparison

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A user's modules; the kernels and upsamplers themselves are test_testing's, written
# independently of fcn_graph (tests/ is on sys.path, see conftest.py).
KERNELS = """
from planted_kernels import factor_parity_kernel, right_kernel


def bilinear(factor, channels):
    return right_kernel(factor, channels)


def bilinear_oihw(factor, channels):
    return right_kernel(factor, channels).transpose(3, 2, 0, 1)


def factor_parity(factor, channels):  # k = 2f as in the FCN prototxts
    return factor_parity_kernel(2 * factor, channels)


def one_argument(factor):
    return right_kernel(factor, 3)


def flat(factor, channels):
    return right_kernel(factor, channels)[:, :, 0]


def non_square(factor, channels):
    return right_kernel(factor, channels)[:, 1:]
"""

UPSAMPLERS = """
from planted_kernels import correct_upsampler, legacy_upsampler as legacy


def drops_batch(images, factor):
    return correct_upsampler(images, factor)[0]
"""


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    (tmp_path / "my_kernels.py").write_text(KERNELS)
    (tmp_path / "my_upsamplers.py").write_text(UPSAMPLERS)
    (tmp_path / "broken.py").write_text("import a_package_nobody_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_parse_factors():
    assert parse_factors("2-9,16,32") == (2, 3, 4, 5, 6, 7, 8, 9, 16, 32)
    assert parse_factors("1") == (1,)


def test_right_kernel_file_exits_0(user_files, capsys):
    code = main(["kernel", "check", f"{user_files / 'my_kernels.py'}:bilinear",
                 "--factors", "1-9,16,32"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all 11 factors (1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 32) match" in out
    assert re.search(r"^\| 32 +\| 64x64 +\| 0 ", out, re.M)


def test_oihw_kernel_needs_the_layout_flag(user_files, capsys):
    spec = f"{user_files / 'my_kernels.py'}:bilinear_oihw"
    assert main(["kernel", "check", spec, "--layout", "oihw", "--factors", "2-4"]) == 0
    assert main(["kernel", "check", spec, "--factors", "3"]) == 1
    assert "bilinear_oihw(3, 3) returned a kernel for 5 channels, not 3 (read as hwio); read " \
           "in the other layout it is 3 -> 3: pass layout 'oihw'" in capsys.readouterr().err


def test_factor_parity_kernel_exits_1_with_table_and_diagnosis(user_files):
    result = subprocess.run(
        [sys.executable, "-m", "fcn_graph.cli", "kernel", "check",
         f"{user_files / 'my_kernels.py'}:factor_parity", "--factors", "2-5"],
        capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests")))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert re.search(r"^\| 2 +\| 4x4 .*\| ok +\|$", out, re.M)
    assert re.search(r"^\| 3 +\| 6x6 \(not 5x5\) .*\| FAIL factor-parity-centre \|$", out, re.M)
    assert "factor 3: factor-parity-centre: the filter is centred by the parity of " \
           "(k + 1) // 2 = 3 instead of the kernel size k = 6" in out
    assert "factor 5: factor-parity-centre" in out
    assert out.rstrip().endswith("FAILED at factor 3, 5 of 2, 3, 4, 5")


def test_upsampler_from_a_module_name(user_files, capsys):
    code = main(["kernel", "check", "my_upsamplers:legacy", "--kind", "upsampler",
                 "--factors", "1-3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "factor 2: corner-aligned-sampling" in out and "factor 3: corner-aligned-sampling" in out
    assert re.search(r"^\| 1 +\| 5x7, 6x4 .*\| ok +\|$", out, re.M)


@pytest.mark.parametrize("spec, extra, words", [
    ("missing.py:bilinear", [], "missing.py: no such file"),
    ("broken.py:anything", [], "broken.py: importing it failed with ModuleNotFoundError: No module "
                               "named 'a_package_nobody_installed'"),
    ("no_such_module_here:f", [], "no_such_module_here: importing it failed with "
                                  "ModuleNotFoundError"),
    ("my_kernels.py:absent", [], "has no function 'absent'"),
    ("my_kernels.py:one_argument", [], "one_argument(factor) cannot be called as "
                                       "one_argument(2, 3)"),
    ("my_kernels.py:flat", [], "flat(2, 3) has shape (4, 4, 3): a kernel is 4-D"),
    ("my_kernels.py:non_square", [], "non_square(2, 3) is non-square: 4x3 taps"),
    ("my_upsamplers.py:drops_batch", ["--kind", "upsampler"],
     "returned shape (10, 14, 3); an upsampler returns NHWC (2, 10, 14, 3)"),
])
def test_bad_input_is_one_line_and_exit_1(user_files, capsys, spec, extra, words):
    path, _, name = spec.partition(":")
    source = str(user_files / path) if path.endswith(".py") else path
    code = main(["kernel", "check", f"{source}:{name}", "--factors", "2"] + extra)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fcn-graph kernel: error: ")
    assert words in lines[0]


@pytest.mark.parametrize("argv", [
    ["kernel", "check", "my_kernels.py"],                                    # no :FUNCTION
    ["kernel", "check", "my_kernels:bilinear", "--mode", "edge"],            # mode of a kernel
    ["kernel", "check", "my_upsamplers:legacy", "--kind", "upsampler", "--layout", "oihw"],
])
def test_contradictory_command_lines_are_usage_errors(user_files, capsys, argv):
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_bad_factor_list_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["kernel", "check", "m:f", "--factors", "2-x"])
    assert raised.value.code == 2
    assert "2-9,16,32" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fresh_comparison():
    return compare_upsamplers(factors=(2, 3))


def by_name(comparison):
    return {method["name"]: method for method in comparison["methods"]}


def test_compare_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "compare" / "table.json"
    assert main(["kernel", "compare", "--factors", "2,3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    comparison = json.loads(out.read_text())
    assert format_comparison(comparison) in printed
    methods = by_name(comparison)

    def cells(name):
        return [(r["category"], r["offset_px"], r["causes"]) for r in methods[name]["results"]]

    assert cells("TF1 `tf.compat.v1.image.resize_bilinear`") == [
        ("offset", 0.5, ["corner-aligned-sampling"]), ("offset", 1.0, ["corner-aligned-sampling"])]
    assert cells("TF1 `resize_bilinear(align_corners=True)`") == [
        ("other", None, ["align-corners"])] * 2
    assert cells("scikit-image `rescale(order=1, mode='constant')`") == [("equal", None, [])] * 2
    assert cells("scikit-image `rescale(order=1, mode='edge')`") == [
        ("border band", None, ["border-mode"])] * 2
    torch_rows = [m for m in comparison["methods"] if m["library"].startswith("torch")]
    assert len(torch_rows) == 3
    if all(m["skipped"] for m in torch_rows):
        assert "skipped: torch is not installed" in printed
    else:
        assert cells(torch_rows[2]["name"]) == [("equal", None, [])] * 2


def test_readme_table_is_the_commands_output_for_the_shipped_json(fresh_comparison):
    with open(os.path.join(ROOT, "docs", "kernel_compare.json")) as f:
        shipped = json.load(f)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Testing your own upsampling kernels", 1)[1].split("\n## ", 1)[0]
    assert "fcn-graph kernel compare --json docs/kernel_compare.json" in section
    assert format_comparison(shipped) in section
    # The shipped numbers are what the command measures today (where both ran).
    shipped_methods = by_name(shipped)
    for name, fresh in by_name(fresh_comparison).items():
        if fresh["skipped"] or shipped_methods[name]["skipped"]:
            continue
        for now in fresh["results"]:
            then = next(r for r in shipped_methods[name]["results"] if r["factor"] == now["factor"])
            assert (then["category"], then["offset_px"], then["causes"]) == \
                   (now["category"], now["offset_px"], now["causes"]), name
            assert then["max_diff"] == pytest.approx(now["max_diff"], abs=1e-5), name
