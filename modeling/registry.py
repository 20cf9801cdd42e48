"""Model name -> class, the names used by `photoedit train --model` and by checkpoints' config.json."""
from __future__ import annotations

from modeling.baselines import MDN, GaussianMLP
from modeling.cgmvae import CGMVAE
from modeling.lbn import LBN
from modeling.networks import SliderModel
from modeling.pvae import PVAE

MODELS: dict[str, type[SliderModel]] = {
    "cgmvae": CGMVAE,
    "pvae": PVAE,
    "mlp": GaussianMLP,
    "mdn": MDN,
    "lbn": LBN,
}

# Table 1's row order, everywhere a list of models is shown or run: the baselines, then the VAEs.
MODEL_ORDER: tuple[str, ...] = ("mlp", "mdn", "lbn", "cgmvae", "pvae")


def model_class(name: str) -> type[SliderModel]:
    """The class registered under `name`; ValueError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None


def model_name(model: SliderModel) -> str:
    """The registry name of a model instance (exact class match)."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered model")


def build_model(name: str, **kwargs) -> SliderModel:
    """A fresh model of the named class with constructor kwargs (feature_dim included)."""
    return model_class(name)(**kwargs)
