"""Node classifiers: CPF's propagation step by hand on a 4-node path, label clamping, and model.pt round trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ssl_kd.engine.checkpoint import save_model
from ssl_kd.errors import ConfigError
from ssl_kd.graph.models import APPNP, GAT, GCN, CPFStudent, GraphInputs, edge_softmax
from ssl_kd.models.saved import load_saved_model

# path 0 - 1 - 2 - 3 (both directions); node 0 labelled class 0, node 3 labelled class 1
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
LABELLED = torch.tensor([True, False, False, True])
PRIOR = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.0, 1.0]])
# 'ind' confidence c_u = <x_u, a> with a = [1]: c = [0, ln 2, 0, ln 3]
FEATURES = torch.tensor([[0.0], [math.log(2.0)], [0.0], [math.log(3.0)]])
GRAPH = GraphInputs(FEATURES, EDGES, PRIOR, LABELLED)


def _student(variant: str, steps: int = 1, ptype: str = "ind") -> CPFStudent:
    model = CPFStudent(1, 2, 4, ptype=ptype, variant=variant, steps=steps, mlp_layers=1)
    with torch.no_grad():
        if ptype == "ind":
            model.attention.fill_(1.0)
        else:
            model.attention.copy_(FEATURES)  # the same confidences as free scalars
        model.mlp[0].weight.zero_()
        model.mlp[0].bias.copy_(torch.tensor([1.0, -1.0]))  # FT_v = [1, -1] for every node
        model.alpha.copy_(torch.tensor([0.0, 0.0, math.log(3.0), 0.0]))  # gates .5, .5, .75, .5
    return model.eval()


def test_edge_softmax_normalises_over_each_target() -> None:
    weights = edge_softmax(torch.tensor([0.0, math.log(3.0), 5.0]), torch.tensor([0, 0, 1]), 2)
    assert torch.allclose(weights, torch.tensor([0.25, 0.75, 1.0]))


@pytest.mark.parametrize("ptype", ["ind", "tra"])
def test_one_label_propagation_step_by_hand(ptype: str) -> None:
    # node 1 hears {0, 2, itself} with softmax(0, 0, ln 2) = (1/4, 1/4, 1/2): LP_1 = [.625, .375]
    # node 2 hears {1, 3, itself} with softmax(ln 2, ln 3, 0) = (1/3, 1/2, 1/6): LP_2 = [.25, .75]
    expected = torch.tensor([[1.0, 0.0], [0.625, 0.375], [0.25, 0.75], [0.0, 1.0]])
    assert torch.allclose(_student("plp_only", ptype=ptype)(GRAPH), expected)
    assert torch.allclose(_student("plp_only", steps=2, ptype=ptype)(GRAPH), expected)  # a fixed point here


def test_gated_mix_of_propagation_and_features_by_hand() -> None:
    # f_1 = ReLU(.5 [.625, .375] + .5 [1, -1]) = [.8125, 0]; f_2 = ReLU(.75 [.25, .75] + .25 [1, -1]) = [.4375, .3125]
    expected = torch.tensor([[1.0, 0.0], [0.8125, 0.0], [0.4375, 0.3125], [0.0, 1.0]])
    model = _student("cpf")
    assert torch.allclose(model(GRAPH), expected)
    assert torch.allclose(model.gates(), torch.tensor([0.5, 0.5, 0.75, 0.5]))
    ft_only = _student("ft_only")(GRAPH)
    assert torch.allclose(ft_only, torch.tensor([[1.0, 0.0], [1.0, -1.0], [1.0, -1.0], [0.0, 1.0]]))


@pytest.mark.parametrize("variant", ["cpf", "plp_only", "ft_only"])
def test_labelled_nodes_stay_clamped_in_training_mode(variant: str) -> None:
    torch.manual_seed(0)
    model = CPFStudent(1, 2, 4, variant=variant, steps=3, feat_dropout=0.5, attn_dropout=0.5).train()
    out = model(GRAPH)
    assert torch.equal(out[LABELLED], PRIOR[LABELLED])
    assert not torch.allclose(out[~LABELLED], PRIOR[~LABELLED])
    out.sum().backward()
    assert model.alpha.grad is not None or variant != "cpf"


def test_bad_student_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="ptype"):
        CPFStudent(1, 2, 4, ptype="both")
    with pytest.raises(ConfigError, match="variant"):
        CPFStudent(1, 2, 4, variant="lp")


@pytest.mark.parametrize(
    "model",
    [
        GCN(1, 2, hidden=4),
        GAT(1, 2, hidden=2, heads=2),
        APPNP(1, 2, hidden=4, steps=2),
        CPFStudent(1, 2, 4, ptype="tra"),
    ],
    ids=["gcn", "gat", "appnp", "cpf"],
)
def test_model_file_round_trips(model: torch.nn.Module, tmp_path: Path) -> None:
    save_model(tmp_path / "model.pt", model, model.spec(), dataset="test")
    loaded, meta = load_saved_model(tmp_path)
    assert type(loaded) is type(model) and loaded.spec() == model.spec() and meta["dataset"] == "test"
    assert torch.allclose(loaded.eval()(GRAPH), model.eval()(GRAPH))
