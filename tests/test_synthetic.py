"""Synthetic matrices with known spectra, and the glue helper that carries numbers into the prose."""

import numpy as np
import pytest
import torch

from llmgeom.core.synthetic import power_law_weights, states_with_spectrum
from llmgeom.publish.glue import as_plain


def test_power_law_weights_sum_to_one_and_decay():
    w = power_law_weights(50, 1.5)
    assert w.sum() == pytest.approx(1.0)
    assert (np.diff(w) < 0).all()
    assert w[0] / w[1] == pytest.approx(2**1.5)


def test_spectrum_is_exact_after_centring_and_normalisation():
    states, spectrum = states_with_spectrum([5, 3, 2], n_tokens=20, width=8, seed=1)
    assert states.shape == (20, 8)
    np.testing.assert_allclose(spectrum, [0.5, 0.3, 0.2])
    centred = states - states.mean(axis=0)
    z = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    eig = np.sort(np.linalg.eigvalsh(z.T @ z / len(z)))[::-1]
    np.testing.assert_allclose(eig[:3], spectrum, atol=1e-12)
    np.testing.assert_allclose(eig[3:], 0, atol=1e-12)
    assert np.abs(states.mean(axis=0)).max() > 1  # the raw states are not centred already


def test_rounding_keeps_the_token_count():
    _, spectrum = states_with_spectrum(power_law_weights(30, 2.0), n_tokens=64, width=40)
    assert spectrum.sum() == pytest.approx(1.0)
    assert np.allclose(spectrum * 64 / 2, np.round(spectrum * 64 / 2))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"weights": [1, -1], "n_tokens": 4, "width": 4}, "non-negative"),
        ({"weights": [1, 1], "n_tokens": 5, "width": 4}, "even"),
        ({"weights": [1, 1, 1], "n_tokens": 6, "width": 2}, "width"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        states_with_spectrum(**kwargs)


def test_as_plain_turns_array_scalars_into_python_numbers():
    assert type(as_plain(np.float64(1.5))) is float
    assert type(as_plain(np.int64(3))) is int
    assert type(as_plain(torch.tensor(2.5))) is float
    assert as_plain(np.bool_(True)) is True
    assert as_plain("text") == "text"


def test_glued_strings_are_markdown_on_their_page_and_plain_text_elsewhere():
    from llmgeom.publish.glue import GluedMarkdown

    glued = GluedMarkdown("**not reproduced** at `w384`")
    assert glued._repr_markdown_() == "**not reproduced** at `w384`"
    assert repr(glued) == "not reproduced at w384"
