"""The CycleGAN paper's training iteration in PyTorch, as the reference implementation
(junyanz/pytorch-CycleGAN-and-pixel2pixel, `cycle_gan_model.py`) runs it, for benchmarks/bench_cyclegan.py.

ResNet-9 generators (ngf 64, reflection padding, InstanceNorm2d without affine, biases), 70x70 PatchGANs
(ndf 64, 3 layers), LSGAN (MSE), cycle L1 x 10, identity L1 x 0.5 x 10, a pool of 50 per D, Adam 2e-4 /
(0.5, 0.999), batch 1, 128x128x3. One iteration: the forward passes, G_A and G_B's step with the Ds frozen,
then D_A's and D_B's step on pooled fakes (each loss x 0.5). Written here from the paper's description and
the reference's architecture; prints one JSON line: iterations/s and peak resident memory.

    /tmp/peers/torch/bin/python benchmarks/peers/torch_cyclegan.py --iters 20 --warmup 3
"""

import argparse
import json
import random
import resource
import time

import torch
from torch import nn


def resnet_generator(c_in=3, c_out=3, ngf=64, blocks=9):
    norm = lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7, bias=True), norm(ngf), nn.ReLU(True)]
    for i in range(2):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1, bias=True), norm(ngf * m * 2), nn.ReLU(True)]

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=True), norm(c), nn.ReLU(True),
                                      nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=True), norm(c))

        def forward(self, x):
            return x + self.body(x)

    layers += [Block(ngf * 4) for _ in range(blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                   norm(ngf * m // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def patchgan(c_in=3, ndf=64, n_layers=3):
    norm = lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    layers = [nn.Conv2d(c_in, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2**n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True), norm(ndf * mult),
                   nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2**n_layers, 8)
    layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True), norm(ndf * mult),
               nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    return nn.Sequential(*layers)


class ImagePool:
    def __init__(self, size=50):
        self.size, self.images = size, []

    def query(self, images):
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                old = self.images[i].clone()
                self.images[i] = image
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--blocks", type=int, default=9)
    a = p.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    g_a, g_b, d_a, d_b = resnet_generator(blocks=a.blocks), resnet_generator(blocks=a.blocks), patchgan(), patchgan()
    opt_g = torch.optim.Adam(list(g_a.parameters()) + list(g_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(), ImagePool()
    mse, l1, lam, idt = nn.MSELoss(), nn.L1Loss(), 10.0, 0.5
    images_a = torch.rand(16, 3, a.size, a.size) * 2 - 1
    images_b = torch.rand(16, 3, a.size, a.size) * 2 - 1

    def gan(pred, real):
        return mse(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def iteration(i):
        real_a, real_b = images_a[i % 16:i % 16 + 1], images_b[(7 * i) % 16:(7 * i) % 16 + 1]
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        for d in (d_a, d_b):
            d.requires_grad_(False)
        opt_g.zero_grad()
        loss_idt = (l1(g_a(real_b), real_b) * lam * idt + l1(g_b(real_a), real_a) * lam * idt)
        loss_g = (gan(d_a(fake_b), True) + gan(d_b(fake_a), True) + l1(rec_a, real_a) * lam
                  + l1(rec_b, real_b) * lam + loss_idt)
        loss_g.backward()
        opt_g.step()
        for d in (d_a, d_b):
            d.requires_grad_(True)
        opt_d.zero_grad()
        for d, real, fake in ((d_a, real_b, pool_b.query(fake_b)), (d_b, real_a, pool_a.query(fake_a))):
            loss_d = (gan(d(real), True) + gan(d(fake.detach()), False)) * 0.5
            loss_d.backward()
        opt_d.step()
        return float(loss_g)

    for i in range(a.warmup):
        iteration(i)
    start = time.perf_counter()
    for i in range(a.iters):
        loss = iteration(a.warmup + i)
    elapsed = time.perf_counter() - start
    print(json.dumps({"impl": "PyTorch eager", "it_per_s": a.iters / elapsed, "threads": torch.get_num_threads(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": loss,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
