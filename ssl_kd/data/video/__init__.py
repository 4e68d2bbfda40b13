"""Video data: the moving-digits generator, clip decoding (decord / PyAV) and the ``video`` dataset."""

from ssl_kd.data.video import dataset  # noqa: F401  (registration)
from ssl_kd.data.video.decoding import decode_clip
from ssl_kd.data.video.generator import MovingDigitsConfig, generate_moving_digits

__all__ = ["MovingDigitsConfig", "decode_clip", "generate_moving_digits"]
