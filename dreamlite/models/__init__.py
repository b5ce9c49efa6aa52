"""DreamLite model definitions: the U-Net and its config (loading lives in dreamlite.loading)."""

from .config import UNET_CONFIGS, UNetConfig, UNetConfigError, get_unet_config
from .unet import DreamLiteUNet

__all__ = ["DreamLiteUNet", "UNetConfig", "UNetConfigError", "UNET_CONFIGS", "get_unet_config"]
