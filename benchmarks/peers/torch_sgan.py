"""Salimans et al.'s MNIST semi-supervised GAN recipe, rewritten in PyTorch from the paper's code, as a
reference for `mnist_sgan`: what the published recipe reaches after a given number of iterations here.

    python -m venv /tmp/peers/torch && /tmp/peers/torch/bin/pip install torch numpy   # once
    /tmp/peers/torch/bin/python benchmarks/peers/torch_sgan.py --data /path/to/mnist.npz --iters 6000

The recipe: D a 784-1000-500-250-250-250-10 MLP with Gaussian noise (0.3 on the pixels in [0, 1], 0.5 after
every hidden layer), weight-normalised layers with data-dependent initialisation on 500 training digits
(hidden scales then fixed, the output layer's trained); G 100 uniform noise -> 500 -> 500 softplus with
batch norm -> a weight-normalised sigmoid layer; D's loss the labelled cross-entropy + 0.5 x the
unsupervised logsumexp terms; G's the squared distance of D's mean last-hidden features on a second
unlabelled batch and a fake one; the paper's Adam (lr 3e-3, b1 0.5, m / sqrt(v + 1e-8)); batches of 100
unlabelled digits and all 100 labelled ones, reshuffled; labelled subset: 10 per class after a permutation
by --seed-data. Prints D's test accuracy (no noise, the trained weights) every --eval-every iterations.
Not part of gan_jax; it needs only torch and numpy.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class WeightNormDense(nn.Module):
    """x @ (V / |V|) * scale + b; `init` sets scale and b so that the batch's outputs are standardised."""

    def __init__(self, d_in, d_out, train_scale=False):
        super().__init__()
        self.v = nn.Parameter(torch.randn(d_in, d_out) * 0.05)
        self.b = nn.Parameter(torch.zeros(d_out))
        self.scale = nn.Parameter(torch.ones(d_out), requires_grad=train_scale)

    def forward(self, x, init=False):
        a = x @ (self.v / self.v.norm(dim=0, keepdim=True))
        if init:
            with torch.no_grad():
                m, sd = a.mean(0), a.std(0, unbiased=False) + 1e-8
                self.scale.copy_(1 / sd)
                self.b.copy_(-m / sd)
        return a * self.scale + self.b


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        w = [784, 1000, 500, 250, 250, 250]
        self.hidden = nn.ModuleList([WeightNormDense(a, b) for a, b in zip(w, w[1:])])
        self.out = WeightNormDense(250, 10, train_scale=True)

    def forward(self, x, train=True, init=False):
        x = x + 0.3 * torch.randn_like(x) if train else x
        for layer in self.hidden:
            f = F.relu(layer(x, init))
            x = f + 0.5 * torch.randn_like(f) if train else f
        return self.out(x, init), f  # class logits, last hidden features (before their noise)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(100, 500, bias=False), nn.Linear(500, 500, bias=False)
        self.b1, self.b2 = nn.Parameter(torch.zeros(500)), nn.Parameter(torch.zeros(500))
        self.out = WeightNormDense(500, 784, train_scale=True)

    def forward(self, n):
        h = F.softplus(F.batch_norm(self.l1(torch.rand(n, 100)), None, None, training=True, eps=1e-6) + self.b1)
        h = F.softplus(F.batch_norm(self.l2(h), None, None, training=True, eps=1e-6) + self.b2)
        return torch.sigmoid(self.out(h))


class PaperAdam:
    """Adam as the paper's code has it: p -= lr * m_hat / sqrt(v_hat + 1e-8)."""

    def __init__(self, params, lr=3e-3, b1=0.5, b2=0.999):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.b1, self.b2, self.t = lr, b1, b2, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(self.lr * (m / (1 - self.b1 ** self.t)) / (v / (1 - self.b2 ** self.t) + 1e-8).sqrt())
        for p in self.params:
            p.grad = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="an mnist.npz with x_train, y_train, x_test, y_test")
    ap.add_argument("--iters", type=int, default=6000)
    ap.add_argument("--eval-every", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seed-data", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    rng = np.random.RandomState(a.seed)
    with np.load(a.data) as f:
        x_train = f["x_train"].reshape(-1, 784).astype(np.float32) / 255
        x_test = torch.from_numpy(f["x_test"].reshape(-1, 784).astype(np.float32) / 255)
        y_train, y_test = f["y_train"].astype(np.int64), f["y_test"].astype(np.int64)
    order = np.random.RandomState(a.seed_data).permutation(len(x_train))
    xs, ys = x_train[order], y_train[order]
    x_lab = np.concatenate([xs[ys == k][:10] for k in range(10)])
    y_lab = np.concatenate([ys[ys == k][:10] for k in range(10)])

    d, g = Discriminator(), Generator()
    with torch.no_grad():
        d(torch.from_numpy(x_train[order[:500]]), init=True)
    opt_d, opt_g = PaperAdam(d.parameters()), PaperAdam(g.parameters())
    lse = lambda x: torch.logsumexp(x, 1)  # noqa: E731
    it, start, batches = 0, time.time(), len(x_train) // 100
    while it < a.iters:
        u1, u2 = x_train[rng.permutation(len(x_train))], x_train[rng.permutation(len(x_train))]
        for t in range(batches):
            perm = rng.permutation(100)
            xl, yl = torch.from_numpy(x_lab[perm]), torch.from_numpy(y_lab[perm])
            part = slice(t * 100, (t + 1) * 100)
            out_l, _ = d(xl)
            out_u, _ = d(torch.from_numpy(u1[part]))
            out_f, _ = d(g(100).detach())
            loss_lab = -out_l.gather(1, yl[:, None]).mean() + lse(out_l).mean()
            loss_unl = 0.5 * (F.softplus(-lse(out_u)).mean() + F.softplus(lse(out_f)).mean())
            (loss_lab + loss_unl).backward()
            opt_d.step()
            _, feat_real = d(torch.from_numpy(u2[part]))
            _, feat_fake = d(g(100))
            loss_g = ((feat_fake.mean(0) - feat_real.detach().mean(0)) ** 2).mean()
            loss_g.backward()
            opt_g.step()
            d.zero_grad(set_to_none=True)
            it += 1
            if it % a.eval_every == 0 or it == a.iters:
                with torch.no_grad():
                    acc = float((d(x_test, train=False)[0].argmax(1).numpy() == y_test).mean())
                print(f"iteration {it}: test accuracy {acc:.4f}  loss_lab {loss_lab.item():.3f}  "
                      f"loss_unl {loss_unl.item():.3f}  loss_g {loss_g.item():.4f}  "
                      f"{it / (time.time() - start):.1f} it/s", flush=True)
            if it >= a.iters:
                break


if __name__ == "__main__":
    main()
