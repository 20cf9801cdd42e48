"""Input screening: which raw feature coordinates carry a sparse signal, chosen once by a fast model
with an exact likelihood and handed to every model as a candidate input (select, then refit: the
relaxed group lasso).

A model with a weak gradient on its inputs (a VAE whose latent can absorb what the photo explains,
an LBN whose gates are sampled) loses a sparse signal under its own group lasso before it learns
to use it, or keeps the noise coordinates. The screen fits the MDN (exact log-likelihood, cheap) on
the raw standardised features under the input group lasso at SCREEN_PENALTIES, refits it without
the penalty on each set of columns a strength kept (and on none), and keeps the set whose refit has
the best validation LL (none: the features carry nothing the screen can find). modeling.search's INPUT_CANDIDATES then offer every model those columns alone, and those
columns beside the PCA projection (a signal that is partly sparse, partly low rank), refitted
without the penalty; the model's own validation LL decides between them and the other candidates.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from modeling.data import EditsData
from modeling.projection import input_column_norms

log = logging.getLogger(__name__)

SCREEN_MODEL = "mdn"
SCREEN_PENALTIES = (0.1, 0.3, 1.0)   # group-lasso strengths tried (nats/edit per unit column norm)


@dataclass
class InputScreening:
    """The kept raw coordinates [r] of a D-wide feature vector, and how they were chosen."""

    columns: np.ndarray
    feature_dim: int
    penalty: float          # the group-lasso strength that kept them (nan: the empty set, always tried)
    validation_ll: float    # of the screen model refitted on them alone
    rows: list[dict]        # one per column set refitted: columns_kept, penalty, validation_ll

    def basis(self) -> torch.Tensor:
        """Selection basis [D, max(r, 1)]: column i picks standardised coordinate columns[i]; with
        nothing kept one zero column, so a model on it sees no photo at all."""
        basis = torch.zeros(self.feature_dim, max(len(self.columns), 1))
        basis[torch.as_tensor(self.columns, dtype=torch.long), torch.arange(len(self.columns))] = 1.0
        return basis

    def summary(self) -> dict:
        """JSON-ready record (metrics.json): kept columns, strength, validation LL, one row per strength."""
        return {"model": SCREEN_MODEL, "columns": [int(c) for c in self.columns], "penalty": None if math.isnan(self.penalty) else self.penalty,
                "validation_ll": self.validation_ll, "rows": self.rows}


def screen_inputs(train_data: EditsData, val_data: EditsData, config, kwargs: dict | None = None) -> InputScreening:
    """Fit the screen and keep the input columns whose refit validates best.

    For each strength of SCREEN_PENALTIES, SCREEN_MODEL is fitted on the raw features under the group
    lasso (`config`'s epochs / patience / seed; `kwargs` override the model's defaults); each distinct
    set of kept columns, and the empty set, is then refitted without the penalty on those columns
    alone, and the set with the best refitted validation LL is kept (the lasso's own validation LL
    would prefer a weak penalty: its shrinkage costs fit). config: a modeling.training.TrainConfig.
    """
    from modeling.search import default_kwargs   # search builds its candidates on this module
    from modeling.training import new_model, train

    model_kwargs = {**default_kwargs(SCREEN_MODEL), **(kwargs or {}), "projection_dim": 0}
    quiet = replace(config, progress=False)
    D = train_data.feature_dim
    found: dict[tuple[int, ...], float] = {(): math.nan}   # column set -> the strength that kept it (nan: none)
    for penalty in SCREEN_PENALTIES:
        model = new_model(SCREEN_MODEL, train_data, config.seed, **model_kwargs)
        result = train(model, train_data, val_data, replace(quiet, input_penalty=penalty))
        columns = tuple(np.flatnonzero(input_column_norms(model.input_weights()).cpu().numpy() > 0).tolist())
        found.setdefault(columns, penalty)
        log.info("input screen (%s, group lasso %g): %d of %d inputs kept, validation LL %.4f", SCREEN_MODEL,
                 penalty, len(columns), D, result.best_validation)
    rows: list[dict] = []
    best = None
    for columns, penalty in found.items():
        candidate = InputScreening(np.array(columns, dtype=np.int64), D, penalty, math.nan, rows)
        refit = new_model(SCREEN_MODEL, train_data, config.seed, screening=candidate, screened=True, **model_kwargs)
        candidate.validation_ll = train(refit, train_data, val_data, quiet).best_validation
        rows.append({"columns_kept": len(columns), "penalty": None if math.isnan(penalty) else penalty,
                     "validation_ll": candidate.validation_ll})
        log.info("input screen refit on %d inputs: validation LL %.4f", len(columns), candidate.validation_ll)
        if best is None or candidate.validation_ll > best.validation_ll:
            best = candidate
    log.info("input screen: kept %d of %d inputs (validation LL %.4f)", len(best.columns), D, best.validation_ll)
    return best
