"""Knowledge-graph data, models and distillation components."""
