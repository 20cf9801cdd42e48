"""Levenberg-Marquardt for the MAP objective of batched renders: mean smoothed ΔE76 to a target + a prior cost.

The objective of parameter rows theta [M,P] is mean over pixels sqrt(|LAB(theta) - target|^2 + eps)
+ prior_cost(theta), for a render `lab_of` that maps rows [K,P] to LAB images [K,3,h,w] without
gradients. Its Gauss-Newton model (iteratively reweighted least squares: each pixel weighted by
1 / sqrt(|r|^2 + eps)) needs the render's Jacobian, taken by forward differences (one batched
render of every parameter perturbed) and kept up to date between refreshes by Broyden's secant
update; the prior's gradient and Hessian are exact (autograd). The rows are independent problems
solved together, so restarts share every batched render. Used by modeling.slider_fit.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

log = logging.getLogger(__name__)

FD_STEP = 1e-3           # forward-difference step of the Jacobian (in theta: tanh pre-activations, logits)
Rows = Callable[[torch.Tensor], torch.Tensor]   # parameter rows [K,P] -> renders [K,3,h,w] or costs [K]


def _smoothed_delta_e(lab: torch.Tensor, target_lab: torch.Tensor, eps: float) -> torch.Tensor:
    """Mean smoothed ΔE76 [M] of LAB images [M,3,h,w] against target_lab [1,3,h,w]."""
    return torch.sqrt(((lab - target_lab) ** 2).sum(dim=1) + eps).mean(dim=(1, 2))


def _fd_jacobian(theta: torch.Tensor, lab: torch.Tensor, lab_of: Rows, step: float = FD_STEP) -> torch.Tensor:
    """Forward-difference Jacobian [M,P,3N] of the LAB renders lab [M,3,h,w] at rows theta [M,P] (M x P renders)."""
    m, p = theta.shape
    perturbed = (theta[:, None, :] + step * torch.eye(p, dtype=theta.dtype, device=theta.device)).reshape(m * p, p)
    return (lab_of(perturbed).reshape(m, p, *lab.shape[1:]) - lab[:, None]).flatten(2).div_(step)


def _gauss_newton_terms(theta: torch.Tensor, jac: torch.Tensor, residual: torch.Tensor, prior_cost: Rows,
                        eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient [M,P] and Gauss-Newton Hessian [M,P,P] (float64) of the MAP objective at rows theta [M,P].

    The smoothed ΔE's terms sqrt(|r|^2 + eps) of the LAB residuals [M,3,h,w] are linearised with the
    Jacobian jac [M,P,3N] of the render, each pixel weighted by 1 / sqrt(|r|^2 + eps) (iteratively
    reweighted least squares); the prior's gradient and Hessian are exact (autograd).
    """
    m, p = theta.shape
    weight = torch.rsqrt((residual * residual).sum(dim=1) + eps)                          # [M,h,w]
    count = weight[0].numel()
    grad = torch.einsum("mpn,mn->mp", jac, (residual * weight[:, None]).flatten(1)).double() / count
    scaled = jac.reshape(m, p, 3, -1) * weight.sqrt().flatten(1)[:, None, None]
    hessian = (scaled.flatten(2) @ scaled.flatten(2).transpose(1, 2)).double() / count
    with torch.enable_grad():
        t = theta.detach().double().requires_grad_(True)
        cost = prior_cost(t).sum()
        if not cost.requires_grad:   # no prior
            return grad, hessian
        g_prior, = torch.autograd.grad(cost, t, create_graph=True)
        rows = [torch.autograd.grad(g_prior[:, k].sum(), t, retain_graph=True, allow_unused=True)[0]
                if g_prior[:, k].requires_grad else None for k in range(p)]
    rows = [torch.zeros_like(t) if row is None else row for row in rows]
    return grad + g_prior.detach(), hessian + torch.stack(rows, dim=1).detach()


def levenberg_marquardt(theta: torch.Tensor, lab_of: Rows, target_lab: torch.Tensor, prior_cost: Rows,
                        iterations: int, tolerance: float, secant: bool = True,
                        eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise the MAP objective (smoothed ΔE to target_lab [1,3,h,w] + prior) of each row of theta [M,P].

    lab_of: theta rows [K,P] -> LAB renders [K,3,h,w]; prior_cost: theta rows -> [K]. Levenberg-
    Marquardt on `_gauss_newton_terms`: a step is kept where it lowers a row's objective (damping
    / 3), else the damping grows x 5; steps are at most 1 in theta. The render's Jacobian is a
    forward difference at the start and wherever a step gained less than a quarter of what the
    linear model predicted, and is updated from each trial render in between (Broyden's rank-one
    secant update), so a well-predicted step costs one render; `secant` False takes a forward
    difference at every iteration. Stops after `iterations` or when no row improved by more than
    `tolerance` in an iteration. Returns the rows and their objective values [M].
    """
    def objective(lab: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return _smoothed_delta_e(lab, target_lab, eps) + prior_cost(rows)

    lab = lab_of(theta)
    value = objective(lab, theta)
    jac = _fd_jacobian(theta, lab, lab_of)
    damping = torch.full((len(theta),), 1e-3, dtype=torch.float64, device=theta.device)
    for _ in range(iterations):
        grad, hessian = _gauss_newton_terms(theta, jac, lab - target_lab, prior_cost, eps)
        diag = torch.diagonal(hessian, dim1=1, dim2=2).clamp(min=0.0)
        scale = diag + 1e-6 * (1.0 + diag.amax(dim=1, keepdim=True))
        step = -torch.linalg.solve(hessian + torch.diag_embed(damping[:, None] * scale), grad)
        step = step / step.abs().amax(dim=1, keepdim=True).clamp(min=1.0)
        predicted = -(grad * step).sum(dim=1) - 0.5 * torch.einsum("mp,mpq,mq->m", step, hessian, step)
        step = step.to(theta.dtype)
        trial = theta + step
        trial_lab = lab_of(trial)
        trial_value = objective(trial_lab, trial)
        better = trial_value < value
        gain = float((value - trial_value).clamp(min=0.0).max())
        fit_ratio = (value - trial_value).double() / predicted.clamp(min=1e-30)   # actual / predicted decrease
        # secant update J += (dr - J s) s^T / |s|^2 at the current rows
        miss = (trial_lab - lab).flatten(1) - torch.einsum("mpn,mp->mn", jac, step)
        jac += torch.einsum("mn,mp->mpn", miss, step / (step * step).sum(dim=1, keepdim=True).clamp(min=1e-30))
        theta = torch.where(better[:, None], trial, theta)
        lab = torch.where(better[:, None, None, None], trial_lab, lab)
        value = torch.where(better, trial_value, value)
        damping = torch.where(better, damping / 3.0, damping * 5.0).clamp(1e-9, 1e9)
        log.debug("LM at %s px: objective %s, damping %s", tuple(target_lab.shape[-2:]), value.tolist(),
                  damping.tolist())
        if bool(better.any()) and gain < tolerance:
            break
        if not secant or bool((fit_ratio < 0.25).any()):   # the linear model predicted poorly: a fresh Jacobian
            jac = _fd_jacobian(theta, lab, lab_of)
    return theta, value
