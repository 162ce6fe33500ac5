"""dezero.utils: graph drawing, the book's gradient check and the raw-array helpers."""
import os
import stat
import sys

import numpy as np
import pytest

import dezero.functions as F
from dezero import Function, Variable, utils

# -----------------------------------------------------------------------------
# get_dot_graph
# -----------------------------------------------------------------------------


def test_dot_graph_format_exactly():
    x0 = Variable(np.array(1.0), name="x0")
    x1 = Variable(np.array(2.0), name="x1")
    y = x0 + x1
    y.name = "y"
    f = y.creator
    expected = "\n".join([
        "digraph g {",
        f'{id(y)} [label="y: () float64", color=orange, style=filled]',
        f'{id(f)} [label="Add", color=lightblue, style=filled, shape=box]',
        f"{id(x0)} -> {id(f)}",
        f"{id(x1)} -> {id(f)}",
        f"{id(f)} -> {id(y)}",
        f'{id(x0)} [label="x0: () float64", color=orange, style=filled]',
        f'{id(x1)} [label="x1: () float64", color=orange, style=filled]',
        "}",
    ])
    assert utils.get_dot_graph(y) == expected
    assert utils.get_dot_graph(y, verbose=True) == expected


def test_dot_graph_labels_without_verbose_and_without_names():
    x = Variable(np.ones((2, 3), dtype=np.float32))
    y = F.sum(x * x)
    text = utils.get_dot_graph(y, verbose=False)
    assert f'{id(x)} [label="", color=orange, style=filled]' in text
    verbose = utils.get_dot_graph(y)
    assert f'{id(x)} [label="(2, 3) float32", color=orange, style=filled]' in verbose
    assert '[label="Mul", color=lightblue, style=filled, shape=box]' in verbose
    assert '[label="Sum", color=lightblue, style=filled, shape=box]' in verbose


def test_dot_graph_one_item_per_line_and_every_function_once():
    x = Variable(np.array(2.0), name="x")
    a = x * x
    y = a * a + a
    lines = utils.get_dot_graph(y).split("\n")
    assert lines[0] == "digraph g {" and lines[-1] == "}"
    func_lines = [ln for ln in lines if "shape=box" in ln]
    assert len(func_lines) == len(set(func_lines)) == 3  # x * x, a * a and the Add
    for ln in lines[1:-1]:
        assert ln.endswith("style=filled]") or ln.endswith("shape=box]") or " -> " in ln


def test_dot_graph_of_a_leaf_and_of_a_variable_without_data():
    x = Variable(np.array(1.0), name="x")
    assert utils.get_dot_graph(x) == (
        "digraph g {\n" f'{id(x)} [label="x: () float64", color=orange, style=filled]\n' "}")
    v = Variable(None, name="v")
    assert f'{id(v)} [label="v", color=orange, style=filled]' in utils.get_dot_graph(v)


def test_dot_graph_escapes_quotes_in_names():
    x = Variable(np.array(1.0), name='say "hi"')
    assert 'label="say \\"hi\\": () float64"' in utils.get_dot_graph(x)


@pytest.mark.parametrize("name, label", [
    ("dir\\", "dir\\\\"),                       # a trailing backslash
    ('q"uote\\"', 'q\\"uote\\\\\\"'),               # quotes, and a backslash before one
    ("two\nlines\r\nthree\rfour", "two\\nlines\\nthree\\nfour"),  # one DOT line each
    ("\\N \\l", "\\\\N \\\\l"),                 # not Graphviz escapes
    ("nul\x00", "nul\\\\x00"),                    # control characters shown, not dropped
    (7, "7"),                                    # names that are not strings
])
def test_dot_graph_escapes_labels(name, label):
    x = Variable(np.array(1.0), name=name)
    text = utils.get_dot_graph(x, verbose=False)
    assert text == "digraph g {\n" f'{id(x)} [label="{label}", color=orange, style=filled]\n' "}"


def test_dot_graph_escapes_function_names():
    Odd = type('Odd"\\', (Function,), {"forward": lambda self, x: x})
    y = Odd()(Variable(np.array(1.0)))
    assert '[label="Odd\\"\\\\", color=lightblue' in utils.get_dot_graph(y)


@pytest.mark.graphviz
def test_plot_dot_graph_renders_hostile_names(tmp_path):
    import re

    names = ["end\\", 'q"uo\\"te', "two\nlines", "\\N", "nul\x00"]
    for i, name in enumerate(names):
        x = Variable(np.array(1.0), name=name)
        y = x * 2.0
        y.name = name
        out = tmp_path / f"g{i}.svg"
        utils.plot_dot_graph(y, verbose=False, to_file=str(out))
        texts = re.findall(r"<text[^>]*>([^<]*)</text>", out.read_text(encoding="utf-8"))
        texts = [t.replace("&quot;", '"') for t in texts]
        shown = {"two\nlines": ["two", "lines"], "nul\x00": ["nul\\x00"]}.get(name, [name])
        assert texts.count(shown[0]) == 2 and "Mul" in texts, (name, texts)
        assert all(s in texts for s in shown)


def test_dot_graph_skips_dead_outputs():
    class Two(Function):
        def forward(self, x):
            return x + 1, x + 2

    x = Variable(np.array(1.0))
    a = Two()(x)[0]
    y = a * 2.0
    text = utils.get_dot_graph(y)
    assert text.count(f"{id(a.creator)} -> ") == 1


# -----------------------------------------------------------------------------
# plot_dot_graph
# -----------------------------------------------------------------------------


@pytest.mark.graphviz
def test_plot_dot_graph_renders_png(tmp_path):
    x = Variable(np.array(1.0), name="x")
    y = x * x + 1.0
    out = tmp_path / "sub" / "graph.png"
    result = utils.plot_dot_graph(y, to_file=str(out))
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    try:
        import IPython  # noqa: F401
    except ImportError:
        assert result is None
    else:  # pragma: no cover - depends on the environment
        assert result is not None


@pytest.mark.graphviz
def test_plot_dot_graph_format_from_extension(tmp_path):
    x = Variable(np.array(1.0), name="x")
    out = tmp_path / "graph.svg"
    utils.plot_dot_graph(x * 2.0, verbose=False, to_file=out)
    assert "<svg" in out.read_text()


def test_plot_dot_graph_without_dot_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot anywhere
    x = Variable(np.array(1.0))
    with pytest.raises(RuntimeError, match="Graphviz 'dot' was not found"):
        utils.plot_dot_graph(x * 2.0, to_file=str(tmp_path / "g.png"))
    assert not (tmp_path / "g.png").exists()


def _fake_dot(folder, body):
    script = folder / "dot"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as a fake dot")
def test_plot_dot_graph_reports_dots_message(tmp_path, monkeypatch):
    _fake_dot(tmp_path, 'echo "Error: syntax error in line 3" >&2\nexit 3\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    x = Variable(np.array(1.0))
    with pytest.raises(RuntimeError) as info:
        utils.plot_dot_graph(x * 2.0, to_file=str(tmp_path / "g.png"))
    assert "syntax error in line 3" in str(info.value)
    assert "exit 3" in str(info.value)


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as a fake dot")
def test_plot_dot_graph_passes_arguments_without_a_shell(tmp_path, monkeypatch):
    log = tmp_path / "args.txt"
    _fake_dot(tmp_path, f'for a in "$@"; do echo "$a" >> "{log}"; done\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    target = tmp_path / "a dir; with $(odd) chars" / "my graph.pdf"
    utils.plot_dot_graph(Variable(np.array(1.0)) * 2.0, to_file=str(target))
    args = log.read_text().splitlines()
    assert args[1:] == ["-T", "pdf", "-o", str(target)]
    assert args[0].endswith(".dot")
    assert not os.path.exists(args[0])  # the temporary DOT file is cleaned up
    assert target.parent.is_dir()


@pytest.mark.graphviz
def test_plot_dot_graph_with_an_unknown_format_reports_dot_error(tmp_path):
    x = Variable(np.array(1.0))
    with pytest.raises(RuntimeError, match="not recognized"):
        utils.plot_dot_graph(x * 2.0, to_file=str(tmp_path / "g.notaformat"))


# -----------------------------------------------------------------------------
# the book's gradient check
# -----------------------------------------------------------------------------


def test_gradient_check_passes_for_a_correct_backward():
    x = np.random.rand(3, 4)
    assert utils.gradient_check(lambda v: v * v + 2.0 * v, x) is True
    assert utils.gradient_check(F.sum, np.random.rand(5)) is True


def test_gradient_check_with_extra_arguments():
    x = Variable(np.random.rand(2, 3).astype(np.float32))
    assert utils.gradient_check(F.sum, x, axis=1, keepdims=True) is True
    assert x.dtype == np.float64  # its data was replaced by a float64 copy


class WrongSquare(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 3 * self.inputs[0] * gy  # should be 2x


def test_gradient_check_fails_loudly_for_a_wrong_backward(capsys):
    assert utils.gradient_check(lambda v: WrongSquare()(v), np.random.rand(4)) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and "Numerical" in out and "Backprop" in out


def test_gradient_check_fails_on_shape_mismatch(capsys):
    class WrongShape(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return gy  # () instead of x's shape: the engine refuses it

    with pytest.raises(ValueError, match="invalid gradient"):
        utils.gradient_check(lambda v: WrongShape()(v), np.random.rand(3))


def test_gradient_check_ignores_a_stale_gradient():
    x = Variable(np.random.rand(3))
    (x * 10.0).backward()
    assert utils.gradient_check(lambda v: v * v, x) is True


def test_gradient_check_works_on_a_copy_of_the_callers_array():
    # The book's TestMul.test_backward3 shape: f reads the caller's x as a constant while
    # gradient_check differentiates with respect to (a copy of) the same values.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3))
    before = x.copy()
    assert utils.gradient_check(lambda y: x * y, x) is True
    np.testing.assert_array_equal(x, before)
    x32 = rng.standard_normal(4).astype(np.float32)
    assert utils.gradient_check(lambda y: y * y + 1.0, x32) is True
    assert x32.dtype == np.float32


def test_gradient_check_replaces_a_variables_data_by_a_copy():
    data = np.array([1.0, 2.0])
    v = Variable(data)
    assert utils.gradient_check(lambda y: y * Variable(data), v) is True
    assert v.data is not data and v.data.dtype == np.float64
    np.testing.assert_array_equal(data, [1.0, 2.0])


def test_numerical_grad_book_semantics():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    g = utils.numerical_grad(lambda a: a ** 2, x)
    np.testing.assert_allclose(g, 2 * before, rtol=1e-6)
    np.testing.assert_array_equal(x, before)  # perturbed in place, then restored
    assert g.shape == x.shape
    v = Variable(np.array([[1.0, 2.0]]))
    g = utils.numerical_grad(lambda a: F.sum(Variable(a) * 3.0), v)
    np.testing.assert_allclose(g, [[3.0, 3.0]], rtol=1e-6)


def test_numerical_grad_sums_non_scalar_outputs():
    x = np.array([0.5, 1.5])
    g = utils.numerical_grad(lambda a: np.outer(a, a), x)  # sum = (a0 + a1)^2
    np.testing.assert_allclose(g, [2 * 2.0, 2 * 2.0], rtol=1e-6)


def test_array_equal_and_allclose_accept_variables():
    a = np.array([1.0, 2.0])
    assert utils.array_equal(Variable(a), a.copy())
    assert not utils.array_equal(a, a + 1)
    assert utils.array_allclose(Variable(a), a + 1e-7)
    assert not utils.array_allclose(a, a + 1e-2)
    assert utils.array_allclose(a, a + 1e-3, rtol=1e-2, atol=0)
    assert not utils.array_allclose(np.ones(2), np.ones(3))


def test_array_allclose_broadcasts_as_in_the_book():
    # The book's TestSumTo.test_forward1 compares a (1,) result with a 0-d expectation.
    assert utils.array_allclose(np.ones(1), np.array(1.0))
    assert utils.array_allclose(Variable(np.ones((2, 3))), np.ones(3))
    assert utils.array_allclose(np.full((2, 1), 2.0), Variable(np.full((1, 4), 2.0)))
    assert not utils.array_allclose(np.ones(1), np.array(1.1))
    assert not utils.array_allclose(np.ones((2, 3)), np.ones((3, 2)))  # no broadcast: False
    # array_equal is numpy.array_equal, as in the book: shapes must match
    assert utils.array_equal(np.ones(3), Variable(np.ones(3)))
    assert not utils.array_equal(np.ones(1), np.array(1.0))


def test_strict_comparisons_stay_in_dezero_testing():
    from dezero import testing

    assert not testing.array_allclose(np.ones(1), np.array(1.0))
    assert testing.array_allclose(np.ones(2), np.ones(2))


# -----------------------------------------------------------------------------
# raw-array helpers
# -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4,), (2, 1, 3), (3, 3), (3, 1), 4])
def test_sum_to_refuses_a_shape_that_does_not_broadcast(shape):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"^sum_to: shape .* does not broadcast to x's shape "
                                         r"\(2, 3\)"):
        utils.sum_to(x, shape)
    with pytest.raises(ValueError, match=r"^sum_to: shape .* does not broadcast"):
        F.sum_to(x, shape)


def test_sum_to_accepts_every_broadcastable_shape():
    x = np.arange(6.0).reshape(2, 3)
    for shape in [(2, 3), (1, 3), (2, 1), (3,), (1,), (), (1, 1)]:
        np.testing.assert_array_equal(utils.sum_to(x, shape), F.sum_to(x, shape).data)
        assert utils.sum_to(x, shape).shape == shape


def test_sum_to_and_reshape_sum_backward():
    x = np.ones((2, 3, 4))
    assert utils.sum_to(x, (3, 1)).shape == (3, 1)
    np.testing.assert_array_equal(utils.sum_to(x, (1, 4)), np.full((1, 4), 6.0))
    gy = np.ones((2, 4))
    assert utils.reshape_sum_backward(gy, (2, 3, 4), 1, False).shape == (2, 1, 4)
    assert utils.reshape_sum_backward(gy, (2, 3, 4), [-2], False).shape == (2, 1, 4)
    assert utils.reshape_sum_backward(np.ones(3), (2, 3), None, False).shape == (3,)
    assert utils.reshape_sum_backward(np.ones((1, 3)), (2, 3), 0, True).shape == (1, 3)


def test_logsumexp_and_max_backward_shape():
    x = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])
    np.testing.assert_allclose(utils.logsumexp(x, axis=1),
                               [[1000.0 + np.log(2.0)], [np.log(4.0)]])
    assert list(utils.max_backward_shape(np.ones((2, 3, 4)), 1)) == [2, 1, 4]
    assert list(utils.max_backward_shape(np.ones((2, 3)), None)) == [1, 1]


def test_pair_and_conv_sizes():
    assert utils.pair(3) == (3, 3)
    assert utils.pair((1, 2)) == (1, 2)
    for bad in ((1, 2, 3), "ab", 1.5):
        with pytest.raises(ValueError):
            utils.pair(bad)
    assert utils.get_conv_outsize(4, 3, 1, 1) == 4
    assert utils.get_conv_outsize(7, 3, 2, 0) == 3
    assert utils.get_deconv_outsize(4, 3, 2, 1) == 7


@pytest.mark.skipif(sys.platform == "win32", reason="uses file modes of POSIX")
def test_plot_dot_graph_with_a_dot_that_cannot_run(tmp_path, monkeypatch):
    script = _fake_dot(tmp_path, "exit 0\n")
    script.write_bytes(b"\x7fELF-not-really")  # executable bit set, but not a program
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="could not run Graphviz"):
        utils.plot_dot_graph(Variable(np.array(1.0)) * 2.0, to_file=str(tmp_path / "g.png"))
