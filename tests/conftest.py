"""Fixtures of the live-widget tests (test_widgets.py, test_live.py): a small four-style network,
a photo, and a finaliser that stops every live widget's render threads."""

import pytest
import torch

from cinlab.model import TransformerNet


@pytest.fixture()
def model():
    """A 4-style conditional-instance-norm network (quarter width) whose styles differ clearly."""
    torch.manual_seed(0)
    net = TransformerNet(num_styles=4, width=0.25, style_names=["a", "b", "c", "d"])
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    return net


@pytest.fixture()
def photo():
    return torch.rand(1, 3, 40, 48)


@pytest.fixture()
def live():
    """Close every live widget a test makes (their render threads stop)."""
    made = []
    yield made.append
    for widget in made:
        widget.close()
