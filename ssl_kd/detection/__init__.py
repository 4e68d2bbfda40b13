"""The object-detection domain: digit canvases and COCO data, RetinaNet / FCOS detectors, COCO box mAP.

Importing the package registers the domain ``object_detection``, its datasets (``digits_detection``, ``coco``), its
models (``retinanet``, ``fcos``) and its methods (``detector``, and the distillation methods of ``methods/``). See
docs/methods/detection.md.
"""

from ssl_kd.detection import domain, methods, models  # noqa: F401  (registration)
from ssl_kd.detection.domain import DOMAIN, DetectionBatch, DetectionDataConfig, DetectionFacts
from ssl_kd.detection.models import Detector

__all__ = ["DOMAIN", "DetectionBatch", "DetectionDataConfig", "DetectionFacts", "Detector"]
