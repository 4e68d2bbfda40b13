"""``cpf``: CPF, a trained GNN's predictions distilled into label propagation + feature transformation.

Yang, Liu, Shi, "Extract the Knowledge of Graph Neural Networks and Go Beyond it: An Effective Knowledge
Distillation Framework", WWW 2021, arXiv 2103.02885 (docs/methods/cpf.md). The student
(:class:`~ssl_kd.graph.models.CPFStudent`) mixes, per node v with a learned gate σ(α_v), K steps of parameterised
label propagation and an MLP of v's features, its labelled nodes clamped to their labels; it is trained on the
teacher's class probabilities P_T of the unlabelled nodes V_U alone::

    L = sqrt( Σ_{v∈V_U} Σ_c (softmax(f^(K)_v)_c − P_T,vc)² )      (distance: global_l2; per_node_l2: Σ_v ‖·‖₂)

The frozen teacher (``teacher: {from: STAGE}``) runs once, in eval mode, when the stage starts; its softmax is kept
at full precision (float32) on the device and the teacher itself is dropped. After training, ``gates.csv`` in the
stage folder lists per node its gate σ(α_v), split, label and the student's prediction.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.errors import ConfigError
from ssl_kd.graph.data import NodeGraph
from ssl_kd.graph.methods.base import GraphMethod, GraphTrainConfig, graph_model
from ssl_kd.graph.models import CPFStudent
from ssl_kd.losses.cpf import CPFDistillationLoss

GATES_FILE = "gates.csv"


class CPFConfig(GraphTrainConfig):
    """CPF's switches (docs/methods/cpf.md): the student's ``ptype`` and ``variant`` are model options."""

    student: ModelSpec = Field(description="{arch: cpf, options: {ptype: ind|tra, variant: cpf|plp_only|ft_only, ...}}")
    teacher: ModelSpec = Field(description="the trained GNN: {from: STAGE}")
    distance: Literal["global_l2", "per_node_l2"] = Field(
        "global_l2", description="global_l2: one norm over all unlabelled nodes (the code); per_node_l2: a sum of norms"
    )


@register_method("cpf")
class CPF(GraphMethod):
    """L = ‖softmax(f^(K)) − P_T‖ over the unlabelled nodes: a CPF student fitted to a frozen GNN's predictions."""

    config_class = CPFConfig
    loss_nodes = "unlabelled"

    def __init__(self, cfg: CPFConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = graph_model(cfg.student, env)
        if not isinstance(self.student, CPFStudent):
            raise ConfigError(f"cpf: the student must be a cpf model, got {type(self.student).__name__}")
        teacher = graph_model(cfg.teacher, env)
        teacher.eval()
        with torch.inference_mode():
            probs = torch.softmax(teacher(self.graph_inputs()).float(), dim=1)
        self.register_buffer("teacher_probs", probs.clone(), persistent=False)
        self.loss = CPFDistillationLoss(cfg.distance)

    def training_step(self, nodes: Tensor) -> dict[str, Tensor]:
        scores = self.student(self.graph_inputs())
        return {"cpf": self.loss(scores[nodes], self.teacher_probs[nodes])}

    def output_model(self) -> CPFStudent:
        return self.student

    def write_outputs(self, stage_dir: Path) -> None:
        """``gates.csv``: per node its source id, split, label, the student's and the teacher's predictions and the
        gate σ(α_v) (the weight of label propagation, i.e. of structure, in its prediction)."""
        graph: NodeGraph = self.env.data
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            predicted = self.student(self.graph_inputs()).argmax(dim=1).cpu().tolist()
            gates = self.student.gates().cpu().tolist()
        self.train(was_training)
        teacher = self.teacher_probs.argmax(dim=1).cpu().tolist()
        rows = zip(
            range(graph.num_nodes),
            graph.source_ids.tolist(),
            graph.split_names(),
            graph.labels.tolist(),
            predicted,
            teacher,
            gates,
            strict=True,
        )
        with (stage_dir / GATES_FILE).open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["node", "source_id", "split", "label", "predicted", "teacher_predicted", "gate"])
            writer.writerows((*row[:-1], f"{row[-1]:.6f}") for row in rows)
